"""`faktory convert`."""

from faktory.errors import NotImplementedYet


def command() -> None:
    raise NotImplementedYet("'faktory convert' is not implemented yet")
