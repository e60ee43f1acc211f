"""Audit pieces on small hand-made filesystems: catalogers, model round trip, cache, writers, runner interrupts.

Real inputs throughout: real ELF files from the host's CPython builds, real cyclonedx schema validation, the
real HTML renderer. Image-level behaviour against the fixture images is in test_audit_fleet.py.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import replace
from pathlib import Path

import networkx as nx
import pytest

from faktory.audit.cache import DigestCache
from faktory.audit.catalogers import catalog_deb_packages, catalog_distributions, catalog_extensions, deb_owner
from faktory.audit.model import (
    ERROR, OK, SCHEMA_VERSION, AuditReport, CExtension, EntrypointInfo, ImageAudit, InterpreterInfo, Issue, Package,
    TargetVerdict,
)
from faktory.audit.registry import RegistrySpec
from faktory.registry.client import _next_link
from faktory.registry.transport import plain_http
from faktory.audit.runner import run_audit
from faktory.audit.writers.csv_report import columns, write_csv
from faktory.audit.writers.html_report import render_html
from faktory.audit.writers.json_report import write_json
from faktory.audit.writers.sbom import build_bom, write_sboms
from faktory.image import DIR, FILE, SYMLINK, Entry

PYENV = Path("/root/.pyenv/versions")


class MemFS:
    """The FileSystem protocol over a dict: enough for catalogers (no layers, nothing shadowed)."""

    def __init__(self, files: dict[str, bytes | str], symlinks: dict[str, str] | None = None):
        self.data: dict[str, bytes] = {}
        self.entries: dict[str, Entry] = {"/": Entry("/", DIR, 0o755)}
        for path, content in files.items():
            self._dirs(posixpath.dirname(path))
            blob = content.encode() if isinstance(content, str) else content
            self.data[path] = blob
            self.entries[path] = Entry(path, FILE, 0o644, size=len(blob))
        for path, target in (symlinks or {}).items():
            self._dirs(posixpath.dirname(path))
            self.entries[path] = Entry(path, SYMLINK, 0o777, linkname=target)

    def _dirs(self, path: str) -> None:
        while path not in self.entries:
            self.entries[path] = Entry(path, DIR, 0o755)
            path = posixpath.dirname(path)

    def resolve(self, path: str) -> str:
        out = "/"
        for part in path.strip("/").split("/"):
            out = posixpath.join(out, part)
            entry = self.entries.get(out)
            if entry is not None and entry.is_symlink:
                out = self.resolve(posixpath.normpath(posixpath.join(posixpath.dirname(out), entry.linkname)))
        return out

    def entry(self, path: str):
        return self.entries.get(path)

    def stat(self, path: str):
        return self.entries.get(self.resolve(path))

    def read_bytes(self, path: str) -> bytes:
        return self.data[self.resolve(path)]

    def open(self, path: str):
        return io.BytesIO(self.read_bytes(path))

    def listdir(self, path: str) -> list[str]:
        base = self.resolve(path)
        return sorted(posixpath.basename(p) for p in self.entries if p != "/" and posixpath.dirname(p) == base)

    def walk(self, top: str = "/"):
        for path in sorted(self.entries):
            if path == top or path.startswith(top.rstrip("/") + "/"):
                yield self.entries[path]

    def shadowed(self):
        return iter(())


SITE = "/usr/local/lib/python3.12/site-packages"
FLASK_METADATA = """Metadata-Version: 2.1
Name: Flask
Version: 3.0.3
Summary: A simple framework for building complex web applications.
License-Expression: BSD-3-Clause
Classifier: License :: OSI Approved :: BSD License

