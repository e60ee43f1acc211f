"""`faktory convert` as a docker/skopeo/syft user checks it: tags that tell builds apart, the size of what was
written, refs that round-trip through skopeo, an SBOM of what was kept, run commands that work, files others can
read. Real CLI, real fixture image, real skopeo and spdx-tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAKTORY = [sys.executable, "-m", "faktory"]


def faktory(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*FAKTORY, *args], capture_output=True, text=True, timeout=900, cwd=cwd,
                          env={**os.environ, "COLUMNS": "40"})


def _config(layout: Path) -> dict:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    return json.loads((layout / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_text())


@pytest.fixture(scope="module")
def builds(fixture_images, tmp_path_factory):
    """The flask fixture converted twice into one place, plain and --compact, the first with an SPDX SBOM."""
    root = tmp_path_factory.mktemp("builds")
    ref = fixture_images["flask"].tag
    plain = faktory("convert", ref, "--to", "OCI", "-o", str(root / "plain"), "--sbom", str(root / "plain.spdx.json"))
    compact = faktory("convert", ref, "--to", "oci", "--compact", "-o", str(root / "compact"),
                      "--sbom", str(root / "compact.cdx.json"))
    assert plain.returncode == 0, plain.stderr
    assert compact.returncode == 0, compact.stderr
    return root, plain, compact


def test_plain_and_compact_builds_get_tags_that_do_not_collide(builds):
    root, plain, compact = builds
    tags = [json.loads((root / d / "faktory.json").read_text())["image"]["tag"] for d in ("plain", "compact")]
    assert len(set(tags)) == 2 and "-compact" in tags[1] and "-compact" not in tags[0]
    for d, proc, tag in (("plain", plain, tags[0]), ("compact", compact, tags[1])):
        assert proc.stdout.strip().endswith(tag)  # the run command, on stdout, runs this build's tag
        assert _config(root / d / "image")["created"]  # set, not null: `docker images` shows an age


def test_printed_size_is_each_builds_artifact(builds):
    from faktory.units import human_bytes

    root, plain, compact = builds
    sizes = []
    for d, proc in (("plain", plain), ("compact", compact)):
        size = json.loads((root / d / "faktory.json").read_text())["image"]["compressed_size"]
        assert f"image {human_bytes(size)}" in proc.stderr, proc.stderr
        # stderr is a pipe here (COLUMNS=40): the summary stays one line
        assert any(line.startswith("wrote ") and line.endswith(" source)") for line in proc.stderr.splitlines())
        assert " MB" not in proc.stderr  # one unit convention: faktory.units' binary units
        sizes.append(size)
    assert sizes[1] < sizes[0]  # two artifacts (not one closure size printed twice), and --compact is smaller


def test_own_oci_ref_round_trips_through_inspect_and_skopeo(builds):
    root, _, _ = builds
    ref = json.loads((root / "plain" / "faktory.json").read_text())["refs"]["oci"]
    assert ref.count(":") >= 3  # oci:DIR:faktory/NAME:TAG — a ref name holding '/' and ':'
    ours = faktory("inspect", "--json", ref)
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run(["skopeo", "inspect", ref], capture_output=True, text=True, timeout=120)
    assert theirs.returncode == 0, theirs.stderr
    assert json.loads(ours.stdout)["digest"] == json.loads(theirs.stdout)["Digest"]


def test_readme_run_command_publishes_exposed_ports(builds):
    root, plain, _ = builds
    assert "docker run --rm -p 8080:8080 " in (root / "plain" / "README.md").read_text()
    assert "-p 8080:8080" in plain.stdout


def test_convert_sbom_lists_only_what_was_kept_and_validates(builds, fixture_images):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    root, _, _ = builds
    path = root / "plain.spdx.json"
    assert path.stat().st_mode & 0o777 == 0o644
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    names = {p.name for p in document.packages}
    assert {"Flask", "Werkzeug", "libc6", "python", "debian"} <= names
    assert not names & {"apt", "perl-base", "bash", "login"}  # in the image, not in the output
    purls = {ref.locator for p in document.packages for ref in p.external_references}
    assert any(p.startswith("pkg:deb/debian/libc6@") and p.endswith("?arch=amd64&distro=debian-12") for p in purls)

    cdx = json.loads((root / "compact.cdx.json").read_text())  # CycloneDX for the other build: the same packages
    assert "-compact-" in cdx["metadata"]["component"]["name"]
    root_names = {p.name for p in document.packages if p.spdx_id.startswith("SPDXRef-DocumentRoot")}
    assert {c["name"] for c in cdx["components"]} == names - root_names


def test_tag_names_the_output_image(fixture_images, tmp_path):
    out = tmp_path / "o"
    proc = faktory("convert", fixture_images["whiteout"].tag, "--to", "oci", "-o", str(out), "--tag", "shop/app:v2")
    assert proc.returncode == 0, proc.stderr
    index = json.loads((out / "image" / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "shop/app:v2"
    assert proc.stdout.strip().endswith(" shop/app:v2")


@pytest.mark.parametrize("args, message", [
    (["--to", "micro-vm"], "faktory: error: unknown target 'micro-vm': choose from unikraft, km, rumprun, nanos, "
                           "microvm, oci; did you mean 'microvm'?"),
    (["--to", "oci", "--tag", "Bad Tag"], "faktory: error: invalid repository name in image reference 'Bad Tag'"),
    (["--to", "oci", "--sbom", "x.json", "--sbom-format", "spdx"],
     "faktory: error: --sbom-format 'spdx': choose from cyclonedx-json, spdx-json"),
])
def test_bad_convert_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    proc = faktory("convert", "docker-archive:/nonexistent.tar", *args, "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [message]
    assert list(tmp_path.iterdir()) == []


def test_cache_until_without_prune_is_an_error(tmp_path):
    proc = subprocess.run([*FAKTORY, "cache", "--until", "1h"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FAKTORY_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.strip() == "faktory: error: --until goes with --prune"


def test_graph_and_html_reports_are_world_readable(fixture_images, tmp_path):
    ref = fixture_images["whiteout"].tag
    assert faktory("analyze", ref, "--graph", str(tmp_path / "g.dot")).returncode == 0
    proc = faktory("audit", ref, "--targets", "oci", "-q", "--html", str(tmp_path / "r.html"),
                   "--cache-dir", str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    for name in ("g.dot", "r.html"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def test_rumprun_readme_says_where_python_hvt_comes_from(fixture_images, tmp_path):
    out = tmp_path / "r"
    proc = faktory("convert", fixture_images["whiteout"].tag, "--to", "rumprun", "--force", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    readme = (out / "README.md").read_text()
    assert "solo5-hvt" in readme and "rumprun-packages" in readme and "rumprun-bake solo5_hvt python.hvt" in readme
