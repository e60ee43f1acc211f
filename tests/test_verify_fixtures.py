"""Every fixture app converted to every target, proven with the real parts: Docker runs the original and the
oci/km outputs, QEMU boots the microvm (and one unikraft initrd), cpio/xorriso/skopeo check the structure.

Conversions are shared: one analysis per app, one output per (app, target), one original run per app.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from faktory.api import analyze, convert, load_image
from faktory.emitters.base import EmitOptions
from faktory.emitters.convert import MANIFEST, blockers, check, read_manifest
from faktory.errors import ConversionBlocked
from faktory.runner.structure import structural_checks
from faktory.runner.verify import Probe, run_original, verify_output
from fixtures import catalog

SPECS = catalog.apps()
RUNNERS = {"oci": "docker", "km": "docker", "microvm": "qemu", "unikraft": "qemu"}
# fixture.yaml `verify: [oci, microvm]`; a `known_gaps` entry for the target makes it a strict xfail
VERIFIED = [pytest.param(name, target, RUNNERS[target], id=f"{name}-{target}-{RUNNERS[target]}",
                         marks=[pytest.mark.xfail(strict=True, reason=spec.gap(target))] if spec.gap(target) else [])
            for name, spec in SPECS.items() for target in spec.verify]
# the team's own fixtures are also checked per target and against km/rumprun's verdicts; corpus apps only run
APPS = [name for name, spec in SPECS.items() if spec.verify and not spec.corpus]
PURE_PYTHON = {name for name, spec in SPECS.items() if spec.pure_python}
STRUCTURAL = ("unikraft", "nanos", "rumprun")
FAKTORY = str(Path(__file__).resolve().parents[1] / ".venv/bin/faktory")
TIMEOUT = 300


class Workspace:
    """Lazily analysed and converted fixtures, kept for the whole session."""

    def __init__(self, images, root: Path) -> None:
        self.images, self.root = images, root
        self.analysed: dict = {}
        self.outputs: dict = {}
        self.originals: dict = {}

    def closure(self, app: str):
        if app not in self.analysed:
            image = load_image(self.images[app].tag)
            self.analysed[app] = (image, analyze(image))
        return self.analysed[app]

    def output(self, app: str, target: str, **options) -> Path:
        key = (app, target, tuple(sorted(options.items())))
        if key not in self.outputs:
            image, closure = self.closure(app)
            out = self.root / f"{app}-{target}-{len(self.outputs)}"
            if options.get("base_ref"):  # km rebases onto an Image the caller loads
                options = {**options, "base": load_image(options["base_ref"])}
            convert(image, closure, target, out, EmitOptions(**options))
            self.outputs[key] = out
        return self.outputs[key]

    def probe(self, app: str) -> Probe:
        p = self.images[app].probe
        if p.http_port:
            return Probe(http_port=p.http_port, http_path=p.http_path, expect=p.expect)
        return Probe(cmd=tuple(p.cmd) if p.cmd else None, expect=p.expect)

    def original(self, app: str):
        if app not in self.originals:
            self.originals[app] = run_original(self.images[app].tag, self.probe(app), self.images[app].tag, TIMEOUT)
        return self.originals[app]


@pytest.fixture(scope="session")
def ws(fixture_images, tmp_path_factory) -> Workspace:
    return Workspace(fixture_images, tmp_path_factory.mktemp("converted"))


def _assert_passed(checks):
    failed = [(c.name, c.detail, c.original, c.converted) for c in checks if not c.passed]
    assert not failed, failed
    assert checks, "no checks ran"


@pytest.mark.slow
@pytest.mark.parametrize("app, target, runner", VERIFIED)
def test_output_behaves_like_the_original(ws, app, target, runner):
    """oci runs under the engine, microvm boots under QEMU: either way the probe must see what the original gives."""
    out = ws.output(app, target)
    checks = verify_output(ws.images[app].tag, out, ws.probe(app), timeout=TIMEOUT, original=ws.original(app))
    _assert_passed(checks)
    assert any(runner in c.name for c in checks)


@pytest.mark.slow
def test_unikraft_initrd_boots_under_linux(ws):
    out = ws.output("pkg-app", "unikraft")
    checks = verify_output(ws.images["pkg-app"].tag, out, ws.probe("pkg-app"), timeout=TIMEOUT,
                           original=ws.original("pkg-app"))
    _assert_passed(checks)


@pytest.mark.parametrize("target", STRUCTURAL)
@pytest.mark.parametrize("app", APPS)
def test_structure_matches_manifest(ws, app, target):
    out = ws.output(app, target, force=True)
    manifest = json.loads((out / MANIFEST).read_text())
    checks = structural_checks(out, manifest)
    _assert_passed(checks)
    assert any(c.name.startswith(("cpio -t", "xorriso", "tree")) for c in checks)
    if target == "nanos":
        sysroot = out / manifest["package"]["dir"] / "sysroot"
        for path in ("dev/null", "dev/urandom", "proc", "sys/devices/system/cpu/online"):
            assert not (sysroot / path).exists()
        # the emitter adds nothing and loses nothing: the sysroot carries the closure's bytes, less the ELF
        # debug sections it strips
        _, closure = ws.closure(app)
        payload = sum(f.stat().st_size for f in sysroot.rglob("*") if f.is_file() and not f.is_symlink())
        expected = closure.size - manifest["debug_stripped"]["bytes_saved"]
        assert abs(payload - expected) <= 0.02 * closure.size, (payload, expected)
        config = json.loads((out / "config.json").read_text())
        assert "Env" in config and config["Program"] == manifest["package"]["program"]
    if target == "unikraft":
        kraftfile = (out / "Kraftfile").read_text()
        assert "spec: v0.6" in kraftfile and "runtime: base:latest" in kraftfile
        _, closure = ws.closure(app)
        if not closure.interpreter.pie:  # Debian's python3: a blocker; --force goes through the loader, padded
            assert manifest["contents"]["rootfs.cpio"][0] == ".faktory-pad"
            assert manifest["kraftfile"]["cmd"][1] == closure.interpreter.real_path
            assert any(f["kind"] == "non-pie" and closure.interpreter.real_path in f["message"]
                       for f in manifest["forced_blockers"])


@pytest.mark.parametrize("app", APPS)
def test_rumprun_is_blocked_for_every_fixture(ws, app):
    _, closure = ws.closure(app)
    kinds = {f.kind for f in blockers(check(closure, "rumprun"))}
    assert "python-version" in kinds
    if app == "numpy":
        assert "c-extension" in kinds


@pytest.mark.parametrize("app", APPS)
def test_km_blocks_glibc_c_extensions_and_passes_pure_python(ws, app):
    _, closure = ws.closure(app)
    findings = check(closure, "km")
    found = blockers(findings)
    if app in PURE_PYTHON:  # the stdlib's own extensions come with the km base
        assert found == []
    elif app == "flask":  # markupsafe's _speedups has a pure-Python fallback: a warning that names it
        assert found == []
        assert any(f.kind == "c-extension" and f.severity == "warning" and "_speedups" in f.message
                   and "falls back to markupsafe._native" in f.message for f in findings), findings
    else:
        assert found and all(f.kind == "c-extension" and f.location.path.endswith(".so") for f in found), found


def test_kraftkit_package_with_kernel(ws, tmp_path):
    out = ws.output("whiteout", "unikraft", kernel=next(Path("/boot").glob("vmlinuz-*")), force=True)
    index = json.loads((out / "package/index.json").read_text())
    assert index["annotations"]["sh.kraftkit.version"]
    desc = index["manifests"][0]
    assert desc["platform"] == {"architecture": "x86_64", "os": "qemu"} and "sh.kraftkit.version" in desc["annotations"]
    blobs = out / "package/blobs/sha256"
    manifest = json.loads((blobs / desc["digest"].split(":")[1]).read_text())
    assert "sh.kraftkit.version" in manifest["annotations"]
    kinds = [next(iter(layer["annotations"])) for layer in manifest["layers"]]
    assert kinds == ["org.unikraft.kernel.image", "org.unikraft.kernel.initrd"]
    checks = structural_checks(out, json.loads((out / MANIFEST).read_text()))
    _assert_passed(checks)
    assert any(c.name == "skopeo inspect package" for c in checks)


@pytest.mark.slow
def test_pkg_app_on_a_matching_base_becomes_a_km_image(ws, km_base_38):
    out = ws.output("pkg-app", "km", base_ref=km_base_38)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["base"]["python"] == "3.8"
    app_layer = manifest["contents"]["app-layer"]
    assert not any(p.endswith(".so") or "libpython" in p for p in app_layer)
    checks = verify_output(ws.images["pkg-app"].tag, out, ws.probe("pkg-app"), timeout=TIMEOUT,
                           original=ws.original("pkg-app"))
    _assert_passed(checks)


@pytest.fixture(scope="session")
def km_base_38(fixture_images):
    """A km runenv stand-in for 3.8, as the runenv-python-3.12 fixture is one for 3.12: python:3.8-slim's layout
    (/usr/local/bin/python3.8 + stdlib) with the label that declares its interpreter."""
    tag = "faktory-test/runenv-python-3.8:latest"
    dockerfile = (f"FROM {fixture_images['py3.8-slim'].tag}\n"
                  "LABEL org.faktory.km-base.python=/usr/local/bin/python3.8\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=dockerfile, text=True, check=True,
                   capture_output=True, timeout=300)
    return tag


def test_km_base_without_python_km_is_refused_before_the_analysis(fixture_images, tmp_path):
    """An ordinary python:slim image is no km runenv: one line, exit 2, nothing written, and no analysis (the
    answer comes from validate, which never sees a closure)."""
    from faktory.emitters.convert import validate
    from faktory.emitters.km import BaseImageNeeded

    image = load_image(fixture_images["pkg-app"].tag)
    base = load_image(fixture_images["py3.8-slim"].tag)
    with pytest.raises(BaseImageNeeded, match="no python.km-style interpreter"):
        validate(image, "km", EmitOptions(base_ref=base.ref, base=base))
    with pytest.raises(BaseImageNeeded, match="needs --base"):
        validate(image, "km", EmitOptions())
    proc = subprocess.run([FAKTORY, "convert", fixture_images["pkg-app"].tag, "--to", "km", "--base",
                           fixture_images["py3.8-slim"].tag, "-o", str(tmp_path / "km")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "python.km" in proc.stderr and not (tmp_path / "km").exists()


def test_km_refuses_a_base_with_another_python(ws, fixture_images, tmp_path):
    image, closure = ws.closure("pkg-app")
    base = load_image(fixture_images["runenv-python-3.12"].tag)
    with pytest.raises(ConversionBlocked, match="Python 3.8.*Python 3.12"):
        convert(image, closure, "km", tmp_path / "km", EmitOptions(base_ref=base.ref, base=base))
    assert not (tmp_path / "km").exists()


@pytest.mark.slow
def test_compact_microvm_is_small_and_still_behaves(ws):
    """--compact: stripped ELF, sourceless bytecode from a host CPython of the image's X.Y, gzip'd initrd."""
    out = ws.output("pkg-app", "microvm", compact=True)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["compact"]["stripped_elf_files"] > 0 and manifest["compact"]["compiled_modules"] > 0
    image, _ = ws.closure("pkg-app")
    assert manifest["files"]["initrd.cpio"] * 8 <= image.size
    checks = verify_output(ws.images["pkg-app"].tag, out, ws.probe("pkg-app"), timeout=TIMEOUT,
                           original=ws.original("pkg-app"))
    _assert_passed(checks)


@pytest.mark.slow
@pytest.mark.parametrize("app", ["flask", "pygments-debian"])
def test_compact_oci_is_never_larger_and_still_behaves(ws, app):
    """Weighed as it ships (a gzip'd layer): the Debian image's stdlib has current `__pycache__`, flask's
    python:slim-style one has none, so there the deflated source mostly stays."""
    plain = read_manifest(ws.output(app, "oci"))
    out = ws.output(app, "oci", compact=True)
    small = read_manifest(out)
    assert small.image.compressed_size <= plain.image.compressed_size
    assert small.raw["uncompressed_layer_size"] <= plain.raw["uncompressed_layer_size"]
    _assert_passed(verify_output(ws.images[app].tag, out, ws.probe(app), timeout=TIMEOUT,
                                 original=ws.original(app)))


def test_push_oci_image_and_kraftkit_package_to_the_registry(ws, services):
    from faktory.commands.convert import push

    out = ws.output("whiteout", "oci")
    doc = json.loads((out / MANIFEST).read_text())
    dest = f"{services.registry}/faktory-test/whiteout:oci"
    push(out, read_manifest(out).image, dest)
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{dest}"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(raw)["layers"][0]["digest"] == json.loads(
        (out / "image/blobs/sha256" / doc["image"]["manifest_digest"].split(":")[1]).read_text())["layers"][0]["digest"]

    package = ws.output("whiteout", "unikraft", kernel=next(Path("/boot").glob("vmlinuz-*")), force=True)
    dest = f"{services.registry}/faktory-test/whiteout:unikraft"
    push(package, read_manifest(package).image, dest)
    index = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{dest}"],
                                      capture_output=True, text=True, check=True).stdout)
    assert index["annotations"]["sh.kraftkit.version"]
    assert index["manifests"][0]["platform"]["os"] == "qemu"


@pytest.mark.parametrize("target", ["unikraft", "nanos"])
def test_a_gunicorn_server_is_refused_by_the_single_process_runtimes(ws, target):
    """gunicorn's arbiter forks its workers whatever the app does (a hook's start_facts): the fork blocks the
    targets with no fork, with gunicorn and the hook named, instead of an output that never serves."""
    _, closure = ws.closure("django")
    found = [f for f in blockers(check(closure, target)) if f.kind == "fork"]
    assert found and any("gunicorn, as it serves" in f.message for f in found), check(closure, target)
    _, flask = ws.closure("flask")  # a server that does not fork is not blocked for it
    assert not [f for f in blockers(check(flask, target)) if f.kind == "fork"]
