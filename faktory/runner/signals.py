"""A runner stopped by SIGTERM or SIGHUP (timeout(1), a CI time limit, a closed terminal) unwinds like Ctrl-C
does, so every `with VM`/`finally` stops its QEMU and removes its temp files. (QEMU also dies with its parent
through PR_SET_PDEATHSIG, for a kill -9.)"""

from __future__ import annotations

import signal
import threading


class Stopped(SystemExit):
    pass


def _raise(signum, frame) -> None:
    raise Stopped(128 + signum)


def unwind_on_signals() -> None:
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _raise)
