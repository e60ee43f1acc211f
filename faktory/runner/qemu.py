"""Boot a kernel under QEMU with the app's serial console on a pipe and user-mode networking.

How the app's end is known depends on the runtime (BootSpec.exit): faktory's Linux init prints
`faktory-init: exit status N` and powers off; Nanos exits QEMU through isa-debug-exit with the status; a
Unikraft ELF loader never powers off, so the runner stops it once the awaited output is seen. Linux's own log
goes to a second serial port kept in a file: when a VM ends without the app's exit status, its last lines and a
one-line cause are reported.

KVM is used only when a tiny guest actually runs under it (some hosts create KVM VMs and vCPUs that never
execute); the answer is cached per host. FAKTORY_ACCEL=tcg|kvm overrides. QEMU dies with its runner
(PR_SET_PDEATHSIG), and a runner stopped by a signal stops its VM first.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from faktory.errors import FaktoryError

EXIT_RE = re.compile(r"faktory-init: exit status (\d+)")
PR_SET_PDEATHSIG = 1
PROBE_DEADLINE = 4.0  # seconds a KVM guest gets to say it runs (it takes ~0.1 s where KVM works)
LINUX_DEADLINE = 6.0  # a kernel under working KVM prints `Linux version` well within a second
PROBE_STATUS = 0x2A  # what the probe guest writes to isa-debug-exit: QEMU exits (0x2A << 1) | 1
EXIT_INIT, EXIT_DEBUG_PORT, EXIT_NONE = "init", "debug-exit", "none"


class QemuUnavailable(FaktoryError):
    pass


def qemu_binary() -> str:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise QemuUnavailable("qemu-system-x86_64 not found (install qemu-system-x86)")
    return qemu


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def probe_firmware() -> bytes:
    """A 64 KiB "BIOS" whose reset vector writes PROBE_STATUS to isa-debug-exit (port 0xf4) and halts: real
    guest code, so a KVM that creates vCPUs but never runs them is caught."""
    code = bytes([0xB0, PROBE_STATUS, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])  # mov al,0x2a; out 0xf4,al; hlt; jmp $-1
    rom = bytearray(0x10000)
    rom[0xFFF0:0xFFF0 + len(code)] = code
    return bytes(rom)


def guest_runs(accel: str, deadline: float = PROBE_DEADLINE) -> bool:
    """True when the probe guest reaches isa-debug-exit under `accel` within the deadline."""
    try:
        qemu = qemu_binary()
    except QemuUnavailable:
        return False
    with tempfile.TemporaryDirectory(prefix="faktory-accel-") as tmp:
        rom = Path(tmp) / "probe.rom"
        rom.write_bytes(probe_firmware())
        cpu = "host" if accel == "kvm" else "max"
        argv = [qemu, "-accel", accel, "-cpu", cpu, "-machine", "pc", "-m", "16M", "-nodefaults", "-no-user-config",
                "-display", "none", "-monitor", "none", "-serial", "none", "-bios", str(rom),
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=deadline, preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == (PROBE_STATUS << 1) | 1


def linux_starts(accel: str, kernel: Path, deadline: float = LINUX_DEADLINE) -> bool:
    """True when a Linux kernel gets as far as `Linux version` (long mode, its own page tables) under `accel`:
    a KVM that runs real-mode code can still fail there ("Invalid physical address chosen!", then silence)."""
    cpu = "host" if accel == "kvm" else "max"
    argv = [qemu_binary(), "-accel", accel, "-cpu", cpu, "-m", "128M", "-nodefaults", "-no-user-config",
            "-display", "none", "-monitor", "none", "-no-reboot", "-serial", "stdio", "-kernel", str(kernel),
            "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=_die_with_parent)
    assert proc.stdout is not None
    seen, end = b"", time.monotonic() + deadline
    try:
        while time.monotonic() < end and b"Linux version" not in seen:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
    finally:
        proc.kill()
        proc.wait()
    return b"Linux version" in seen


def kvm_runs_guests() -> bool:
    """The tiny guest reaches isa-debug-exit, and a Linux kernel (when the host has one) starts."""
    if not os.path.exists("/dev/kvm") or not guest_runs("kvm"):
        return False
    try:
        from faktory.emitters.vminit import default_kernel

        kernel = default_kernel()
    except FaktoryError:
        return True
    return linux_starts("kvm", kernel)


def _host_key() -> str:
    try:
        qemu = qemu_binary()
        stamp = f"{qemu}:{os.stat(qemu).st_mtime_ns}"
    except (QemuUnavailable, OSError):
        stamp = "no-qemu"
    kvm = os.path.exists("/dev/kvm")
    return f"{socket.gethostname()}|{os.uname().release}|{stamp}|kvm={kvm}"


def _accel_cache() -> Path:
    from faktory.emitters.vminit import cache_dir

    return cache_dir() / "accel.json"


_chosen: dict[str, str] = {}


def accelerator() -> str:
    """"kvm" when a guest runs under KVM on this host, else "tcg"; FAKTORY_ACCEL=tcg|kvm wins."""
    forced = os.environ.get("FAKTORY_ACCEL")
    if forced in ("tcg", "kvm"):
        return forced
    key = _host_key()
    if key in _chosen:
        return _chosen[key]
    cache = _accel_cache()
    try:
        doc = json.loads(cache.read_text())
        if doc.get("host") == key and doc.get("accel") in ("kvm", "tcg"):
            _chosen[key] = doc["accel"]
            return doc["accel"]
    except (OSError, ValueError, AttributeError):
        pass
    accel = "kvm" if kvm_runs_guests() else "tcg"
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"host": key, "accel": accel, "probed": time.time()}))
    os.replace(tmp, cache)
    _chosen[key] = accel
    return accel


def kvm_usable() -> bool:
    return accelerator() == "kvm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class BootSpec:
    kernel: Path | None  # None: the machine boots from its disk (Nanos)
    initrd: Path | None = None
    append: str = ""
    memory_mb: int = 512
    ports: tuple[tuple[int, int], ...] = ()  # (host, guest) tcp forwards on 127.0.0.1
    accel: str | None = None  # "kvm" | "tcg"; None = detect
    nic_model: str = "e1000"  # a Unikraft or Nanos guest drives virtio-net
    machine: str | None = None  # Nanos wants q35
    devices: tuple[str, ...] = ()  # more QEMU arguments (a disk, virtio-rng, isa-debug-exit)
    exit: str = EXIT_INIT  # how the app's exit status is known: EXIT_INIT | EXIT_DEBUG_PORT | EXIT_NONE
    until: str | None = None  # EXIT_NONE: stop once this text is on the console
    kernel_log: Path | None = None  # a second serial port for the kernel's log (Linux: console=ttyS1)
    banner: str | None = None  # the unikernel's own boot lines end with this one; the app's output follows

    @property
    def accelerator(self) -> str:
        return self.accel or accelerator()

    def argv(self) -> list[str]:
        qemu = qemu_binary()
        accel = self.accelerator
        fwd = "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in self.ports)
        cpu = "host" if accel == "kvm" else "max"
        out = [qemu, "-accel", accel, "-cpu", cpu, "-m", f"{self.memory_mb}M", "-smp", "1",
               "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-monitor", "none",
               "-serial", "stdio"]
        if self.kernel_log is not None:
            out += ["-serial", f"file:{self.kernel_log}"]
        if self.machine:
            out += ["-machine", self.machine]
        if self.nic_model == "e1000":
            out += ["-nic", "user,model=e1000" + fwd]
        else:
            out += ["-netdev", "user,id=n0" + fwd, "-device", f"{self.nic_model},netdev=n0"]
        if self.kernel is not None:
            out += ["-kernel", str(self.kernel)]
        if self.initrd is not None:
            out += ["-initrd", str(self.initrd)]
        if self.append:
            out += ["-append", self.append]
        return out + list(self.devices)


@dataclass
class BootResult:
    output: str
    exit_code: int | None  # the app's; None when the VM never said (or the runtime cannot)
    timed_out: bool = False
    qemu_returncode: int | None = None
    kernel_log: str = ""
    seen: bool = False  # EXIT_NONE: the awaited text appeared
    banner: str | None = None

    @property
    def app_output(self) -> str:
        """Console text without the init's own lines, kernel noise and the unikernel's boot lines."""
        lines = self.output.splitlines()
        if self.banner:
            at = next((i for i, l in enumerate(lines) if l.startswith(self.banner)), None)
            lines = lines[at + 1:] if at is not None else lines
        lines = [l for l in lines if not l.startswith("faktory-init:") and not _KMSG.match(l)]
        return "\n".join(lines).strip("\n")

    def post_mortem(self, lines: int = 12) -> tuple[list[str], str]:
        """The kernel's (or unikernel's) last lines and a one-line cause, for a VM that ended unexplained."""
        text = self.kernel_log or self.output
        tail = [l for l in text.splitlines() if l.strip()][-lines:]
        return tail, cause(text, self)


CAUSES = (
    (re.compile(r"Out of memory|oom-kill|Killed process|Initramfs unpacking failed|deadlocked on memory|"
                r"not enough memory|out of memory|-ENOMEM", re.I), "out of memory (give the VM more with --memory)"),
    (re.compile(r"Assertion failure: .*"), None),
    (re.compile(r"Kernel panic - not syncing: .*"), None),
    (re.compile(r"(ERR|CRIT): \[[^\]]+\] .*"), None),
    (re.compile(r"(Failed to execute|No such file or directory).*"), None),
)


def cause(text: str, result: BootResult) -> str:
    for pattern, said in CAUSES:
        found = list(pattern.finditer(text))
        if found:
            return said or found[-1].group(0).strip()[:200]
    if result.timed_out:
        return "timed out with no exit status"
    return f"QEMU exited {result.qemu_returncode} without the app's exit status"


_KMSG = re.compile(r"^\[\s*\d+\.\d+\]")


def console_text(chunks: Iterable[bytes]) -> Iterator[str]:
    """Serial console bytes as text, CR/LF folded. Decoded incrementally: a UTF-8 character split across two
    reads must not turn into two replacement characters."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for raw in chunks:
        yield decoder.decode(raw).replace("\r\n", "\n").replace("\r", "")
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


