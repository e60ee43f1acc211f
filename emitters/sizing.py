"""Default guest memory, sized from what the guest holds in RAM: the archive it is handed, the tree unpacked
from it, and the app's own working set, with a margin. `--memory` (run) or the written config overrides it."""

from __future__ import annotations

MIB = 1 << 20
APP_MB = 256  # an interpreter with a web framework imported, its threads and caches
FLOOR_MB = 512  # what every fixture app was measured to boot in


def memory_mb(in_ram: int, *, copies: int = 2, margin: float = 1.25, floor: int = FLOOR_MB) -> int:
    """`in_ram` bytes held `copies` times (initrd + its unpacked ramfs/tmpfs), plus the app, plus a margin,
    rounded up to 64 MiB."""
    need = (copies * in_ram / MIB + APP_MB) * margin
    return max(floor, -(-int(need) // 64) * 64)
