"""`faktory verify`."""

from faktory.errors import NotImplementedYet


def command() -> None:
    raise NotImplementedYet("'faktory verify' is not implemented yet")
