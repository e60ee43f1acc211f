"""The analysis' speed parts keep its answers and its bounds: scans parsed in worker processes, descriptions
told from the first bytes, each ELF read once. Real files, real processes, no timings asserted."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faktory.analyzers import classify
from faktory.analyzers.graphbuild import GraphBuilder
from faktory.analyzers.imports import scan_source
from faktory.analyzers.native import NativeResolver
from faktory.analyzers.prescan import ScanPool
from faktory.analyzers.scancache import ScanCache
from faktory.analyzers.strings import elf_string_names
from tests.oracle.dirfs import DirFileSystem

STDLIB = Path("/root/.pyenv/versions/3.12.1/lib/python3.12")
EXTENSION = STDLIB / "lib-dynload" / "_json.cpython-312-x86_64-linux-gnu.so"


@pytest.fixture
def stdlib() -> Path:
    if not STDLIB.is_dir():
        pytest.fail(f"{STDLIB} (a real CPython stdlib) is part of the build environment")
    return STDLIB


def test_scans_from_the_pool_equal_scans_made_here(stdlib):
    names = ["argparse", "subprocess", "json/decoder", "asyncio/base_events", "email/message"]
    pool = ScanPool(ScanCache(None), workers=2)
    try:
        for name in names:
            pool.prefetch(f"key:{name}", lambda name=name: (stdlib / f"{name}.py").read_bytes())
        assert pool.sent == len(names)
        for name in names:
            assert pool.get(f"key:{name}") == scan_source((stdlib / f"{name}.py").read_bytes()), name
        assert pool.get("key:never-sent") is None
    finally:
        pool.close()
    assert multiprocessing.active_children() == []


def _caught_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigCgt for {pid}")


def test_pool_workers_die_on_sigterm_whatever_the_cli_handles(stdlib):
    """The CLI unwinds on SIGTERM (runner.signals); a worker that inherits that handler raises instead of dying
    when Pool.terminate() signals it, and can leave the task queue's lock held for ever."""
    from faktory.runner.signals import unwind_on_signals

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    unwind_on_signals()
    pool = ScanPool(ScanCache(None), workers=2)
    try:
        pool.prefetch("key:argparse", lambda: (stdlib / "argparse.py").read_bytes())
        assert pool.get("key:argparse") is not None  # the workers ran their initializer
        workers = multiprocessing.active_children()
        assert workers
        for worker in workers:
            caught = _caught_signals(worker.pid)
            assert not caught & (1 << (signal.SIGTERM - 1)) and not caught & (1 << (signal.SIGHUP - 1)), hex(caught)
    finally:
        pool.close()
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGHUP, before[1])
    assert multiprocessing.active_children() == []


def test_the_scan_time_limit_holds_inside_a_worker(monkeypatch):
    monkeypatch.setenv("FAKTORY_MODULE_SCAN_SECONDS", "1")
    slow = b"DATA = [" + b"1," * (3 << 20) + b"]"
    pool = ScanPool(ScanCache(None), workers=2)
    try:
        pool.prefetch("key:slow", lambda: slow)
        scan = pool.get("key:slow")
    finally:
        pool.close()
    assert not scan.parsed and "took over 1 s" in scan.facts[0].detail


def test_one_core_means_no_pool(stdlib):
    pool = ScanPool(ScanCache(None), workers=1)
    pool.prefetch("key:argparse", lambda: (stdlib / "argparse.py").read_bytes())
    assert pool.sent == 0 and pool.get("key:argparse") is None
    assert multiprocessing.active_children() == []


def _pool_in_a_child(source: bytes, out) -> None:
    pool = ScanPool(ScanCache(None), workers=2)
    pool.prefetch("key:argparse", lambda: source)
    out.put((pool.sent, multiprocessing.active_children() == []))


def test_a_child_process_scans_in_process(stdlib):
    """An audit's worker processes already spread images over the cores; a pool nested in one was orphaned on
    Ctrl-C and its workers printed broken-pipe tracebacks."""
    out = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(
        target=_pool_in_a_child, args=((stdlib / "argparse.py").read_bytes(), out))
    child.start()
    sent, no_children = out.get(timeout=60)
    child.join(60)
    assert (sent, no_children) == (0, True)


