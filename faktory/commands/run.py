"""`faktory run`."""

from faktory.errors import NotImplementedYet


def command() -> None:
    raise NotImplementedYet("'faktory run' is not implemented yet")
