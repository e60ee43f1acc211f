"""Scratch dirs a killed process left behind are swept by the next one; a live process's, another host's and
other prefixes' are left alone. Real processes, a real SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

from faktory.scratch import own_dir, scratch, sweep_dead


def _child_making_scratch(root) -> subprocess.Popen:
    """A process that makes a `boot-` scratch dir, says where, and waits to be killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from faktory.scratch import scratch
        with scratch(Path({str(root)!r}), "boot-") as tmp:
            (tmp / "initrd.cpio").write_bytes(b"x" * 4096)
            print(tmp, flush=True)
            time.sleep(600)
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_a_killed_process_scratch_dir_is_swept_by_the_next_one(tmp_path):
    child = _child_making_scratch(tmp_path)
    left = tmp_path / os.path.basename(child.stdout.readline().strip())
    assert left.is_dir()
    with scratch(tmp_path, "boot-"):
        assert left.is_dir(), "swept while its process still runs"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert left.is_dir()  # SIGKILL ran no cleanup
    with scratch(tmp_path, "boot-") as mine:
        assert not left.exists()
        assert mine.is_dir() and mine.name.startswith(f"boot-{socket.gethostname()}-{os.getpid()}-")
    assert not mine.exists()


def test_only_dead_processes_dirs_of_this_host_and_prefix_go(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    stale = tmp_path / f"boot-{host}-{dead.pid}-abc"
    keep = [tmp_path / f"verify-{host}-{dead.pid}-abc", tmp_path / f"boot-elsewhere-{dead.pid}-abc",
            tmp_path / f"boot-{host}-{os.getpid()}-abc", tmp_path / "boot-x1y2z3", tmp_path / f"boot-{host}-notapid"]
    for d in (stale, *keep):
        d.mkdir()
    assert sweep_dead(tmp_path, "boot-") == 1
    assert not stale.exists() and all(d.exists() for d in keep)
    assert own_dir(tmp_path, "verify-") == tmp_path / f"verify-{host}-{os.getpid()}"
    assert not keep[0].exists()
