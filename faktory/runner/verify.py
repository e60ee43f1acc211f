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

from faktory.emitters.base import RUN_DOCKER, RUN_NANOS
from faktory.emitters.convert import capabilities
from faktory.emitters.manifest import OutputManifest, read_manifest
from faktory.errors import FaktoryError
from faktory.runner import docker as dk
from faktory.runner.docker import HttpResult, RunResult
from faktory.runner.http import get as http_get
from faktory.runner.nanos import find_nanos
from faktory.runner.outputs import bootable, run_mode
from faktory.runner.qemu import VM, accelerator, free_port
from faktory.runner.structure import Check, structural_checks



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
    # exit None: a runtime that cannot report it (the ELF loader never powers off): the output decides
    same_exit = converted.exit_code is None or original.exit_code == converted.exit_code
    ok = a == b and same_exit and (not expect or expect in b)
    same = "same output and exit code" if converted.exit_code is not None else "same output (no exit code from this runtime)"
    detail = same if ok else _diff(a, b, original.exit_code, converted.exit_code, expect)
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


def run_docker_output(outdir: Path, manifest: OutputManifest, probe: Probe, timeout: float) -> RunResult | HttpResult:
    info = manifest.image
    assert info is not None and info.archive
    dk.load_archive(str(outdir / info.archive))
    if probe.http_port:
        return dk.serve_and_get(info.tag, probe.http_port, probe.http_path, timeout)
    return dk.run_once(info.tag, list(probe.cmd) if probe.cmd else None, timeout)


@dataclass(frozen=True)
class VmRun:
    """What the VM runner is given beyond the output: kernels, and the text that ends a run that never exits."""

    kernel: Path | None = None
    nanos: Path | None = None
    until: str | None = None


def unexplained(boot) -> str:
    tail, why = boot.post_mortem()
    return f"[{why}] " + " | ".join(tail)[-1500:]


def run_vm_output(outdir: Path, probe: Probe, timeout: float, how: VmRun = VmRun()) -> RunResult | HttpResult:
    if probe.http_port:
        host = free_port()
        with bootable(outdir, ports=[(host, probe.http_port)], kernel=how.kernel, nanos_dir=how.nanos) as spec:
            with VM(spec) as vm:
                result = http_get(f"http://127.0.0.1:{host}{probe.http_path}", time.monotonic() + timeout, vm.running)
                if result.status is None:
                    result = HttpResult(None, "", f"{result.error}; console: {_short(vm.output[-300:], 200)}")
                return result
    with bootable(outdir, args=list(probe.cmd or ()), kernel=how.kernel, nanos_dir=how.nanos,
                  until=how.until) as spec:
        boot = VM(spec).start().wait(timeout)
    if boot.seen:  # a runtime that never powers off: the awaited output was seen, its exit status is unknown
        return RunResult(boot.app_output, None)
    if boot.exit_code is None:  # the VM died or hung: keep the kernel's last lines and the cause for the report
        return RunResult(unexplained(boot), dk.TIMED_OUT if boot.timed_out else -1)
    return RunResult(boot.app_output, boot.exit_code)


def _awaited(original, probe: Probe) -> str | None:
    if probe.expect:
        return probe.expect
    lines = [l for l in getattr(original, "output", "").strip().splitlines() if l.strip()]
    return lines[-1].strip() if lines else None


def how_it_runs(manifest: OutputManifest, kernel: Path | None, nanos_dir: Path | None) -> str | None:
    """RUN_DOCKER, a VM mode, or None when this host cannot run the output (it is checked structurally)."""
    modes = capabilities(manifest.target).run
    if RUN_DOCKER in modes:
        return RUN_DOCKER
    try:
        return run_mode(manifest, kernel, nanos_dir)
    except FaktoryError:
        return None


def verify_output(ref: str, outdir: Path, probe: Probe, *, timeout: float = 180, original=None,
                  kernel: Path | None = None, nanos_dir: Path | None = None) -> list[Check]:
    """All checks for one converted output; `original` may be passed in to share one run across targets."""
    manifest = read_manifest(outdir)
    checks = structural_checks(outdir, manifest)
    provided = capabilities(manifest.target).provided_paths
    if provided:
        checks.append(_runtime_provided(outdir, manifest, provided))
    mode = how_it_runs(manifest, kernel, nanos_dir)
    if mode == RUN_NANOS:
        try:
            find_nanos(nanos_dir)
        except FaktoryError:
            mode = None  # no Nanos on this host: structure only
    if mode is not None:
        if original is None:
            original = _run_original_once(ref, probe, timeout)
        if mode == RUN_DOCKER:
            converted = run_docker_output(outdir, manifest, probe, timeout)
            how = "docker"
        else:
            converted = run_vm_output(outdir, probe, timeout, VmRun(kernel, nanos_dir, _awaited(original, probe)))
            how = f"qemu {mode} {accelerator()}"
        if probe.http_port:
            checks.append(compare_http(f"GET :{probe.http_port}{probe.http_path} ({how})", original, converted, probe.expect))
        else:
            shown = " ".join(probe.cmd) if probe.cmd else "default command"
            checks.append(compare_once(f"run {shown} ({how})", original, converted, probe.expect))
    return checks


def _runtime_provided(outdir: Path, manifest: OutputManifest, provided: tuple[str, ...]) -> Check:
    present = []
    for tree in (k for k in manifest.contents if (outdir / k).is_dir()):
        root = outdir / tree
        present += [p for p in provided if (root / p.lstrip("/")).exists() or (root / p.lstrip("/")).is_symlink()]
    return Check(f"no files where {manifest.target.capitalize()} provides its own", not present, ", ".join(present) or "none")
