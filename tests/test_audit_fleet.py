"""`faktory audit` over the real fixture images: from the engine, from the local registry, cached, rendered.

One audit run (module fixture) serves every assertion. What the images contain is checked against independent
oracles: the fixture definitions (pinned requirements, bases) and `importlib.metadata` run inside the real
container by the real engine.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from faktory.audit.inputs import refs_from_daemon
from faktory.audit.registry import RegistryLister, RegistrySpec, refs_from_registry
from tests.support.ci import unavailable

CODE_REVISION = f"test-{os.getpid()}"
APPS_FROM_REGISTRY = ("flask", "debian-python")  # also audited through the distribution API
ORACLE_PROGRAM = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted({(d.metadata['Name'], d.version) for d in m.distributions() if d.metadata['Name']})))"
)




def faktory(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    # One pinned code revision for the whole module: the cache is tested here, not the churn of the source tree.
    env = dict(os.environ if env is None else env, FAKTORY_AUDIT_CODE_REVISION=CODE_REVISION)
    return subprocess.run([sys.executable, "-m", "faktory", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


class Fleet:
    def __init__(self, report: dict, names: dict[str, str], registry_names: dict[str, str], outdir: Path, output: str):
        self.report = report
        self.by_ref = {row["ref"]: row for row in report["images"]}
        self.names = names  # fixture name -> daemon ref
        self.registry_names = registry_names  # fixture name -> docker:// ref
        self.outdir = outdir
        self.output = output  # the command's stdout + stderr (terminal table, messages)

    def row(self, name: str) -> dict:
        return self.by_ref[self.names[name]]

    def registry_row(self, name: str) -> dict:
        return self.by_ref[self.registry_names[name]]


NO_PYTHON_TAG = f"faktory-audit-test/no-python:{os.getpid()}"  # per session: parallel suites must not share it


@pytest.fixture(scope="module")
def no_python_image(tmp_path_factory):
    """An image with no interpreter at all: it loads, but there is nothing to analyse."""
    context = tmp_path_factory.mktemp("no-python")
    (context / "hello.txt").write_text("hello\n")
    (context / "Dockerfile").write_text('FROM scratch\nCOPY hello.txt /srv/hello.txt\nCMD ["/srv/run"]\n')
    subprocess.run(["docker", "build", "-q", "-t", NO_PYTHON_TAG, str(context)], check=True, capture_output=True)
    yield NO_PYTHON_TAG
    subprocess.run(["docker", "rmi", "-f", NO_PYTHON_TAG], capture_output=True)


@pytest.fixture(scope="module")
def fleet(fixture_images, services, no_python_image, tmp_path_factory) -> Fleet:
    outdir = tmp_path_factory.mktemp("audit")
    names = {name: fixture_images[name].tag for name in fixture_images}
    registry_refs = {}
    for name in APPS_FROM_REGISTRY:
        if name in names:
            host_repo = fixture_images[name].registry_ref.rsplit(":", 1)[0]
            registry_refs[name] = refs_from_registry(host_repo)[0]
    refs_file = outdir / "refs.txt"
    refs_file.write_text("# the fleet\n" + "\n".join(names.values()) + "\n")
    args = [
        "audit", "--file", str(refs_file), *registry_refs.values(), f"docker-archive:{outdir}/missing.tar",
        no_python_image,
        "--jobs", "2", "--cache-dir", str(outdir / "cache"), "--json", str(outdir / "audit.json"),
        "--csv", str(outdir / "audit.csv"), "--html", str(outdir / "audit.html"), "--sbom", str(outdir / "sbom"),
    ]
    done = faktory(*args)
    assert done.returncode == 0, done.stderr
    report = json.loads((outdir / "audit.json").read_text())
    return Fleet(report, names, registry_refs, outdir, done.stdout + done.stderr)


def _oracle_distributions(tag: str) -> set[tuple[str, str]]:
    done = subprocess.run(
        ["docker", "run", "--rm", "--network=none", "--entrypoint", "python3", tag, "-c", ORACLE_PROGRAM],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return {tuple(item) for item in json.loads(done.stdout)}


# ---------------------------------------------------------------------------------------------- rows


def test_every_fixture_is_one_row_and_a_broken_ref_is_an_error_row(fleet, fixture_images):
    report = fleet.report
    assert fleet.names["flask"] in fleet.output and "rumprun" in fleet.output  # the terminal table
    assert report["schema_version"] == "1.0" and report["complete"] is True
    expected = len(fleet.names) + len(fleet.registry_names) + 2
    assert report["requested"] == expected and len(report["images"]) == expected
    missing = [r for r in report["images"] if r["ref"].endswith("missing.tar")]
    assert missing[0]["status"] == "error" and "missing.tar" in missing[0]["error"]
    no_python = fleet.by_ref[NO_PYTHON_TAG]  # loads, cannot be analysed: a partial row with why
    assert no_python["status"] == "partial" and "/srv/run" in no_python["error"]
    assert no_python["image_size"] > 0 and no_python["distributions"] == [] and no_python["targets"] == {}
    for name in fleet.names:
        row = fleet.row(name)
        assert row["status"] == "ok", (name, row["error"])
        assert row["digest"].startswith("sha256:") and row["image_size"] > row["closure"]["size"] > 0
        assert row["interpreter"]["version"].startswith(fixture_images[name].python_version + "."), name
        assert set(row["targets"]) == {"unikraft", "km", "rumprun", "nanos", "microvm", "oci"}
        assert all(v["convertible"] is not None for v in row["targets"].values()), name


def test_slim_bases_are_source_built_cpython_in_usr_local(fleet, fixture_images):
    bases = [n for n in fleet.names if n.startswith("py3.") and n.endswith("-slim")]
    assert bases, "no python:3.X-slim-like fixture base was built"
    for name in bases:
        interp = fleet.row(name)["interpreter"]
        minor = fixture_images[name].python_version
        assert interp["real_path"] == f"/usr/local/bin/python{minor}", name
        assert interp["libpython"] == f"/usr/local/lib/libpython{minor}.so.1.0"
        assert (interp["libc"], interp["provided_by"]) == ("glibc", None)


def test_debian_python_is_found_as_debians_python311(fleet, fixture_images):
    fixture_images["debian-python"]
    row = fleet.row("debian-python")
    interp = row["interpreter"]
    assert interp["real_path"] == "/usr/bin/python3.11"
    assert interp["version"].startswith("3.11.")
    assert interp["provided_by"].startswith("deb:python3.11-minimal@3.11.")
    assert interp["pie"] is False and interp["libpython"] is None  # Debian links libpython statically
    debs = {p["name"] for p in row["system_packages"]}
    assert {"python3", "python3-yaml", "libc6"} <= debs
    assert "PyYAML" in {p["name"] for p in row["distributions"]}


def test_flask_packages_match_the_pins_and_the_running_container(fleet, fixture_images):
    image = fixture_images["flask"]
    row = fleet.row("flask")
    found = {(p["name"], p["version"]) for p in row["distributions"]}
    assert ("Flask", "3.0.3") in found  # fixtures/apps/flask/requirements.txt pins flask==3.0.3
    assert {"Werkzeug", "Jinja2", "MarkupSafe", "itsdangerous", "click", "blinker"} <= {n for n, _ in found}
    assert _oracle_distributions(image.tag) <= found
    ext = [e for e in row["c_extensions"] if e["distribution"] == "MarkupSafe"]
    assert ext and ext[0]["path"].endswith(".so") and "libc.so.6" in ext[0]["needed"]
    assert row["targets"]["rumprun"]["convertible"] is False  # Python 3.12 is not rumprun's 3.5
    rumprun = row["targets"]["rumprun"]
    assert "python-version" in {b["kind"] for b in rumprun["blockers"]}
    # markupsafe's _speedups has a pure-Python fallback: a warning that names it, not a blocker
    speedups = [w for w in rumprun["warnings"] if w["kind"] == "c-extension" and "_speedups" in w["message"]]
    assert speedups and "markupsafe._native" in speedups[0]["message"], rumprun["warnings"]
    assert row["entrypoint"]["argv"] and row["entrypoint"]["script"]


@pytest.mark.parametrize("name", ["requests-cli", "pkg-app", "fastapi", "numpy", "multistage", "whiteout"])
def test_app_packages_match_what_the_container_reports(fleet, fixture_images, name):
    image = fixture_images[name]
    found = {(p["name"], p["version"]) for p in fleet.row(name)["distributions"]}
    assert _oracle_distributions(image.tag) <= found


def test_numpy_has_c_extensions_with_vendored_libraries_and_fails_rumprun(fleet, fixture_images):
    fixture_images["numpy"]
    row = fleet.row("numpy")
    numpy_exts = [e for e in row["c_extensions"] if e["distribution"] == "numpy"]
    assert len(numpy_exts) >= 5
    assert any("openblas" in lib for lib in row["native_libraries"]), row["native_libraries"]
    rumprun = row["targets"]["rumprun"]
    assert rumprun["convertible"] is False
    c_ext = [b for b in rumprun["blockers"] if b["kind"] == "c-extension"]
    assert c_ext and any("numpy" in (b["location"] or b["message"]) for b in c_ext)


def test_fastapi_flags_worker_and_subprocess_use(fleet, fixture_images):
    fixture_images["fastapi"]
    row = fleet.row("fastapi")
    kinds = {f["kind"] for f in row["findings"]}
    for verdict in row["targets"].values():
        kinds |= {i["kind"] for i in verdict["blockers"] + verdict["warnings"]}
    assert kinds & {"subprocess", "fork", "multiprocessing", "workers", "exec", "threads"}, kinds
    assert {"uvicorn", "fastapi"} <= {p["name"].lower() for p in row["distributions"]}


def test_whiteout_image_counts_deleted_files_as_wasted(fleet, fixture_images):
    fixture_images["whiteout"]
    # fixtures/apps/whiteout/Dockerfile: on top of debian-python, a later layer deletes legacy.py, cache.tmp,
    # plugins/xml.py and replaces /etc/report/config.yaml (opaque dir); those bytes are what it wastes.
    deleted = ['raise ImportError("legacy must be gone")\n', "stale cache\n", 'NAME = "xml"\n',
               "version: v1\nformat: xml\n"]
    extra = fleet.row("whiteout")["wasted_bytes"] - fleet.row("debian-python")["wasted_bytes"]
    assert extra == sum(len(text) for text in deleted)


def test_registry_rows_agree_with_the_engine_rows(fleet):
    assert fleet.registry_names, "no app fixture pushed to the registry"
    for name, ref in fleet.registry_names.items():
        assert ref.startswith("docker://127.0.0.1:")
        via_registry, via_engine = fleet.registry_row(name), fleet.row(name)
        assert via_registry["status"] == "ok", via_registry["error"]
        for key in ("distributions", "interpreter", "c_extensions"):
            assert via_registry[key] == via_engine[key], (name, key)
        for target, verdict in via_engine["targets"].items():
            assert via_registry["targets"][target]["convertible"] == verdict["convertible"], (name, target)


# ------------------------------------------------------------------------------- inputs and cache


def test_daemon_and_registry_listings_find_the_fixtures(fleet, services):
    assert set(fleet.names.values()) <= set(refs_from_daemon())
    catalog = refs_from_registry(services.registry)
    assert f"docker://{services.registry}/fixtures/flask:latest" in catalog
    # Pages of two repositories: the Link header is followed through the whole catalog. Other suites may push
    # while this runs, so compare on the fixture repositories, which only grow.
    whole = RegistryLister(RegistrySpec.parse(services.registry)).repositories()
    paged = RegistryLister(RegistrySpec.parse(services.registry), page=2).repositories()
    assert len(paged) > 2 and len(paged) == len(set(paged))
    assert {r for r in whole if r.startswith("fixtures/")} <= set(paged)
    args = ("audit", "--registry", f"{services.auth_registry}/fixtures/flask", "--quiet", "--json", "-",
            "--cache-dir", str(fleet.outdir / "cache"))
    anonymous = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_REGISTRY_")}
    anonymous["DOCKER_CONFIG"] = str(fleet.outdir / "no-docker-config")
    refused = faktory(*args, env=anonymous)
    assert refused.returncode == 2 and "credentials" in refused.stderr  # one line, exit 2, no traceback
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    login = dict(anonymous, FAKTORY_REGISTRY_USER=services.registry_user,
                 FAKTORY_REGISTRY_PASSWORD=services.registry_password)
    authed = faktory(*args, env=login)
    assert authed.returncode == 0, authed.stderr
    [row] = json.loads(authed.stdout)["images"]
    assert row["ref"] == f"docker://{services.auth_registry}/fixtures/flask:latest"
    assert row["status"] == "ok" and row["distributions"] == fleet.row("flask")["distributions"]


def test_warm_rerun_serves_every_image_from_the_digest_cache(fleet):
    refs = [r["ref"] for r in fleet.report["images"] if r["status"] != "error"]
    again = faktory("audit", *refs, "--quiet", "--json", "-", "--cache-dir", str(fleet.outdir / "cache"))
    assert again.returncode == 0, again.stderr
    rows = json.loads(again.stdout)["images"]
    assert [r["ref"] for r in rows] == refs
    assert all(r["cached"] for r in rows), [r["ref"] for r in rows if not r["cached"]]
    first = {r["ref"]: r for r in fleet.report["images"]}
    for row in rows:
        assert row["targets"] == first[row["ref"]]["targets"]


def test_csv_and_sboms_cover_the_fleet(fleet):
    with open(fleet.outdir / "audit.csv", newline="") as fh:
        rows = list(csv.reader(fh))  # a quoted field may hold a newline (black's Cmd has one)
    assert len(rows) == 1 + len(fleet.report["images"])
    flask_row = next(row for row in rows if row[0] == fleet.names["flask"])
    assert "Flask==3.0.3" in ",".join(flask_row)
    sboms = list((fleet.outdir / "sbom").glob("*.cdx.json"))
    assert len(sboms) == sum(1 for r in fleet.report["images"] if r["status"] != "error")  # partial rows too
    doc = json.loads(next(p for p in sboms if "flask" in p.name).read_text())
    assert "pkg:pypi/flask@3.0.3" in {c.get("purl") for c in doc["components"]}


# --------------------------------------------------------------------------------------------- html


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    unavailable("chromium is not installed (the setup script installs Debian's chromium)")


def _chromium_args(tmp: Path) -> list[str]:
    return [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
    ]


def _distinct_pixels_bytes(png: bytes) -> int:
    """How many distinct byte values the decoded image data holds: a blank page has one or two."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat = 8, b""
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        kind = png[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))


