"""`faktory analyze`."""

from faktory.errors import NotImplementedYet


def command() -> None:
    raise NotImplementedYet("'faktory analyze' is not implemented yet")
