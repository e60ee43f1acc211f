"""Limits on what one input may cost: layer size and compression ratio, the layer cache's size, the module scan.

Each is an environment variable (sizes take `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`); 0 turns a
limit off. The defaults are far above real images and far below what fills a disk or hangs a conversion.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import select
import signal
import threading
import time
from dataclasses import dataclass

from faktory.errors import FaktoryError

GiB = 1 << 30
MiB = 1 << 20


class LimitError(FaktoryError):
    """A limit's own setting cannot be read."""


class LimitExceeded(FaktoryError):
    """An input goes past a limit (a gzip bomb, a full cache): refused, nothing kept."""


class ScanTimeout(Exception):
    pass


@dataclass(frozen=True)
class Limits:
    # The largest layers of real images (CUDA, PyTorch) are 3-8 GiB uncompressed.
    max_layer_bytes: int = 16 * GiB
    # Layer tars gzip 2-10x, text-heavy ones ~30x; gzip itself tops out near 1000x (runs of zeros).
    max_layer_ratio: float = 200.0
    ratio_floor: int = 64 * MiB  # a small layer of empty files may inflate a lot: ratio counts only past this
    cache_quota_bytes: int = 200 * GiB  # all cached layers together
    cache_min_free_bytes: int = 1 * GiB  # never take the cache's filesystem below this
    # The biggest generated modules of PyPI packages (emoji's data_dict, *_pb2, tensorflow's gen_*_ops) are 1-3 MB.
    max_module_bytes: int = 8 * MiB
    module_seconds: float = 10.0


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str, what: str) -> int:
    m = _SIZE.fullmatch(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise LimitError(f"{what}={text!r} is not a size (e.g. 16GiB, 500MB, 1048576)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LimitError(f"{what}={text!r} is not a number") from None
    if value < 0:
        raise LimitError(f"{what}={text!r} must not be negative")
    return value


_ENV = (("FAKTORY_MAX_LAYER_SIZE", "max_layer_bytes", parse_size),
        ("FAKTORY_MAX_LAYER_RATIO", "max_layer_ratio", _number),
        ("FAKTORY_CACHE_QUOTA", "cache_quota_bytes", parse_size),
        ("FAKTORY_CACHE_MIN_FREE", "cache_min_free_bytes", parse_size),
        ("FAKTORY_MAX_MODULE_SIZE", "max_module_bytes", parse_size),
        ("FAKTORY_MODULE_SCAN_SECONDS", "module_seconds", _number))


def limits() -> Limits:
    """The limits in force: the defaults, overridden by the environment."""
    given = {}
    for var, name, parse in _ENV:
        text = os.environ.get(var)
        if text:
            given[name] = parse(text, var)
    return Limits(**given) if given else _DEFAULT


_DEFAULT = Limits()


def _die_with(parent: int) -> None:
    """Have the kernel kill this child when its parent dies (a scan worker terminated on Ctrl-C), so no
    parse outlives the analysis."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def run_bounded(fn, arg, seconds: float):
    """fn(arg) in a forked child that is killed after `seconds`: C code such as the parser cannot be
    interrupted in-process. The result comes back pickled; ScanTimeout when the child is too slow, the child's
    exception re-raised when it fails."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running any cleanup of the parent's
        os.close(read_fd)
        _die_with(parent)
        try:
            try:
                payload = pickle.dumps((True, fn(arg)))
            except BaseException as exc:  # noqa: BLE001 - sent back to the parent
                payload = pickle.dumps((False, exc))
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks, deadline = [], time.monotonic() + seconds
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([pipe], [], [], left)[0]:
                    raise ScanTimeout()
                data = os.read(pipe.fileno(), 1 << 20)
                if not data:
                    break
                chunks.append(data)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    ok, value = pickle.loads(b"".join(chunks)) if chunks else (False, ScanTimeout())
    if not ok:
        raise value
    return value


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise ScanTimeout in the block after `seconds` of wall time. Only the main thread gets signals, and
    only when no other timer is set: elsewhere the block runs unbounded (the size limit still holds)."""
    usable = seconds > 0 and threading.current_thread() is threading.main_thread() and \
        signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    if not usable:
        yield
        return

    def expired(signum, frame):
        raise ScanTimeout()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
