"""The oracle: what a fixture app really touches (strace in its own image root) ⊆ the static closure.

For each fixture app: the image's filesystem comes from `docker export`; the probe runs in that root under
strace (bubblewrap: own /dev, /proc, /tmp and network namespace); every regular file of the image that a
successful open/exec/stat/readlink/access named must be in the closure (100 %, no allow-list; a file of a PATH
directory that was only stat'ed, never opened or run, is a program lookup, not a need); the closure
stays within 1.5x the bytes of that dynamic set; and the closure alone, written out from image.fs, runs the
same probe with the same output.
"""

from __future__ import annotations

import contextlib

import pytest

from faktory.analyzers.analysis import analyze
from faktory.sources import open_image
from fixtures import catalog
from tests.support.ci import TRACE_TOOLS, require_tools
from tests.oracle import check, rootfs, trace


def _apps(kind: str) -> list:
    """Fixtures whose fixture.yaml says `oracle: [kind, …]`; a `known_gaps` entry for kind is a strict xfail."""
    return [pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=spec.gap(kind))] if spec.gap(kind) else [])
            for name, spec in catalog.apps().items() if kind in spec.oracle]


ONESHOT_APPS = _apps("oneshot")
HTTP_APPS = _apps("http")
SIZE_FACTOR = 1.5


@pytest.fixture(scope="module", autouse=True)
def tools():
    require_tools(*TRACE_TOOLS, purpose="by the oracle")


@pytest.fixture(scope="module")
def exported():
    """Roots from `docker export`, in dirs the sandbox's uid can reach (pytest's tmp dirs are root's alone)."""
    roots = {}
    with contextlib.ExitStack() as stack:
        def get(fixture):
            if fixture.name not in roots:
                home = stack.enter_context(trace.private_dir(prefix=f"oracle-root-{fixture.name}-"))
                roots[fixture.name] = rootfs.export_image(fixture.tag, home / "root")
            return roots[fixture.name]

        yield get


@pytest.fixture
def sandbox_tmp():
    with trace.private_dir(prefix="oracle-") as path:
        yield path


def _assert_recall_and_size(image, closure, traced, label, log, argv, env, workdir, root):
    paths = check.without_program_lookups(traced.paths, log.read_text(errors="replace"), argv[0], workdir or "/",
                                          str(root), env, image.fs)
    dynamic = check.dynamic_files(image.fs, paths)
    assert dynamic, f"{label}: the traced run touched no image file (strace output not parsed?)"
    kept = check.closure_files(closure)
    missing = sorted(set(dynamic) - kept)
    assert not missing, f"{label}: files the app touched are missing from the closure: {missing}"
    # The size bound's touched set: what recall demands, and what the run only looked up that the closure ships
    # all the same (not demanded, but touched)
    looked_up = {p: size for p, size in check.dynamic_files(image.fs, traced.paths).items() if p in kept}
    dynamic_bytes = sum({**looked_up, **dynamic}.values())
    assert closure.size <= SIZE_FACTOR * dynamic_bytes, (
        f"{label}: closure {closure.size} B > {SIZE_FACTOR} x dynamic set {dynamic_bytes} B")


@pytest.mark.slow
@pytest.mark.parametrize("app", ONESHOT_APPS)
def test_oneshot_probe_is_covered_by_the_closure(app, fixture_images, exported, tmp_path, sandbox_tmp):
    fixture = fixture_images[app]
    assert fixture.probe.cmd, f"{app} fixture lost its one-shot probe"
    image = open_image(fixture.tag)
    root = exported(fixture)
    cfg = image.config
    argv = list(cfg.entrypoint or ()) + list(fixture.probe.cmd)
    closure = analyze(check.with_cmd(image, tuple(fixture.probe.cmd)))

    traced = trace.run_traced(root, argv, cfg.env_map, cfg.working_dir, tmp_path / "strace.log")
    assert traced.returncode == 0, f"{app}: probe failed in the exported root: {traced.stderr[-2000:]}"
    assert fixture.probe.expect in traced.stdout
    _assert_recall_and_size(image, closure, traced, app, tmp_path / "strace.log", argv, cfg.env_map, cfg.working_dir,
                            root)

    alone = sandbox_tmp / "closure"
    rootfs.materialise(image.fs, closure.paths(), alone)
    # a shell line that runs more than the app (`server & app; md5sum out`) runs whole, as oci and microvm run it
    launch = closure.launch
    shell = bool(launch.shell_argv)
    ran = trace.run_plain(alone, argv if shell else list(launch.argv), dict(launch.env),
                          cfg.working_dir if shell else launch.workdir)
    assert ran.returncode == 0, f"{app}: the closure alone fails: {ran.stderr[-2000:]}"
    assert ran.stdout == traced.stdout


@pytest.mark.slow
@pytest.mark.parametrize("app", HTTP_APPS)
def test_http_probe_is_covered_by_the_closure(app, fixture_images, exported, tmp_path, sandbox_tmp):
    fixture = fixture_images[app]
    probe = fixture.probe
    assert probe.http_port, f"{app} fixture lost its HTTP probe"
    image = open_image(fixture.tag)
    root = exported(fixture)
    cfg = image.config
    closure = analyze(image)

    traced = trace.serve_and_get(root, list(cfg.argv), cfg.env_map, cfg.working_dir, probe.http_port,
                                 probe.http_path, tmp_path / "strace.log")
    assert probe.expect in traced.stdout, f"{app}: no answer from the original root: {traced.stderr[-2000:]}"
    _assert_recall_and_size(image, closure, traced, f"{app} (http)", tmp_path / "strace.log", list(cfg.argv),
                            cfg.env_map, cfg.working_dir, root)

    alone = sandbox_tmp / "closure"
    rootfs.materialise(image.fs, closure.paths(), alone)
    # a server started by a shell line (`cp -r store /tmp/store && exec server`) starts as the original does
    launch = closure.launch
    shell = bool(launch.shell_argv)
    served = trace.serve_and_get(alone, list(cfg.argv) if shell else list(launch.argv), dict(launch.env),
                                 cfg.working_dir if shell else launch.workdir, probe.http_port, probe.http_path, None)
    assert served.stdout == traced.stdout, f"{app}: the closure alone answers differently: {served.stderr[-2000:]}"
