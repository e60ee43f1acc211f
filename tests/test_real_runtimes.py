"""Fixture outputs booted in the real runtimes: opt-in (`pytest -m runtime_kernel`), never part of make test.

Every fixture app with a probe, for both runtimes. What each one must do is decided from its analysis, not
listed here: an app the target's check blocks (a non-PIE interpreter for unikraft, gunicorn's fork for both)
must be refused with each blocker's reason named; every other app must boot and give the original's output.

FAKTORY_ELFLOADER: a Unikraft app-elfloader kernel configured like the catalog's `base` runtime.
FAKTORY_NANOS: an OPS release dir or a Nanos build tree (kernel.img, boot.img, mkfs).
A missing variable fails the test: opting in without the kernel is a mistake, not a skip.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from faktory.api import analyze, convert, load_image
from faktory.emitters.convert import blockers, check
from faktory.emitters.unikraft import EMPTY_ARG_WHY, EmptyArgument, empty_arguments
from faktory.errors import ConversionBlocked
from faktory.runner.verify import Probe, run_original, verify_output
from fixtures.catalog import apps

SPECS = apps()
APPS = tuple(name for name, spec in SPECS.items() if spec.probe.cmd or spec.probe.http_port)
_closures: dict[str, tuple] = {}


def _kernel(var: str) -> Path:
    value = os.environ.get(var)
    assert value and Path(value).exists(), f"set {var} to run the runtime_kernel tests"
    return Path(value)


def _probe(fx) -> Probe:
    p = fx.probe
    if p.http_port:
        return Probe(http_port=p.http_port, http_path=p.http_path, expect=p.expect)
    return Probe(cmd=tuple(p.cmd) if p.cmd else None, expect=p.expect)


def _analysed(fixture_images, app: str):
    """(image, closure) once per app for both targets: the analysis is the slow part of a refusal."""
    if app not in _closures:
        image = load_image(fixture_images[app].tag)
        _closures[app] = (image, analyze(image))
    return _closures[app]


def _boots_or_is_refused(request, fixture_images, tmp_path, app: str, target: str, runner: str, **how) -> None:
    fx = fixture_images[app]
    image, closure = _analysed(fixture_images, app)
    blocking = blockers(check(closure, target))
    if target == "unikraft" and not closure.interpreter.pie:
        assert any(f.kind == "non-pie" for f in blocking), "a non-PIE interpreter must block unikraft"
    if blocking:
        with pytest.raises(ConversionBlocked) as refused:
            convert(image, closure, target, tmp_path / target)
        for f in blocking:
            assert f.message in str(refused.value)
        assert not (tmp_path / target).exists()
        print(f"{app} {target}: refused: {refused.value}")
        return
    convert(image, closure, target, tmp_path / target)
    if target == "unikraft" and empty_arguments(fx.probe.cmd or ()):  # the kernel's parser would drop it
        with pytest.raises(EmptyArgument, match=EMPTY_ARG_WHY):
            verify_output(fx.tag, tmp_path / target, _probe(fx), timeout=300, **how)
        print(f"{app} {target}: run refused: {EMPTY_ARG_WHY}")
        return
    gap = SPECS[app].gap(target) or SPECS[app].gap("oci")
    if gap:  # the closure misses what the app needs: every output of it fails alike, whatever the runtime
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=f"analyzer gap: {gap}"))
    original = run_original(fx.tag, _probe(fx), fx.tag, timeout=900)  # a daemon tag: run as it is
    start = time.monotonic()  # the boot table's wall time: the output's run alone (Nanos: with its mkfs)
    # the ELF loader never powers off, so a crashed app is only seen at the timeout: a known gap gets less
    checks = verify_output(fx.tag, tmp_path / target, _probe(fx), timeout=90 if gap else 300, original=original,
                           **how)
    failed = [(c.name, c.detail, c.converted) for c in checks if not c.passed]
    print(f"{app} {target}: {'boots' if not failed else f'fails {failed}'} ({time.monotonic() - start:.1f} s)")
    assert not failed and any(runner in c.name for c in checks), failed


@pytest.mark.runtime_kernel
@pytest.mark.parametrize("app", APPS)
def test_unikraft_output_boots_in_the_elf_loader_or_is_refused(request, fixture_images, tmp_path, app):
    _boots_or_is_refused(request, fixture_images, tmp_path, app, "unikraft", "elfloader",
                         kernel=_kernel("FAKTORY_ELFLOADER"))


@pytest.mark.runtime_kernel
@pytest.mark.parametrize("app", APPS)
def test_nanos_output_boots_in_nanos_or_is_refused(request, fixture_images, tmp_path, app):
    _boots_or_is_refused(request, fixture_images, tmp_path, app, "nanos", "nanos", nanos_dir=_kernel("FAKTORY_NANOS"))
