"""Hand-made images for tests: layer tars built in memory, written as `docker save` tarballs or OCI layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class LayerTar:
    """Builder for one layer tar."""

    buf: io.BytesIO = field(default_factory=io.BytesIO)

    def __post_init__(self):
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
                               errors="surrogateescape")

    def _info(self, name: str, type_: bytes, mode: int, **kw) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = type_
        info.mode = mode
        info.mtime = kw.pop("mtime", 1_700_000_000)
        for k, v in kw.items():
            setattr(info, k, v)
        return info

    def dir(self, name: str, mode: int = 0o755, **kw) -> "LayerTar":
        self.tf.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))
        return self

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, **kw) -> "LayerTar":
        info = self._info(name, tarfile.REGTYPE, mode, **kw)
        info.size = len(data)
        self.tf.addfile(info, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str, **kw) -> "LayerTar":
        self.tf.addfile(self._info(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw))
        return self

    def hardlink(self, name: str, target: str, mode: int = 0o644, **kw) -> "LayerTar":
        self.tf.addfile(self._info(name, tarfile.LNKTYPE, mode, linkname=target, **kw))
        return self

    def whiteout(self, path: str) -> "LayerTar":
        head, _, base = path.rpartition("/")
        return self.file(f"{head}/.wh.{base}" if head else f".wh.{base}")

    def opaque(self, dirpath: str) -> "LayerTar":
        return self.file(f"{dirpath.rstrip('/')}/.wh..wh..opq")

    def fifo(self, name: str, mode: int = 0o644) -> "LayerTar":
        self.tf.addfile(self._info(name, tarfile.FIFOTYPE, mode))
        return self

    def bytes(self) -> bytes:
        self.tf.close()
        return self.buf.getvalue()


def config_for(layers: list[bytes], *, cmd=("/bin/app",), env=("PATH=/usr/bin",), history=None) -> bytes:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": list(env), "Cmd": list(cmd), "WorkingDir": "/", "ExposedPorts": {"8080/tcp": {}},
                   "Labels": {"test": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
        "history": history if history is not None else
        [{"created_by": "ENV PATH=/usr/bin", "empty_layer": True}]
        + [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }
    return json.dumps(doc).encode()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def write_docker_archive(path: Path, layers: list[bytes], *, tag: str = "fab/test:latest", config: bytes | None = None,
                         tamper_layer: int | None = None) -> Path:
    """A legacy-format `docker save` tarball (what `docker load` takes)."""
    config = config or config_for(layers)
    with tarfile.open(path, "w") as tf:
        names = []
        for i, layer in enumerate(layers):
            name = f"{sha(layer)[7:]}/layer.tar"
            data = layer
            if tamper_layer == i:
                data = layer[:-1024] + b"\1" * 1024
            _add(tf, name, data)
            names.append(name)
        cfg_name = f"{sha(config)[7:]}.json"
        _add(tf, cfg_name, config)
        _add(tf, "manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": names}]).encode())
    return path


def compress(data: bytes, how: str) -> tuple[bytes, str]:
    if how == "gzip":
        return gzip.compress(data, compresslevel=1), "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data), "application/vnd.oci.image.layer.v1.tar+zstd"
    return data, "application/vnd.oci.image.layer.v1.tar"


def write_blob(root: Path, data: bytes) -> dict:
    d = root / "blobs" / "sha256"
    d.mkdir(parents=True, exist_ok=True)
    (d / sha(data)[7:]).write_bytes(data)
    return {"digest": sha(data), "size": len(data)}


def manifest_for(root: Path, layers: list[bytes], compression: str = "gzip", config: bytes | None = None) -> bytes:
    config = config or config_for(layers)
    descs = []
    for layer in layers:
        blob, media_type = compress(layer, compression)
        descs.append({"mediaType": media_type, **write_blob(root, blob)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **write_blob(root, config)},
        "layers": descs,
    }
    return json.dumps(manifest).encode()


def write_oci_layout(root: Path, manifests: list[tuple[bytes, dict | None, str | None]]) -> Path:
    """An OCI layout; each manifest given as (manifest bytes, platform or None, ref name or None)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    for data, platform, name in manifests:
        desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **write_blob(root, data)}
        if platform:
            desc["platform"] = platform
        if name:
            desc["annotations"] = {"org.opencontainers.image.ref.name": name}
        index["manifests"].append(desc)
    (root / "index.json").write_text(json.dumps(index))
    return root


def push_blob(session, base: str, repo: str, data: bytes) -> dict:
    """Monolithic blob upload (distribution API: POST then PUT ?digest=)."""
    resp = session.post(f"{base}/v2/{repo}/blobs/uploads/")
    resp.raise_for_status()
    location = resp.headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    resp = session.put(f"{location}{sep}digest={sha(data)}", data=data,
                       headers={"Content-Type": "application/octet-stream"})
    resp.raise_for_status()
    return {"digest": sha(data), "size": len(data)}


def push_manifest(session, base: str, repo: str, reference: str, data: bytes, media_type: str) -> str:
    resp = session.put(f"{base}/v2/{repo}/manifests/{reference}", data=data, headers={"Content-Type": media_type})
    resp.raise_for_status()
    return sha(data)


def push_image(session, base: str, repo: str, layers: list[bytes], *, compression: str = "gzip",
               architecture: str = "amd64", tag: str | None = None) -> tuple[str, bytes]:
    config = json.loads(config_for(layers))
    config["architecture"] = architecture
    config_bytes = json.dumps(config).encode()
    descs = []
    for layer in layers:
        blob, media_type = compress(layer, compression)
        descs.append({"mediaType": media_type, **push_blob(session, base, repo, blob)})
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **push_blob(session, base, repo, config_bytes)},
        "layers": descs,
    }).encode()
    digest = push_manifest(session, base, repo, tag or sha(manifest), manifest,
                           "application/vnd.oci.image.manifest.v1+json")
    return digest, manifest


def write_docker_archive_multi(path: Path, images: dict[str, list[bytes]]) -> Path:
    """A `docker save` of several images (`docker save a:1 b:2`), layers shared by content."""
    entries, written = [], set()
    with tarfile.open(path, "w") as tf:
        for tag, layers in images.items():
            names = []
            for layer in layers:
                name = f"{sha(layer)[7:]}/layer.tar"
                if name not in written:
                    _add(tf, name, layer)
                    written.add(name)
                names.append(name)
            config = config_for(layers, cmd=(f"/bin/{tag.split(':')[0]}",))
            cfg_name = f"{sha(config)[7:]}.json"
            _add(tf, cfg_name, config)
            entries.append({"Config": cfg_name, "RepoTags": [tag], "Layers": names})
        _add(tf, "manifest.json", json.dumps(entries).encode())
    return path
