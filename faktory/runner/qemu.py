"""Boot a Linux kernel + initrd under QEMU with the serial console on a pipe and user-mode networking.

The microvm init prints `faktory-init: exit status N` and powers off; `-no-reboot` turns a panic into a QEMU
exit. KVM is used when the host can create a VM and a vCPU, otherwise TCG.
"""

from __future__ import annotations

import codecs
import fcntl
import functools
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from faktory.errors import FaktoryError

EXIT_RE = re.compile(r"faktory-init: exit status (\d+)")
KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CREATE_VCPU = 0xAE00, 0xAE01, 0xAE41


class QemuUnavailable(FaktoryError):
    pass


@functools.lru_cache(maxsize=1)
def kvm_usable() -> bool:
    """/dev/kvm can create a VM and vCPU *and* QEMU survives bringing a vCPU up (some hosts fail on MSRs)."""
    if os.environ.get("FAKTORY_ACCEL") in ("tcg", "kvm"):
        return os.environ["FAKTORY_ACCEL"] == "kvm"
    return _kvm_ioctls_work() and _qemu_kvm_starts()


def _qemu_kvm_starts() -> bool:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        return False
    try:
        proc = subprocess.run([qemu, "-accel", "kvm", "-cpu", "host", "-nodefaults", "-display", "none", "-S",
                               "-monitor", "none", "-serial", "none"], capture_output=True, timeout=1.5)
    except subprocess.TimeoutExpired:
        return True  # still running, paused: the vCPU came up
    return proc.returncode == 0


def _kvm_ioctls_work() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION) != 12:
            return False
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        try:
            os.close(fcntl.ioctl(vm, KVM_CREATE_VCPU, 0))
        finally:
            os.close(vm)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class BootSpec:
    kernel: Path
    initrd: Path
    append: str = ""
    memory_mb: int = 512
    ports: tuple[tuple[int, int], ...] = ()  # (host, guest) tcp forwards on 127.0.0.1
    accel: str | None = None  # "kvm" | "tcg"; None = detect

    def argv(self) -> list[str]:
        qemu = shutil.which("qemu-system-x86_64")
        if qemu is None:
            raise QemuUnavailable("qemu-system-x86_64 not found (install qemu-system-x86)")
        accel = self.accel or ("kvm" if kvm_usable() else "tcg")
        nic = "user,model=e1000" + "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in self.ports)
        cpu = "host" if accel == "kvm" else "max"
        return [qemu, "-accel", accel, "-cpu", cpu, "-m", f"{self.memory_mb}M", "-smp", "1",
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-serial", "stdio", "-monitor", "none", "-nic", nic,
                "-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", self.append]


@dataclass
class BootResult:
    output: str
    exit_code: int | None  # the app's, from the init; None when the VM never said
    timed_out: bool = False
    qemu_returncode: int | None = None

    @property
    def app_output(self) -> str:
        """Console text without the init's own lines and kernel noise."""
        lines = [l for l in self.output.splitlines() if not l.startswith("faktory-init:") and not _KMSG.match(l)]
        return "\n".join(lines).strip("\n")


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
                                      stderr=subprocess.STDOUT, start_new_session=True)
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

    def wait(self, timeout: float) -> BootResult:
        assert self._proc
        timed_out = False
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        return self.stop(timed_out=timed_out)

    def stop(self, timed_out: bool = False) -> BootResult:
        assert self._proc
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._reader:
            self._reader.join(timeout=5)
        match = EXIT_RE.search(self.output)
        return BootResult(self.output, int(match.group(1)) if match else None, timed_out, self._proc.returncode)

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