def test_html_report_renders_in_headless_chromium_with_its_charts(fleet, tmp_path):
    html = fleet.outdir / "audit.html"
    screenshot = tmp_path / "audit.png"
    shot = subprocess.run(
        _chromium_args(tmp_path) + [f"--screenshot={screenshot}", "--window-size=1280,2000", html.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert screenshot.exists(), shot.stderr
    assert screenshot.stat().st_size > 20_000 and _distinct_pixels_bytes(screenshot.read_bytes()) > 50
    dom = subprocess.run(
        _chromium_args(tmp_path) + ["--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 3
    assert dom.count('class="bar"') >= len(fleet.names)
    assert fleet.names["flask"] in dom and "Blockers by kind" in dom
    shutil.copy(screenshot, fleet.outdir / "audit.png")  # kept with the report for a human look


def test_ctrl_c_leaves_a_valid_partial_report(fleet, tmp_path):
    """A real SIGINT to the running command: workers stop, the report holds what was finished, exit 130."""
    refs = list(fleet.names.values())
    # Two rows are already cached, the rest are not: the command is interrupted once its workers run.
    cache = tmp_path / "cache"
    shutil.copytree(fleet.outdir / "cache", cache)
    keep = {f"daemon-{image_id.replace(':', '-')}.json" for image_id in _image_ids(refs[:2])}
    for entry in cache.rglob("*.json"):
        if entry.name not in keep:
            entry.unlink()
    assert len(list(cache.rglob("*.json"))) == 2
    out = tmp_path / "partial.json"
    # Without the module scan cache each image's analysis takes seconds, so the signal lands mid-audit even on
    # an idle machine whose warm caches would otherwise finish the whole fleet first.
    env = dict(os.environ, FAKTORY_AUDIT_CODE_REVISION=CODE_REVISION, FAKTORY_NO_SCAN_CACHE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "faktory", "audit", *refs, "--jobs", "2", "--quiet", "--cache-dir", str(cache),
         "--json", str(out), "--html", str(tmp_path / "partial.html")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # A terminal's Ctrl-C meets the default disposition; a test run started in the background of a
        # non-interactive shell inherits SIGINT ignored, which the child would keep.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for _ in range(600):  # until a worker process exists: cached rows are done, analysis has begun
            assert process.poll() is None, process.communicate()
            if _spawned_workers(process.pid):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    report = json.loads(out.read_text())
    assert report["complete"] is False and report["requested"] == len(refs)
    assert [row["ref"] for row in report["images"]][:2] == refs[:2]
    assert 2 <= len(report["images"]) < len(refs)
    assert all(row["status"] == "ok" for row in report["images"])
    assert "Partial report" in (tmp_path / "partial.html").read_text()


def _image_ids(refs: list[str]) -> list[str]:
    done = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", *refs], capture_output=True,
                          text=True, check=True)
    return done.stdout.split()


def _spawned_workers(parent: int | None = None) -> list[int]:
    """Pool worker processes (multiprocessing spawn) started by `parent` (default: this process)."""
    pids = []
    for children in Path(f"/proc/{parent or os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                pids.append(int(pid))
    return pids


def test_a_worker_killed_mid_audit_costs_a_retry_not_the_rows(fixture_images, monkeypatch):
    from faktory.audit.runner import run_audit

    # Workers inherit this: with the module scan cache off, each analysis lasts long enough to be killed in.
    monkeypatch.setenv("FAKTORY_NO_SCAN_CACHE", "1")
    refs = [fixture_images[name].tag for name in ("py3.12-slim", "py3.11-slim", "py3.13-slim", "py3.8-slim")]
    killed: list[int] = []

    def kill_one_worker() -> None:
        for _ in range(300):
            workers = _spawned_workers()
            if workers:
                time.sleep(0.3)  # let it start on an image
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
                return
            time.sleep(0.1)

    import threading

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    outcome = run_audit(refs, ("oci",), jobs=2, cache=None)
    killer.join()
    assert killed, "no worker process was seen"
    assert outcome.complete and [r.ref for r in outcome.rows] == refs
    assert all(r.status == "ok" for r in outcome.rows), [r.error for r in outcome.rows]
