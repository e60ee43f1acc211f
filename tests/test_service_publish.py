"""Publishing results to a real registry: image layouts, oras artifacts, credentials from DOCKER_CONFIG,
idempotent re-pushes, and tag resolution for untrusted (Docker Hub style) triggers.

Hand-made content only; a private docker-registry per module (one plain, one with htpasswd).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile

import oras.provider
import pytest

from faktory.emitters.base import ImageOut
from faktory.errors import AuthError
from faktory.registry import auth
from faktory.service.config import ServiceConfig
from faktory.service.publish import (
    Destination,
    already_published,
    artifact_type,
    publish,
    result_annotations,
)
from faktory.registry.auth import Anonymous
from faktory.registry.client import RegistryClient
from faktory.service.rules import parse_rules
from faktory.service.service import Service
from tests.support.services import start_registry
from tests.test_service_helpers import free_port, skopeo_inspect_raw

SOURCE = "sha256:" + "5" * 64
ANNOTATIONS = result_annotations("127.0.0.1:1/src:v1", "127.0.0.1:1/src@" + SOURCE, SOURCE, "oci")


def write_layout(root, text: bytes = b"print('hi')\n"):
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes):
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return "sha256:" + digest, len(data)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("app/main.py")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    layer, layer_size = put(buf.getvalue())
    config, config_size = put(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/app/main.py"]},
                                          "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode())
    manifest, manifest_size = put(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
    }).encode())
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": manifest_size}]}))
    return root


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    handle = start_registry(free_port(), tmp_path_factory.mktemp("publish-registry"))
    yield handle
    handle.stop()


def test_layout_is_pushed_as_image_with_source_annotations_and_repush_is_harmless(tmp_path, registry):
    outdir = tmp_path / "out"
    write_layout(outdir / "image")
    client = RegistryClient(registry.addr)
    dest = Destination.parse(f"{registry.addr}/apps/web:v1-oci")
    described = ImageOut("image", "web:v1", "")
    digest = publish(client, outdir, dest, "oci", ANNOTATIONS, described)
    manifest = skopeo_inspect_raw(str(dest))
    assert manifest["annotations"]["org.opencontainers.image.base.digest"] == SOURCE
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert already_published(client, dest, SOURCE, "oci") == digest
    assert already_published(client, dest, SOURCE, "microvm") is None
    assert publish(client, outdir, dest, "oci", ANNOTATIONS, described) == digest  # same bytes, same digest


def test_layout_that_escapes_outdir_is_not_trusted(tmp_path, registry):
    outdir = tmp_path / "out"
    (outdir / "kernel").parent.mkdir(parents=True)
    (outdir / "kernel").write_bytes(b"k")
    write_layout(tmp_path / "elsewhere")
    client = RegistryClient(registry.addr)
    dest = Destination.parse(f"{registry.addr}/apps/web:v1-escape")
    publish(client, outdir, dest, "microvm", ANNOTATIONS, ImageOut("../elsewhere", "x:y", ""))
    assert skopeo_inspect_raw(str(dest))["artifactType"] == artifact_type("microvm")


def test_non_image_output_is_an_oras_artifact(tmp_path, registry):
    outdir = tmp_path / "out"
    (outdir / "boot").mkdir(parents=True)
    (outdir / "boot" / "vmlinuz").write_bytes(b"\x7fELF kernel bytes")
    (outdir / "initrd.cpio").write_bytes(b"070701" + b"0" * 100)
    (outdir / "faktory.json").write_text("{}")
    client = RegistryClient(registry.addr)
    dest = Destination.parse(f"{registry.addr}/apps/web:v1-microvm")
    annotations = result_annotations("127.0.0.1:1/src:v1", "127.0.0.1:1/src@" + SOURCE, SOURCE, "microvm")
    digest = publish(client, outdir, dest, "microvm", annotations)
    manifest = skopeo_inspect_raw(str(dest))
    assert manifest["artifactType"] == "application/vnd.faktory.microvm.v1"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert manifest["annotations"]["dev.faktory.source.digest"] == SOURCE
    titles = sorted(layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"])
    assert titles == ["boot/vmlinuz", "faktory.json", "initrd.cpio"]
    # pullable with oras
    pulled_dir = tmp_path / "pulled"
    (pulled_dir / "boot").mkdir(parents=True)
    oras_client = oras.provider.Registry(hostname=registry.addr, insecure=True)
    oras_client.pull(target=str(dest), outdir=str(pulled_dir))
    assert (pulled_dir / "boot" / "vmlinuz").read_bytes() == b"\x7fELF kernel bytes"
    assert (pulled_dir / "initrd.cpio").read_bytes().startswith(b"070701")
    assert publish(client, outdir, dest, "microvm", annotations) == digest


def test_credentials_come_from_docker_config(tmp_path, monkeypatch):
    handle = start_registry(free_port(), tmp_path / "auth-registry", htpasswd=("pusher", "s3cret-pw"))
    try:
        dest = Destination.parse(f"{handle.addr}/apps/web:v1-oci")
        write_layout(tmp_path / "layout")
        anonymous = RegistryClient(handle.addr, Anonymous())
        with pytest.raises(AuthError):
            publish(anonymous, tmp_path / "layout", dest, "oci", ANNOTATIONS)
        config_dir = tmp_path / "docker-config"
        config_dir.mkdir()
        wrong = base64.b64encode(b"pusher:wrong").decode()
        (config_dir / "config.json").write_text(json.dumps({"auths": {handle.addr: {"auth": wrong}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
        with pytest.raises(AuthError):
            publish(RegistryClient(handle.addr), tmp_path / "layout", dest,
                    "oci", ANNOTATIONS)
        right = base64.b64encode(b"pusher:s3cret-pw").decode()
        (config_dir / "config.json").write_text(json.dumps({"auths": {f"http://{handle.addr}": {"auth": right}}}))
        found = auth.DefaultKeychain().resolve(handle.addr)
        assert found == auth.Credentials("pusher", "s3cret-pw")
        digest = publish(RegistryClient(handle.addr, auth.DefaultKeychain(found)), tmp_path / "layout", dest, "oci", ANNOTATIONS)
        assert digest.startswith("sha256:")
    finally:
        handle.stop()


def test_untrusted_trigger_resolves_the_tag_itself(tmp_path, registry):
    write_layout(tmp_path / "layout")
    client = RegistryClient(registry.addr)
    pushed = publish(client, tmp_path / "layout", Destination.parse(f"{registry.addr}/hub/web:latest"), "oci", {})
    service = Service(ServiceConfig(state_dir=tmp_path / "state"),
                      rules=parse_rules('rules: [{repository: "hub/*", targets: [oci, microvm]}]'))
    accepted = service.resolve_and_accept(registry.addr, "hub/web", "latest", "dockerhub")
    jobs = [service.store.get(job_id) for job_id in accepted.queued]
    assert {j.target for j in jobs} == {"oci", "microvm"}
    assert {j.digest for j in jobs} == {pushed}
    assert service.resolve_and_accept(registry.addr, "hub/web", "latest", "dockerhub").deduped


def test_an_older_push_does_not_overwrite_a_newer_one(tmp_path, registry):
    from faktory.service.jobs import QUEUED, Job
    from faktory.service.pipeline import SkipJob, _still_current

    client = RegistryClient(registry.addr)
    dest = Destination.parse(f"{registry.addr}/apps/moving:v1")
    old = publish(client, write_layout(tmp_path / "old", b"print(1)\n"), dest, "oci", {})
    job = Job(id="j", state=QUEUED, registry=registry.addr, repository="apps/moving", tag="v1", digest=old,
              target="oci", destination=f"{registry.addr}/apps/moving:v1-oci")
    _still_current(job, lambda r: client)  # still what the tag names: go ahead
    publish(client, write_layout(tmp_path / "new", b"print(2)\n"), dest, "oci", {})
    with pytest.raises(SkipJob, match="superseded"):
        _still_current(job, lambda r: client)


def test_kraftkit_package_goes_out_as_an_index_keeping_its_annotations(tmp_path, registry):
    from faktory.emitters.unikraft import PACKAGE_DIR, write_package

    (tmp_path / "kernel").write_bytes(b"\x7fELF not really a kernel")
    (tmp_path / "rootfs.cpio").write_bytes(b"070701" + b"0" * 200)
    outdir = tmp_path / "out"
    package = write_package(outdir / PACKAGE_DIR, tmp_path / "kernel", tmp_path / "rootfs.cpio", "web",
                            ["/usr/bin/python3", "app.py"], {"PORT": "8080"})
    client = RegistryClient(registry.addr)
    dest = Destination.parse(f"{registry.addr}/apps/web:v1-unikraft")
    annotations = result_annotations("127.0.0.1:1/src:v1", "127.0.0.1:1/src@" + SOURCE, SOURCE, "unikraft")
    publish(client, outdir, dest, "unikraft", annotations, ImageOut(package["layout"], package["ref"], package["manifest_digest"]))
    index = skopeo_inspect_raw(str(dest))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert "sh.kraftkit.version" in index["annotations"]
    assert index["annotations"]["dev.faktory.source.digest"] == SOURCE
    (child,) = index["manifests"]
    assert child["platform"]["os"] == "qemu" and child["digest"] == package["manifest_digest"]
    manifest = skopeo_inspect_raw(f"{registry.addr}/apps/web@{child['digest']}")
    assert len(manifest["layers"]) == 2  # kernel and initrd, all blobs present (the registry checked on PUT)


def test_same_digest_under_another_tag_is_retagged_not_converted(tmp_path, registry):
    from faktory.service.jobs import QUEUED, Job
    from faktory.service.pipeline import convert_and_publish

    client = RegistryClient(registry.addr)
    source = publish(client, write_layout(tmp_path / "src", b"print(3)\n"), 
                     Destination.parse(f"{registry.addr}/apps/twin:latest"), "oci", {})
    annotations = result_annotations(f"{registry.addr}/apps/twin:v1", "x", source, "oci")
    first = Destination.parse(f"{registry.addr}/apps/twin:v1-oci")
    result = publish(client, write_layout(tmp_path / "out", b"print(4)\n"), first, "oci", annotations)
    job = Job(id="j", state=QUEUED, registry=registry.addr, repository="apps/twin", tag="latest", digest=source,
              target="oci", destination=f"{registry.addr}/apps/twin:latest-oci")
    phases: list[str] = []
    outcome = convert_and_publish(job, lambda r: client, phases.append, workdir=tmp_path / "work",
                                  previous=f"{first}@{result}")
    assert phases == ["retag"] and outcome.reused and outcome.published
    assert outcome.result_ref == f"{registry.addr}/apps/twin:latest-oci@{result}"
    assert skopeo_inspect_raw(f"{registry.addr}/apps/twin:latest-oci")["annotations"]["dev.faktory.source.digest"] == source


def test_a_faktory_result_is_never_converted_again(tmp_path, registry):
    from faktory.service.jobs import QUEUED, Job
    from faktory.service.pipeline import SkipJob, convert_and_publish

    client = RegistryClient(registry.addr)
    result = publish(client, write_layout(tmp_path / "out", b"print(5)\n"),
                     Destination.parse(f"{registry.addr}/apps/loop:v1-oci"), "oci", ANNOTATIONS)
    job = Job(id="j", state=QUEUED, registry=registry.addr, repository="apps/loop", tag="v1-oci", digest=result,
              target="oci", destination=f"{registry.addr}/apps/loop:v1-oci-oci")
    phases: list[str] = []
    with pytest.raises(SkipJob, match="itself a faktory output"):
        convert_and_publish(job, lambda r: client, phases.append, workdir=tmp_path / "work")
    assert phases == ["pull"]


def test_large_blob_goes_up_in_chunks(tmp_path, registry):
    from faktory.registry.client import CHUNKED_ABOVE

    big = tmp_path / "big"
    with open(big, "wb") as f:
        for i in range(CHUNKED_ABOVE // (1 << 20) + 3):
            f.write(bytes([i % 251]) * (1 << 20))
    digest = "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest()
    client = RegistryClient(registry.addr)
    client.push_blob("apps/big", big, digest, big.stat().st_size)
    assert client.blob_size("apps/big", digest) == big.stat().st_size