@dataclass
class VM:
    """A running QEMU. Output is collected by a thread; `stop()` kills QEMU if the app has not ended."""

    spec: BootSpec
    echo: bool = False
    _proc: subprocess.Popen | None = None
    _chunks: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None
    _pending: str = ""

    def start(self) -> "VM":
        self._proc = subprocess.Popen(self.spec.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc and self._proc.stdout
        for text in console_text(iter(lambda: self._proc.stdout.read1(4096), b"")):  # type: ignore[union-attr]
            self._chunks.append(text)
            if self.echo:
                self._echo(text)

    def _echo(self, text: str) -> None:
        """Console lines to stdout as they complete, kernel log lines left out."""
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        shown = [l for l in lines if not _KMSG.match(l)]
        if shown:
            os.write(1, ("\n".join(shown) + "\n").encode())

    @property
    def output(self) -> str:
        return "".join(self._chunks)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float | None) -> BootResult:
        """Until QEMU ends, the awaited text is seen (a runtime that never powers off), or the timeout; any
        exception (a signal turned into SystemExit, Ctrl-C) stops QEMU before it goes on."""
        assert self._proc
        timed_out = seen = False
        end = None if timeout is None else time.monotonic() + timeout
        try:
            while self._proc.poll() is None:
                if self.spec.until is not None and self.spec.until in self.output:
                    seen = True
                    time.sleep(1.0)  # the rest of the line, and whatever follows at once
                    break
                if end is not None and time.monotonic() >= end:
                    timed_out = True
                    break
                try:
                    self._proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
        except BaseException:
            self.stop()
            raise
        return self.stop(timed_out=timed_out, seen=seen)

    def stop(self, timed_out: bool = False, seen: bool = False) -> BootResult:
        assert self._proc
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._reader:
            self._reader.join(timeout=5)
        rc = self._proc.returncode
        if self.spec.exit == EXIT_DEBUG_PORT:
            code = rc >> 1 if rc is not None and rc > 0 and rc & 1 else None
        elif self.spec.exit == EXIT_INIT:
            match = EXIT_RE.search(self.output)
            code = int(match.group(1)) if match else None
        else:
            code = None
        log = ""
        if self.spec.kernel_log is not None:
            try:
                log = self.spec.kernel_log.read_text(errors="replace")
            except OSError:
                pass
        return BootResult(self.output, code, timed_out, rc, log, seen, self.spec.banner)

    def __enter__(self) -> "VM":
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self.stop()


def boot(spec: BootSpec, timeout: float, echo: bool = False) -> BootResult:
    return VM(spec, echo=echo).start().wait(timeout)


def wait_for_port(vm: VM, port: int, deadline: float) -> bool:
    """True once something accepts on 127.0.0.1:port *and* answers; QEMU's hostfwd accepts before the guest does."""
    while time.monotonic() < deadline and vm.running():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
                s.settimeout(3)
                if s.recv(1):
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False
