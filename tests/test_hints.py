"""User hints on real fixture images: each kind from the command line, from image labels and from the
service's rules, with its reason in `--why`; bad hints are findings, malformed options one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faktory.service.rules import RulesError, analyze_options, parse_rules
from tests import hidden_image

STDLIB = "/usr/local/lib/python3.12"
SITE = hidden_image.SITE
LABELLED = "faktory-test/hints-labels:latest"
LABELS = {
    "dev.faktory.include": "/etc/os-release,/nothing/here/*.conf",
    "dev.faktory.hidden-import": "hidden_plugin,not a module",
    "dev.faktory.collect": "pip",
    "dev.faktory.exclude": "/app/README.md",
}


def faktory(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faktory", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "250"}, cwd=cwd)


def why(ref: str, path: str, *hints: str) -> str:
    """`--why` as printed: the chain on stdout, or (exit 1) why there is none on stderr."""
    result = faktory("analyze", ref, *hints, "--why", path)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout + result.stderr


def report(ref: str, *hints: str) -> dict:
    result = faktory("analyze", ref, *hints, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def flask(fixture_images) -> str:
    return fixture_images["flask"].tag


@pytest.fixture(scope="module")
def labelled(fixture_images, tmp_path_factory):
    tag = hidden_image.build(fixture_images["py3.12-slim"].tag, LABELLED, tmp_path_factory.mktemp("labelled"), LABELS)
    yield tag
    hidden_image.remove(tag)


@pytest.mark.parametrize("hints, path, reason", [
    (["--include", "/etc/os-release"], "/etc/os-release", "hint:--include"),
    (["--include", "/usr/local/lib/**/certifi/*.pem"], f"{SITE}/pip/_vendor/certifi/cacert.pem", "hint:--include"),
    (["--hidden-import", "colorsys"], f"{STDLIB}/colorsys.py", "hint:--hidden-import"),
    (["--hidden-import", "xml.dom.*"], f"{STDLIB}/xml/dom/minidom.py", "hint:--hidden-import"),
    (["--hidden-import", "xml.**"], f"{STDLIB}/xml/etree/ElementTree.py", "hint:--hidden-import"),
    (["--collect", "pip"], f"{SITE}/pip/_vendor/certifi/cacert.pem", "hint:--collect"),
])
def test_each_hint_keeps_its_files_with_its_reason(flask, hints, path, reason):
    assert "in the image but not kept" in why(flask, path), f"{path} is kept without the hint: the test proves nothing"
    shown = why(flask, path, *hints)
    assert f"{reason} → " in shown and path in shown


def test_collect_keeps_the_distribution_metadata(flask):
    files = {f["path"] for f in report(flask, "--collect", "pip")["files"]}
    assert f"{SITE}/pip-23.2.1.dist-info/METADATA" in files and f"{SITE}/pip/__main__.py" in files


def test_exclude_removes_paths_with_a_finding(flask):
    before = {f["path"] for f in report(flask)["files"]}
    gone = {p for p in before if p.startswith("/srv/app/templates/")}
    assert gone, "the flask fixture's templates are no longer kept: pick another path"
    after = report(flask, "--exclude", "/srv/app/templates/**")
    files = {f["path"] for f in after["files"]}
    assert not gone & files and "/srv/app/app.py" in files
    found = [f for f in after["findings"] if f["kind"] == "excluded"]
    assert len(found) == 1 and "/srv/app/templates/" in found[0]["message"] and "hint:--exclude" in found[0]["message"]
    assert "in the image but not kept" in why(flask, sorted(gone)[0], "--exclude", "/srv/app/templates/**")


def test_user_hooks_dir(flask, tmp_path):
    (tmp_path / "mine.yaml").write_text("- module: flask\n  hiddenimports: [colorsys]\n  sysfiles: [/etc/os-release]\n")
    shown = why(flask, f"{STDLIB}/colorsys.py", "--hooks", str(tmp_path))
    assert "hook:flask → module:colorsys" in shown
    assert "hook:flask → file:/etc/os-release" in why(flask, "/etc/os-release", "--hooks", str(tmp_path))


def test_bad_hints_are_findings(flask):
    found = report(flask, "--hidden-import", "no_such_module", "--collect", "nopkg", "--include", "/nowhere/*.conf",
                   "--exclude", "/nowhere/**")["findings"]
    messages = {(f["kind"], f["message"]) for f in found if f["kind"].startswith("hint-")}
    assert ("hint-unresolved", "hint:--hidden-import no_such_module: no such module in the image") in messages
    assert ("hint-unresolved", "hint:--collect nopkg: no such package or distribution in the image") in messages
    assert ("hint-unmatched", "hint:--include /nowhere/*.conf: matches nothing in the image") in messages
    assert ("hint-unmatched", "hint:--exclude /nowhere/**: matches nothing in the closure") in messages


@pytest.mark.parametrize("args, message", [
    (["--include", "etc/os-release"], "--include: wants an absolute path or glob inside the image"),
    (["--exclude", "*.pyc"], "--exclude: wants an absolute path or glob inside the image"),
    (["--hidden-import", "bad name"], "--hidden-import: wants a dotted module name"),
    (["--hidden-import", "pkg.***"], "--hidden-import: wants a dotted module name"),
    (["--collect", "a/b"], "--collect: wants a package or distribution name"),
    (["--locale", "German!"], "--locale: wants a language or locale (de, pt_BR) or `all`"),
    (["--hooks", "/nonexistent-hooks"], "--hooks: /nonexistent-hooks is not a directory"),
])
def test_malformed_hint_options_are_one_line(args, message, tmp_path):
    for verb, extra in (("analyze", []), ("convert", ["--to", "oci", "-o", "out"])):
        result = faktory(verb, "docker-archive:/nonexistent.tar", *extra, *args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [f"faktory: error: {message}" + result.stderr.split(message, 1)[1]
                                                       .rstrip("\n")]
        assert not (tmp_path / "out").exists()


def test_a_hooks_file_that_does_not_parse_is_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("- module: flask\n  hiddenimport: [typo]\n")
    result = faktory("analyze", "docker-archive:/nonexistent.tar", "--hooks", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml is not a valid hook file" in lines[0]


@pytest.mark.parametrize("path, reason", [
    ("/etc/os-release", "label:dev.faktory.include"),
    (f"{hidden_image.PLUGIN}/message.txt", "label:dev.faktory.hidden-import"),
    (f"{SITE}/pip/_vendor/certifi/cacert.pem", "label:dev.faktory.collect"),
])
def test_labels_ship_hints(labelled, path, reason):
    shown = why(labelled, path)
    assert f"{reason} → " in shown and path in shown


def test_label_exclude_and_bad_label_values(labelled):
    data = report(labelled)
    files = {f["path"] for f in data["files"]}
    assert "/app/README.md" not in files and "/app/app.py" in files
    kinds = {(f["kind"], f["message"]) for f in data["findings"]}
    assert any(k == "excluded" and "label:dev.faktory.exclude /app/README.md removed 1" in m for k, m in kinds)
    assert any(k == "hint-unmatched" and "/nothing/here/*.conf" in m for k, m in kinds)
    assert any(k == "hint-malformed" and "'not a module'" in m for k, m in kinds)


def test_the_labelled_app_runs_converted_without_any_option(labelled, tmp_path):
    """The image author's hidden-import label is enough for the hidden plugin: no --observe, no option."""
    from faktory.runner.verify import Probe, verify_output

    out = tmp_path / "oci"
    assert faktory("convert", labelled, "--to", "oci", "-o", str(out)).returncode == 0
    checks = verify_output(labelled, out, Probe(expect=hidden_image.EXPECT), timeout=300)
    assert all(c.passed for c in checks), [(c.name, c.detail) for c in checks]


