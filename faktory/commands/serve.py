"""`faktory serve`."""

from faktory.errors import NotImplementedYet


def command() -> None:
    raise NotImplementedYet("'faktory serve' is not implemented yet")
