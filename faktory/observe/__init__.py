"""Observation (opt-in): run the ORIGINAL image's app in a sandbox under strace and list the image files it touched.

This is the one place where faktory executes code from an image, and only when asked (`--observe`). The image's
merged filesystem is written into a private temp dir (bounded, removed afterwards) and entered with bubblewrap
read-only: own /dev, /proc, tmpfs /tmp, a network namespace holding only loopback, no capabilities, killed with
its parent. The oracle tests use the same code.
"""

from faktory.observe.run import Observation, observe, require_tools

__all__ = ["Observation", "observe", "require_tools"]
