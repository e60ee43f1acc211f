"""verify: run the original image and the converted output with the same probe and compare.

One-shot probes compare output and exit code; HTTP probes compare status and body. The original runs in
Docker; `oci` and `km` outputs too (default runtime); `microvm` and `unikraft` (its initrd under Linux) boot
in QEMU; `nanos` and `rumprun` — and every output — are also checked structurally.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from faktory.emitters.convert import load_manifest
from faktory.runner import docker as dk
from faktory.runner.docker import HttpResult, RunResult
from faktory.runner.http import get as http_get
from faktory.runner.outputs import bootable
from faktory.runner.qemu import VM, free_port
from faktory.runner.structure import Check, structural_checks

DOCKER_TARGETS = ("oci", "km")
VM_TARGETS = ("microvm", "unikraft")


@dataclass(frozen=True)
class Probe:
    cmd: tuple[str, ...] | None = None  # replaces Cmd, like `docker run IMAGE CMD…`
    http_port: int | None = None
    http_path: str = "/"
    expect: str | None = None  # substring the output/body must contain

    @classmethod
    def parse_http(cls, text: str) -> "Probe":
        port, _, path = text.partition("/")
        return cls(http_port=int(port), http_path="/" + path)


def normalise(text: str) -> str:
    return "\n".join(l.rstrip() for l in text.replace("\r\n", "\n").strip().splitlines())


def compare_once(name: str, original: RunResult, converted: RunResult, expect: str | None) -> Check:
    a, b = normalise(original.output), normalise(converted.output)
    ok = a == b and original.exit_code == converted.exit_code and (not expect or expect in b)
    detail = "same output and exit code" if ok else _diff(a, b, original.exit_code, converted.exit_code, expect)
    return Check(name, ok, detail, f"exit {original.exit_code}: {_short(a)}", f"exit {converted.exit_code}: {_short(b)}")


def compare_http(name: str, original: HttpResult, converted: HttpResult, expect: str | None) -> Check:
    ok = (original.status is not None and original.status == converted.status and original.body == converted.body
          and (not expect or expect in converted.body))
    detail = "same status and body" if ok else (converted.error or original.error or "status/body differ")
    return Check(name, ok, detail, f"{original.status}: {_short(original.body) or original.error}",
                 f"{converted.status}: {_short(converted.body) or converted.error}")


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _diff(a: str, b: str, ea: int | None, eb: int | None, expect: str | None) -> str:
    if ea != eb:
        return f"exit code {ea} != {eb}"
    if expect and expect not in b:
        return f"{expect!r} not in the converted output"
    for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines())):
        if x != y:
            return f"line {i + 1}: {_short(x, 40)!r} != {_short(y, 40)!r}"
    return "output lengths differ"


def run_original(ref: str, probe: Probe, tag: str, timeout: float) -> RunResult | HttpResult:
    image = dk.ensure_in_daemon(ref, tag)
    if probe.http_port:
        return dk.serve_and_get(image, probe.http_port, probe.http_path, timeout)
    return dk.run_once(image, list(probe.cmd) if probe.cmd else None, timeout)


def _run_original_once(ref: str, probe: Probe, timeout: float) -> RunResult | HttpResult:
    """The original under a tag of this call's own, removed afterwards: verifies running side by side (CLI,
    service workers) never run each other's image."""
    tag = f"faktory-verify/original-{uuid.uuid4().hex[:12]}:latest"
    try:
        return run_original(ref, probe, tag, timeout)
    finally:
        subprocess.run(["docker", "rmi", "--no-prune", tag], capture_output=True, timeout=60)


def run_docker_output(outdir: Path, manifest: dict, probe: Probe, timeout: float) -> RunResult | HttpResult:
    info = manifest["image"]
    dk.load_archive(str(outdir / info["archive"]))
    if probe.http_port:
        return dk.serve_and_get(info["tag"], probe.http_port, probe.http_path, timeout)
    return dk.run_once(info["tag"], list(probe.cmd) if probe.cmd else None, timeout)


def run_vm_output(outdir: Path, probe: Probe, timeout: float) -> RunResult | HttpResult:
    if probe.http_port:
        host = free_port()
        with bootable(outdir, ports=[(host, probe.http_port)]) as spec:
            with VM(spec) as vm:
                result = http_get(f"http://127.0.0.1:{host}{probe.http_path}", time.monotonic() + timeout, vm.running)
                if result.status is None:
                    result = HttpResult(None, "", f"{result.error}; console: {_short(vm.output[-300:], 200)}")
                return result
    with bootable(outdir, args=list(probe.cmd or ())) as spec:
        boot = VM(spec).start().wait(timeout)
    if boot.exit_code is None:  # the VM died or hung: keep the console for the report
        why = "timed out" if boot.timed_out else f"qemu exited {boot.qemu_returncode} without an exit status"
        return RunResult(f"[{why}] {boot.output[-1500:]}", 124 if boot.timed_out else -1)
    return RunResult(boot.app_output, boot.exit_code)


def verify_output(ref: str, outdir: Path, probe: Probe, *, timeout: float = 180, original=None) -> list[Check]:
    """All checks for one converted output; `original` may be passed in to share one run across targets."""
    manifest = load_manifest(outdir)
    target = manifest["target"]
    checks = structural_checks(outdir, manifest)
    if target == "nanos":
        checks.append(_nanos_forbidden(outdir, manifest))
    runnable = target in DOCKER_TARGETS or target in VM_TARGETS
    if runnable:
        if original is None:
            original = _run_original_once(ref, probe, timeout)
        converted = (run_docker_output(outdir, manifest, probe, timeout) if target in DOCKER_TARGETS
                     else run_vm_output(outdir, probe, timeout))
        how = "docker" if target in DOCKER_TARGETS else "qemu"
        if probe.http_port:
            checks.append(compare_http(f"GET :{probe.http_port}{probe.http_path} ({how})", original, converted, probe.expect))
        else:
            shown = " ".join(probe.cmd) if probe.cmd else "default command"
            checks.append(compare_once(f"run {shown} ({how})", original, converted, probe.expect))
    return checks


def _nanos_forbidden(outdir: Path, manifest: dict) -> Check:
    from faktory.emitters.nanos import PROVIDED_BY_NANOS

    sysroot = outdir / manifest["package"]["dir"] / "sysroot"
    present = [p for p in (*PROVIDED_BY_NANOS, "/proc") if (sysroot / p.lstrip("/")).exists() or
               (sysroot / p.lstrip("/")).is_symlink()]
    return Check("no files where Nanos provides its own", not present, ", ".join(present) or "none")
