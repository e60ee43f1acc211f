"""`faktory inspect`."""

from faktory.errors import NotImplementedYet


def command() -> None:
    raise NotImplementedYet("'faktory inspect' is not implemented yet")
