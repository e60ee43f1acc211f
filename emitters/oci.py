"""oci: the minimal rootfs as a single-layer OCI image (layout dir + docker-archive), config carried over."""

from __future__ import annotations

from pathlib import Path

from faktory.analyzers.model import Closure, Finding
from faktory.emitters.base import PUSH_IMAGE, RUN_DOCKER, Artifact, Capabilities, EmitOptions, ImageOut
from faktory.emitters.launch import exposed_ports, safe_name
from faktory.emitters.oci_layout import write_docker_archive, write_oci_image
from faktory.emitters.prepare import cleanup, compact_extra, listing, prepare_rootfs
from faktory.emitters.rootfs import Layout
from faktory.image import Image

LAYOUT_DIR = "image"
ARCHIVE = "image.tar"
# Files the container runtime itself consults (USER lookup, name resolution) when the image has them.
RUNTIME_FILES = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
LAYOUT = Layout(dirs=(("/tmp", 0o1777),), extra_paths=RUNTIME_FILES, compressed=True)


def publish_flags(image: Image) -> str:
    """` -p 8080:8080` per EXPOSEd tcp port: the README's command reaches the app as `docker run -P` would."""
    return "".join(f" -p {port}:{port}" for port in exposed_ports(image))


def out_tag(image: Image, options: EmitOptions, target: str = "oci") -> str:
    """--tag, else a tag that tells builds apart: target, --compact, and the source's digest."""
    if options.tag:
        return options.tag
    source = (image.digest or "").split(":")[-1][:12]
    flavour = "-compact" if options.compact else ""
    return f"faktory/{options.name or safe_name(image.ref)}:{target}{flavour}" + (f"-{source}" if source else "")


class OciEmitter:
    name = "oci"
    capabilities = Capabilities(push=PUSH_IMAGE, run=(RUN_DOCKER,))

    def validate(self, image: Image, options: EmitOptions) -> None:
        pass

    def check(self, closure: Closure, options: EmitOptions = EmitOptions()) -> list[Finding]:
        return []

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        rootfs, report = prepare_rootfs(image, closure, LAYOUT, options, outdir)
        tag = out_tag(image, options)
        manifest, layers = write_oci_image(outdir / LAYOUT_DIR, [rootfs.write_tar], image.raw_config, tag,
                                           f"faktory convert --to oci {image.ref}")
        cleanup(outdir)
        write_docker_archive(outdir / LAYOUT_DIR, outdir / ARCHIVE, tag)
        image_size = manifest.size + sum(l.size for l in layers)
        run = f"docker load -i {outdir}/{ARCHIVE} && docker run --rm{publish_flags(image)} {tag}"
        return Artifact(self.name, outdir, {}, run,
                        image=ImageOut(LAYOUT_DIR, tag, manifest.digest, ARCHIVE, image_size),
                        contents={"layer": tuple(listing(rootfs))},
                        details={"uncompressed_layer_size": rootfs.payload_size,
                                 "refs": {"oci": f"oci:{outdir}/{LAYOUT_DIR}:{tag}",
                                          "docker-archive": f"docker-archive:{outdir}/{ARCHIVE}"},
                                 "skipped": rootfs.skipped, **compact_extra(report)})


EMITTER = OciEmitter()