def _session_members(sid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids += [int(x) for x in task.read_text().split()]
        except OSError:
            pass
    return kids


def _slow_image(tmp_path: Path) -> str:
    """An app importing modules that take the parser seconds each: the analysis waits in its pool a while."""
    from tests.handmade import python_layer
    from tests.imagefab import LayerTar, config_for, write_docker_archive

    app = LayerTar().dir("app")
    names = [f"slow{i}" for i in range(4)]
    app.file("app/main.py", "".join(f"import {n}\n" for n in names).encode())
    for name in names:
        app.file(f"app/{name}.py", b"DATA = [" + b"1," * (3 << 20) + b"]\n")
    layers = [python_layer(tmp_path / "root"), app.bytes()]
    config = config_for(layers, cmd=("python3", "/app/main.py"),
                        env=("PATH=/usr/local/bin:/usr/bin:/bin", "LD_LIBRARY_PATH=/usr/local/lib"))
    return f"docker-archive:{write_docker_archive(tmp_path / 'slow.tar', layers, config=config)}"


def test_ctrl_c_leaves_no_scan_worker(tmp_path):
    env = dict(os.environ, FAKTORY_CACHE_DIR=str(tmp_path / "cache"), FAKTORY_SCAN_WORKERS="2",
               FAKTORY_MODULE_SCAN_SECONDS="120")
    stderr = tmp_path / "stderr"
    with open(stderr, "wb") as err_file:  # a file, not a pipe: a leftover process would hold a pipe open
        # as a terminal starts it: a test run launched in the background (`make test &`) ignores SIGINT, and
        # Python then installs no KeyboardInterrupt handler at all
        proc = subprocess.Popen([sys.executable, "-m", "faktory", "analyze", _slow_image(tmp_path)],
                                env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=err_file,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120

        def parsing() -> bool:  # a worker has forked the bounded parse of a slow module
            return any(_children(worker) for worker in _children(proc.pid))

        while not parsing() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the analysis ended before its workers started"
        assert len(_children(proc.pid)) >= 2
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = stderr.read_bytes()
    assert proc.returncode == 130 and b"interrupted" in err, err[-2000:]
    deadline = time.monotonic() + 2  # exits take a moment; a parse left running would take many seconds
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_members(proc.pid) == []


def test_first_bytes_describe_common_files_without_libmagic(stdlib):
    ext = EXTENSION.read_bytes()[:classify.HEAD]
    assert classify.sniff("/x/_json.so", ext) == "ELF 64-bit LSB shared object, x86-64"
    assert classify.sniff("/usr/bin/tool", b"#!/usr/bin/env python3\nimport sys\n") == \
        "python3 script, text executable"
    assert classify.sniff("/etc/init", b"#!/bin/sh -e\nexec app\n") == "sh script, text executable"
    assert classify.sniff("/a/x.pyc", b"\xcb\r\r\n" + bytes(12) + b"\xe3") == "python byte-compiled"
    assert classify.sniff("/etc/hosts", b"127.0.0.1 localhost\n") == "ASCII text"
    assert classify.sniff("/a/README", "caf\u00e9\n".encode()) == "UTF-8 text"
    assert classify.sniff("/a/font.ttf", bytes(range(256))) is None  # libmagic's to tell
    assert classify.sniff("/a/x.png", b"\x89PNG\r\n\x1a\n" + bytes(20)) is None
    utc = Path("/usr/share/zoneinfo/UTC").read_bytes()
    assert classify.sniff("/usr/share/zoneinfo/UTC", utc) == "timezone data, version 2"
    assert classify.sniff("/x/short", b"TZif2") == "ASCII text"  # shorter than a TZif header: not tzdata


class CountingFS(DirFileSystem):
    """A real directory tree that counts how often each file's bytes are read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: dict[str, int] = {}

    def read_bytes(self, path: str) -> bytes:
        self.reads[path] = self.reads.get(path, 0) + 1
        return super().read_bytes(path)

    def open(self, path: str):
        self.reads[path] = self.reads.get(path, 0) + 1
        return super().open(path)


def test_an_extension_is_read_once_for_its_headers_and_its_strings(stdlib, tmp_path):
    path = "/usr/local/lib/python3.12/lib-dynload/_json.so"
    host = tmp_path / path.lstrip("/")
    host.parent.mkdir(parents=True)
    host.write_bytes(EXTENSION.read_bytes())
    fs = CountingFS(tmp_path)
    native = NativeResolver(GraphBuilder(fs), {})
    native.want_strings(path)
    info = native.keep_elf(path, "entrypoint", "module-file")
    assert info is not None and info.etype == "ET_DYN"
    assert native.strings_of(path) == elf_string_names(EXTENSION.read_bytes())
    assert fs.reads == {path: 1}


def test_layers_fetched_in_parallel_come_back_in_order_and_fail_like_a_loop():
    from faktory.sources.distribution import in_parallel, layer_workers

    assert layer_workers(5) == min(5, len(os.sched_getaffinity(0)))
    assert in_parallel(lambda n: (time.sleep(0.05 * (3 - n)), n * n)[1], [0, 1, 2, 3]) == [0, 1, 4, 9]
    ended: list[int] = []

    def job(n: int) -> int:
        if n == 1:
            raise ValueError("layer 1 is corrupt")
        time.sleep(0.3 if n == 0 else 0)
        ended.append(n)
        return n

    with pytest.raises(ValueError, match="layer 1"):
        in_parallel(job, [0, 1, 2, 3, 4, 5])
    assert 0 in ended  # the layer before the failing one was waited for, as a loop would have