Flask long description that says Name: Nope
"""


def python_fs(extension: bytes = b"", library: bytes = b"") -> MemFS:
    files = {
        f"{SITE}/flask/__init__.py": "",
        f"{SITE}/flask-3.0.3.dist-info/METADATA": FLASK_METADATA,
        f"{SITE}/flask-3.0.3.dist-info/RECORD": "flask/__init__.py,sha256=x,0\nflask-3.0.3.dist-info/METADATA,,\n",
        f"{SITE}/markupsafe-2.1.5.dist-info/METADATA": "Name: MarkupSafe\nVersion: 2.1.5\nLicense: BSD-3-Clause\n",
        f"{SITE}/markupsafe-2.1.5.dist-info/RECORD": "markupsafe/_json.cpython-312-x86_64-linux-gnu.so,,\n",
        f"{SITE}/legacy-1.0.egg-info/PKG-INFO": "Name: legacy\nVersion: 1.0\nLicense: UNKNOWN\n",
        f"{SITE}/legacy-1.0.egg-info/installed-files.txt": "../legacy/__init__.py\n",
        f"{SITE}/single-0.2.egg-info": "Name: single\nVersion: 0.2\n",
        f"{SITE}/broken-9.dist-info/METADATA": "Summary: no name or version\n",
        "/app/main.py": "import flask\n",
    }
    if extension:
        files[f"{SITE}/markupsafe/_json.cpython-312-x86_64-linux-gnu.so"] = extension
    if library:
        files[f"{SITE}/markupsafe.libs/libvendored.so"] = library
    return MemFS(files)


def _host_elf(pattern: str) -> bytes:
    found = sorted(PYENV.glob(pattern))
    assert found, f"host file {pattern} needed as a real ELF sample"
    return found[0].read_bytes()


# --------------------------------------------------------------------------------------------- catalogers


def test_python_cataloger_reads_dist_info_and_egg_info_without_executing_anything():
    dists = {d.name: d for d in catalog_distributions(python_fs())}
    assert set(dists) == {"Flask", "MarkupSafe", "legacy", "single"}  # broken-9 has no Name/Version: skipped
    flask = dists["Flask"]
    assert (flask.version, flask.license, flask.ecosystem) == ("3.0.3", "BSD-3-Clause", "python")
    assert flask.summary.startswith("A simple framework")
    assert f"{SITE}/flask/__init__.py" in flask.files  # RECORD paths are relative to site-packages
    assert flask.purl == "pkg:pypi/flask@3.0.3"
    assert dists["legacy"].license == ""  # "UNKNOWN" is no license
    assert dists["legacy"].files == (f"{SITE}/legacy/__init__.py",)
    assert dists["single"].version == "0.2"


def test_deb_cataloger_keeps_installed_packages_and_finds_the_owner_through_usrmerge():
    status = (
        "Package: python3.11-minimal\nStatus: install ok installed\nVersion: 3.11.2-6+deb12u6\n"
        "Description: Minimal subset\n of the Python language\n\n"
        "Package: removed-thing\nStatus: deinstall ok config-files\nVersion: 1\n\n"
        "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n"
    )
    fs = MemFS(
        {
            "/var/lib/dpkg/status": status,
            "/var/lib/dpkg/info/python3.11-minimal.list": "/.\n/usr\n/usr/bin/python3.11\n",
            "/var/lib/dpkg/info/libc6:amd64.list": "/lib/x86_64-linux-gnu/libc.so.6\n",
            "/usr/bin/python3.11": b"\x7fELF",
            "/usr/lib/x86_64-linux-gnu/libc.so.6": b"\x7fELF",
        },
        symlinks={"/lib": "usr/lib", "/usr/bin/python3": "python3.11"},
    )
    packages = catalog_deb_packages(fs)
    assert [(p.name, p.version) for p in packages] == [("libc6", "2.36-9"), ("python3.11-minimal", "3.11.2-6+deb12u6")]
    assert packages[1].summary == "Minimal subset"
    assert deb_owner(fs, "/usr/bin/python3", packages).name == "python3.11-minimal"
    assert deb_owner(fs, "/usr/lib/x86_64-linux-gnu/libc.so.6", packages).name == "libc6"  # listed as /lib/…
    assert deb_owner(fs, "/app/main.py", packages) is None


def test_extension_cataloger_tells_extensions_from_libraries_by_pyinit_symbol():
    extension = _host_elf("3.12*/lib/python3.12/lib-dynload/_json.cpython-312-x86_64-linux-gnu.so")
    library = _host_elf("3.12*/lib/libpython3.12.so.1.0")
    fs = python_fs(extension=extension, library=library)
    dists = catalog_distributions(fs)
    ext_path = f"{SITE}/markupsafe/_json.cpython-312-x86_64-linux-gnu.so"
    graph = nx.DiGraph()
    graph.add_edge(f"file:{ext_path}", "file:/usr/lib/x86_64-linux-gnu/libz.so.1", reason="DT_NEEDED")
    graph.add_edge("file:/usr/lib/x86_64-linux-gnu/libz.so.1", "file:/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", reason="symlink")
    graph.add_edge(f"file:{ext_path}", "module:markupsafe._json", reason="provides")
    for node in graph.nodes:
        if node.startswith("file:"):
            graph.nodes[node]["path"] = node[5:]
    found = catalog_extensions(fs, dists, graph)
    assert [e.path for e in found] == [ext_path]  # libvendored.so (libpython) exports PyInit_ for other names only
    assert found[0].distribution == "MarkupSafe"
    assert found[0].libraries == ("/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13")
    assert isinstance(found[0].needed, tuple)


def test_extension_cataloger_ignores_non_elf_and_truncated_files():
    fs = MemFS({f"{SITE}/pkg/fake.so": b"not an elf", f"{SITE}/pkg/cut.so": b"\x7fELF\x02\x01\x01" + b"\0" * 9})
    assert catalog_extensions(fs, ()) == ()


# ------------------------------------------------------------------------------------------ model, cache


def sample_rows() -> tuple[ImageAudit, ...]:
    blocker = Issue("c-extension", "numpy/_core/_multiarray_umath.so is not compiled into python.hvt", "blocker",
                    "/usr/local/lib/python3.12/site-packages/numpy/__init__.py:1")
    numpy = ImageAudit(
        ref="registry.example:5000/apps/numpy:1",
        digest="sha256:" + "a" * 64,
        platform="linux/amd64",
        image_size=180_000_000,
        layer_count=5,
        wasted_bytes=12_000_000,
        interpreter=InterpreterInfo("/usr/local/bin/python3", "/usr/local/bin/python3.12", "3.12.7", "glibc", True,
                                    "/usr/local/lib/libpython3.12.so.1.0"),
        entrypoint=EntrypointInfo(("python3", "/app/main.py"), "/app", "/app/main.py"),
        distributions=(Package("numpy", "2.1.0", "python", f"{SITE}/numpy-2.1.0.dist-info", "BSD-3-Clause"),),
        c_extensions=(CExtension(f"{SITE}/numpy/_core/_multiarray_umath.so", "numpy", ("libscipy_openblas.so",),
                                 (f"{SITE}/numpy.libs/libscipy_openblas.so",)),),
        closure_files=900,
        closure_size=60_000_000,
        findings=(Issue("threads", "threading imported", "warning", "/app/main.py:3"),),
        targets={
            "unikraft": TargetVerdict("unikraft", True, projected_size=61_000_000),
            "rumprun": TargetVerdict("rumprun", False, blockers=(blocker,), projected_size=40_000_000),
            "km": TargetVerdict("km", None),
        },
        seconds=2.5,
    )
    broken = ImageAudit(ref="docker-archive:/nowhere.tar", status=ERROR, error="SourceUnavailable: no such file")
    return numpy, broken


def sample_report(complete: bool = True) -> AuditReport:
    return AuditReport(sample_rows(), ("unikraft", "km", "rumprun"), "2026-01-01T00:00:00Z", complete, 3, "0.1.0")


def test_rows_round_trip_through_their_dict_form():
    for row in sample_rows():
        assert ImageAudit.from_dict(json.loads(json.dumps(row.to_dict()))) == row
    report = sample_report()
    again = AuditReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report


def test_summary_counts_verdicts_and_blockers_by_kind():
    summary = sample_report().summary()
    assert summary["errors"] == 1
    assert summary["saved_bytes"] == 180_000_000 - 60_000_000
    assert summary["targets"]["rumprun"] == {"convertible": 0, "unverified": 0, "blocked": 1, "unknown": 0}
    assert summary["targets"]["km"] == {"convertible": 0, "unverified": 0, "blocked": 0, "unknown": 1}
    assert summary["blockers_by_kind"] == {"c-extension": {"rumprun": 1}}
    assert round(sample_rows()[0].efficiency, 3) == round(1 - 12 / 180, 3)


def test_digest_cache_serves_rows_by_digest_and_never_caches_errors(tmp_path):
    cache = DigestCache(tmp_path, ("rumprun", "unikraft"))
    numpy, broken = sample_rows()
    cache.put(numpy)
    cache.put(broken)
    hit = cache.get(numpy.digest, "other/ref:tag")
    assert hit == replace(numpy, ref="other/ref:tag", cached=True)
    assert cache.get(None, "x") is None
    assert len(list(cache.dir.glob("*.json"))) == 1
    # Another target set is another question: no hit.
    assert DigestCache(tmp_path, ("km",)).get(numpy.digest, "x") is None
    # A torn or foreign entry is ignored, not trusted.
    next(cache.dir.glob("*.json")).write_text("{not json")
    assert cache.get(numpy.digest, "x") is None


# ---------------------------------------------------------------------------------------------- writers


def test_json_report_has_the_documented_top_level_keys(tmp_path):
    out = tmp_path / "audit.json"
    write_json(sample_report(complete=False), out)
    data = json.loads(out.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert list(data) == ["schema_version", "tool", "generated_at", "complete", "requested", "targets", "summary", "images"]
    assert data["complete"] is False
    row = data["images"][0]
    assert row["targets"]["rumprun"]["blockers"][0]["location"].endswith("numpy/__init__.py:1")
    assert row["native_libraries"] == [f"{SITE}/numpy.libs/libscipy_openblas.so"]
    assert data["images"][1]["status"] == ERROR
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed into place


def test_csv_has_one_row_per_image_and_target_columns(tmp_path):
    out = tmp_path / "audit.csv"
    write_csv(sample_report(), out)
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == columns(("unikraft", "km", "rumprun"))
    assert [r["status"] for r in rows] == [OK, ERROR]
    assert rows[0]["python_version"] == "3.12.7"
    assert rows[0]["packages"] == "numpy==2.1.0"
    assert (rows[0]["unikraft_convertible"], rows[0]["rumprun_convertible"], rows[0]["km_convertible"]) == ("yes", "no", "")
    assert rows[0]["rumprun_blocker_kinds"] == "c-extension"
    assert rows[1]["error"].startswith("SourceUnavailable")


def test_csv_never_hands_a_spreadsheet_a_formula(tmp_path):
    numpy, _ = sample_rows()
    hostile = replace(numpy, distributions=(Package("=HYPERLINK(\"http://x\")", "1", "python", "/"),),
                      error="@SUM(A1)")
    out = tmp_path / "audit.csv"
    write_csv(AuditReport((hostile,), ("unikraft",), "now", True, 1, "0"), out)
    row = next(csv.DictReader(out.open()))
    assert row["packages"].startswith("'=HYPERLINK") and row["error"] == "'@SUM(A1)"
    assert row["image_size"] == "180000000"


def test_html_report_is_self_contained_with_charts():
    html = render_html(sample_report(complete=False))
    assert html.count("<svg") == 3
    assert "Partial report" in html
    assert "c-extension" in html and "numpy/__init__.py:1" in html
    for remote in ("http://", "https://", "<script", "<link"):
        assert remote not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_html_escapes_image_controlled_text():
    numpy, _ = sample_rows()
    evil = replace(numpy, ref="<img src=x onerror=alert(1)>", distributions=(Package("<b>x</b>", "1", "python", "/"),))
    html = render_html(AuditReport((evil,), ("unikraft",), "now", True, 1, "0"))
    assert "<img src=x" not in html and "<b>x</b>" not in html
    assert "&lt;img src=x" in html


def test_sbom_is_valid_cyclonedx_with_purls(tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    written = write_sboms(sample_report(), tmp_path)
    assert len(written) == 1  # the error row has nothing to describe
    text = written[0].read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    assert doc["metadata"]["component"]["type"] == "container"
    purls = {c.get("purl") for c in doc["components"]}
    assert "pkg:pypi/numpy@2.1.0" in purls
    # the interpreter as syft names it, with the CPE scanners match on
    assert any(c["name"] == "python" and c["version"] == "3.12.7" and c["purl"] == "pkg:generic/python@3.12.7"
               and c["cpe"].startswith("cpe:2.3:a:python_software_foundation:python:3.12.7") for c in doc["components"])
    assert doc["metadata"]["tools"]["components"][0]["name"] == "faktory"
    assert build_bom(sample_rows()[0]).metadata.component.version == "sha256:" + "a" * 64
    assert written[0].stat().st_mode & 0o777 == 0o644  # for a scanner or a web server to read


def test_sbom_deb_purls_carry_arch_and_distro_and_the_os_is_a_component(tmp_path):
    from faktory.audit.model import OsRelease

    numpy, _ = sample_rows()
    bookworm = OsRelease(id="debian", version_id="12", pretty_name="Debian GNU/Linux 12 (bookworm)")
    row = replace(numpy, os=bookworm, system_packages=(Package("libc6", "2.36-9+deb12u4", "deb", "/var/lib/dpkg/status",
                                                               arch="amd64"),))
    for fmt in ("cyclonedx-json", "spdx-json"):
        [path] = write_sboms(AuditReport((row,), ("oci",), "now", True, 1, "0"), tmp_path / fmt, fmt)
        text = path.read_text()
        assert "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12" in text, fmt
    cdx = json.loads((tmp_path / "cyclonedx-json" / path.name.replace(".spdx.json", ".cdx.json")).read_text())
    assert [c["name"] for c in cdx["components"] if c["type"] == "operating-system"] == ["debian"]


def test_spdx_output_validates_with_spdx_tools(tmp_path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    written = write_sboms(sample_report(), tmp_path, "spdx-json")
    assert [p.name.endswith(".spdx.json") for p in written] == [True]
    document = parse_file(str(written[0]))  # spdx-tools reads back what it wrote
    assert validate_full_spdx_document(document) == []
    assert document.creation_info.spdx_version == "SPDX-2.3"
    names = {p.name for p in document.packages}
    assert {"numpy", "python"} <= names
    root = [r.related_spdx_element_id for r in document.relationships if r.relationship_type.name == "DESCRIBES"]
    assert len(root) == 1
    assert written[0].stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------------------------ inputs, runner


def test_registry_spec_and_pagination_links():
    assert RegistrySpec.parse("127.0.0.1:5000/fixtures/flask") == RegistrySpec("127.0.0.1:5000", "fixtures/flask")
    assert plain_http(RegistrySpec.parse("localhost:5000").host)
    assert not plain_http(RegistrySpec.parse("registry.example").host)
    assert _next_link('</v2/_catalog?last=b&n=2>; rel="next"') == "/v2/_catalog?last=b&n=2"
    assert _next_link(None) is None


@pytest.mark.parametrize("jobs", [1, 2])
def test_interrupt_keeps_the_rows_already_finished(tmp_path, jobs):
    refs = [f"docker-archive:{tmp_path}/missing-{i}.tar" for i in range(4)]
    seen = []

    def on_row(row):
        seen.append(row)
        if len(seen) == 2:
            raise KeyboardInterrupt

    outcome = run_audit(refs, ("oci",), jobs=jobs, cache=DigestCache(tmp_path / "cache", ("oci",)), on_row=on_row)
    assert outcome.complete is False
    assert len(outcome.rows) == 2
    assert all(r.status == ERROR and r.error for r in outcome.rows)  # a missing image is a row, not a crash


def test_usage_errors_are_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    from faktory.cli import app

    for args in ([], ["img:1", "--targets", "vax"], ["--file", str(tmp_path / "absent.txt")],
                 ["img:1", "--json", "-", "--csv", "-"], ["img:1", "--jobs", "0"],
                 ["img:1", "--state-dir", str(tmp_path)], ["img:1", "--queue-name", "q"],
                 ["img:1", "--redis", "redis://127.0.0.1:1/0"], ["img:1", "--queue", "--observe"]):
        done = CliRunner().invoke(app, ["audit", *args])
        assert done.exit_code == 2, (args, done.output)
        assert done.stderr.startswith("faktory: error: ") and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == ""


def test_a_queued_image_is_its_jobs_row_or_an_error_saying_what_became_of_the_job():
    from faktory.audit.queue import row_of
    from faktory.service.jobs import AUDIT, DONE, FAILED, SKIPPED, Job

    job = Job(id="j", kind=AUDIT, state=DONE, registry="", repository="img:1", tag=None, digest="", target="oci",
              destination="audit:r", result=ImageAudit(ref="as-the-worker-saw-it", status=OK, digest="sha256:a").to_dict())
    assert row_of(job, "img:1") == ImageAudit(ref="img:1", status=OK, digest="sha256:a")
    failed = row_of(replace(job, state=FAILED, result=None, error="gave up after 3 attempts; attempt 3 lost"), "img:1")
    assert failed.status == ERROR and failed.error == "audit job failed: gave up after 3 attempts; attempt 3 lost"
    skipped = row_of(replace(job, state=SKIPPED, result=None, note="audit interrupted"), "img:1")
    assert skipped.status == ERROR and skipped.error == "audit job skipped: audit interrupted"
    assert row_of(None, "img:1").error == "audit job vanished from the job store"


def test_cache_keys_need_no_image_load_and_never_raise():
    from faktory.audit.keys import cheap_key

    digest = "sha256:" + "b" * 64
    assert cheap_key(f"docker://127.0.0.1:5999/apps/x@{digest}") == f"registry-{digest}"  # no round trip needed
    assert cheap_key("docker-archive:/nowhere/image.tar") is None  # the worker keys on the loaded digest
    assert cheap_key("oci:/nowhere/layout:latest") is None
    assert cheap_key("docker://127.0.0.1:1/nothing/listens:here") is None  # unreachable: no key, no exception
    assert cheap_key("Not A Reference") is None


def test_unresolved_imports_make_a_convertible_verdict_unverified_with_the_reasons(tmp_path):
    from rich.console import Console

    from faktory.analyzers.model import WARNING, Finding
    from faktory.audit.verdicts import target_verdict
    from faktory.audit.writers.table import render_table
    from tests.handmade import python_image

    image, closure = python_image(tmp_path / "root")
    assert target_verdict("oci", closure).label == "convertible"
    closure.findings.append(Finding("computed-import", "importlib.import_module(name): the module name is computed",
                                    WARNING, "/app/main.py:3"))
    verdict = target_verdict("oci", closure)
    assert verdict.convertible and verdict.label == "convertible, unverified"
    assert [(i.kind, i.location) for i in verdict.unverified] == [("computed-import", "/app/main.py:3")]
    assert TargetVerdict.from_dict("oci", json.loads(json.dumps(verdict.to_dict()))) == verdict
    assert verdict.to_dict()["verdict"] == "convertible, unverified"

    numpy, _ = sample_rows()
    row = replace(numpy, targets={"unikraft": verdict})
    report = AuditReport((row,), ("unikraft",), "now", True, 1, "0")
    assert report.summary()["targets"]["unikraft"] == {"convertible": 1, "unverified": 1, "blocked": 0, "unknown": 0}
    out = tmp_path / "audit.csv"
    write_csv(report, out)
    assert next(csv.DictReader(out.open()))["unikraft_unverified"] == "1"
    console = Console(file=io.StringIO(), width=200)
    render_table(report, console)
    text = console.file.getvalue()
    assert "✓? unverified" in text and "unverified computed-import" in text and "/app/main.py:3" in text
    assert "✓?" in render_html(report)


def test_a_row_cached_under_one_key_is_found_under_the_other(fixture_images, tmp_path):
    """A run whose cheap key failed stores its row under the image digest; the next run, whose key answered,
    must still be served from it (and the other way round), or a warm re-run analyses again."""
    from faktory import api
    from faktory.audit.runner import audit_one

    ref = fixture_images["pkg-app"].tag
    digest = api.load_image(ref).digest
    cache = DigestCache(tmp_path, ("oci",))
    known = ImageAudit(ref="first-run", status=OK, digest=digest)
    cache.put(known)  # stored under the digest alone
    row = audit_one(ref, ("oci",), str(tmp_path), "daemon-not-yet-seen")
    assert row["cached"] is True and row["digest"] == digest and row["ref"] == ref
    assert cache.get("daemon-not-yet-seen", ref) is not None  # now under the cheap key as well

    other = DigestCache(tmp_path / "other", ("oci",))
    other.put(known, "registry-sha256:" + "c" * 64)  # a keyed run: the digest is stored too
    assert other.get(digest, ref) is not None


@pytest.mark.parametrize("kind,label", [("computed-library", "convertible, unverified"),
                                        ("data-dir-not-kept", "convertible, unverified"),
                                        ("lazy-computed-library", "convertible")])
def test_what_the_analysis_cannot_know_about_libraries_and_data_is_unverified(tmp_path, kind, label):
    """A library loaded by a name computed at import, or a data dir too big to keep: the analysis cannot know
    what is needed, so the verdict says so; inside a library function nothing calls at import it is a note."""
    from faktory.analyzers.model import INFO, WARNING, Finding
    from faktory.audit.verdicts import target_verdict
    from tests.handmade import python_image

    _, closure = python_image(tmp_path / "root")
    severity = INFO if kind.startswith("lazy-") else WARNING
    closure.findings.append(Finding(kind, f"{kind}: cannot know", severity, "/app/main.py:7"))
    verdict = target_verdict("oci", closure)
    assert verdict.convertible and verdict.label == label
    if label == "convertible":
        assert [n.kind for n in verdict.notes] == [kind]
