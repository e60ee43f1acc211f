"""Errors a user can cause. The CLI prints them as one line and exits 2; anything else is a bug."""


class FaktoryError(Exception):
    """Base of every user-facing error: bad reference, bad image, unreachable daemon or registry."""

    exit_code = 2


class ReferenceError_(FaktoryError):
    """The image reference cannot be parsed or names nothing."""


class ImageNotFound(FaktoryError):
    pass


class SourceUnavailable(FaktoryError):
    """The daemon, registry or file the reference points at cannot be reached."""


class AuthError(FaktoryError):
    pass


class InvalidImage(FaktoryError):
    """Manifest, config or layer content is malformed, truncated or fails its digest."""


class DigestMismatch(InvalidImage):
    pass


class UnsafePath(InvalidImage):
    """A layer entry tries to escape the image root (tar slip, hardlink outside the layer set)."""


class SymlinkLoop(FaktoryError):
    pass


class ConversionBlocked(FaktoryError):
    """`check` found blockers for the target and --force was not given."""


class NotImplementedYet(FaktoryError):
    pass
