"""`faktory audit`."""

from faktory.errors import NotImplementedYet


def command() -> None:
    raise NotImplementedYet("'faktory audit' is not implemented yet")