RULES = """
registries: ["127.0.0.1:*", "r"]
rules:
  - repository: "apps/*"
    targets: [oci]
    observe: {http: "8080/health", timeout: 30}
    hints: {include: ["/etc/app/*.yaml"], hidden-import: [plugins.**], collect: [pkg], exclude: ["/usr/share/doc/**"],
            locale: [de]}
"""


def test_rules_take_observe_and_hints():
    plan, = parse_rules(RULES).plans("127.0.0.1:5000", "apps/web", "v1")
    options = analyze_options(plan.analysis)
    assert options.observe.http_port == 8080 and options.observe.timeout == 30
    assert [(h.kind, h.value, h.reason) for h in options.hints] == [
        ("include", "/etc/app/*.yaml", "rule:include"), ("hidden-import", "plugins.**", "rule:hidden-import"),
        ("collect", "pkg", "rule:collect"), ("exclude", "/usr/share/doc/**", "rule:exclude"),
        ("locale", "de", "rule:locale")]
    from faktory.service.jobs import Job

    job = Job("id", "queued", "r", "apps/web", "v1", "sha256:" + "0" * 64, "oci", "d", analysis=dict(plan.analysis))
    assert analyze_options(Job.from_json(job.to_json()).analysis) == options  # what a worker gets back
    plain, = parse_rules("registries: [r]\nrules: [{repository: x}]").plans("r", "x", "1")
    assert analyze_options(plain.analysis).observe is None and not plain.analysis


@pytest.mark.parametrize("rule, message", [
    ("observe: {port: 80}", "observe: unknown keys ['port']"),
    ("observe: yes please", "observe must be true/false or a mapping"),
    ("observe: {http: eighty}", "the HTTP check wants PORT/PATH"),
    ("hints: {include: [relative]}", "rule:include: wants an absolute path"),
    ("hints: {hidden: [x]}", "hints may only hold include, hidden-import, collect, exclude, locale, hooks"),
    ("hints: {collect: pkg}", "hints.collect must be a list of strings"),
])
def test_bad_rule_analysis_settings_are_rules_errors(rule, message):
    with pytest.raises(RulesError, match="rules\\[0\\]: .*" + message.replace("[", "\\[").replace("]", "\\]")
                       .replace("(", "\\(").replace("*", "\\*")):
        parse_rules(f"rules:\n  - repository: x\n    {rule}\n")
