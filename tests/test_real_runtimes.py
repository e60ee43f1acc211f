"""Fixture outputs booted in the real runtimes: opt-in (`pytest -m runtime_kernel`), never part of make test.

FAKTORY_ELFLOADER: a Unikraft app-elfloader kernel configured like the catalog's `base` runtime.
FAKTORY_NANOS: an OPS release dir or a Nanos build tree (kernel.img, boot.img, mkfs).
A missing variable fails the test: opting in without the kernel is a mistake, not a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faktory.api import analyze, convert, load_image
from faktory.runner.verify import Probe, verify_output

PIE_APPS = ("flask", "fastapi", "numpy", "pkg-app", "multistage")
ALL_APPS = PIE_APPS + ("requests-cli", "whiteout")
# django is served by gunicorn, whose arbiter forks its workers: both single-process runtimes refuse it
# (tests/test_verify_fixtures.py checks the blocker in make test)


def _kernel(var: str) -> Path:
    value = os.environ.get(var)
    assert value and Path(value).exists(), f"set {var} to run the runtime_kernel tests"
    return Path(value)


def _probe(fx) -> Probe:
    p = fx.probe
    if p.http_port:
        return Probe(http_port=p.http_port, http_path=p.http_path, expect=p.expect)
    return Probe(cmd=tuple(p.cmd) if p.cmd else None, expect=p.expect)


def _boots(fixture_images, tmp_path, app: str, target: str, runner: str, **how) -> None:
    fx = fixture_images[app]
    image = load_image(fx.tag)
    convert(image, analyze(image), target, tmp_path / target)
    checks = verify_output(fx.tag, tmp_path / target, _probe(fx), timeout=600, **how)
    failed = [(c.name, c.detail) for c in checks if not c.passed]
    assert not failed and any(runner in c.name for c in checks), failed


@pytest.mark.runtime_kernel
@pytest.mark.parametrize("app", PIE_APPS)
def test_unikraft_output_boots_in_the_elf_loader(fixture_images, tmp_path, app):
    _boots(fixture_images, tmp_path, app, "unikraft", "elfloader", kernel=_kernel("FAKTORY_ELFLOADER"))


@pytest.mark.runtime_kernel
@pytest.mark.parametrize("app", ALL_APPS)
def test_nanos_output_boots_in_nanos(fixture_images, tmp_path, app):
    _boots(fixture_images, tmp_path, app, "nanos", "nanos", nanos_dir=_kernel("FAKTORY_NANOS"))
