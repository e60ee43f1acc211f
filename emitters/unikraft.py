"""unikraft: a newc initrd + Kraftfile for app-elfloader (runs the image's own glibc python3), the raw QEMU
command line, and with --kernel the kraftkit OCI package (index → manifest → kernel + initrd layers)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import yaml

from faktory.analyzers.model import BLOCKER, Closure, Finding
from faktory.emitters.base import Artifact, EmitOptions
from faktory.emitters.launch import exposed_ports, launch_env, safe_name
from faktory.emitters.oci_layout import OCI_CONFIG, Layout as OciLayout
from faktory.emitters.prepare import cleanup, compact_extra, listing, prepare_rootfs
from faktory.emitters.rootfs import Layout, RootEntry
from faktory.emitters.rules import judge, warning
from faktory.errors import FaktoryError
from faktory.image import FILE, Image

ROOTFS = "rootfs.cpio"
KRAFTFILE = "Kraftfile"
PACKAGE_DIR = "package"
RUNTIME = "base:latest"  # Unikraft's ELF-loader runtime
FSTAB = 'vfs.fstab=[ "initrd0:/:extract::ramfs=1:" ]'
# A non-PIE interpreter is loaded at its fixed addresses, which can overlap where QEMU puts the initrd:
# a zero-filled first cpio entry moves the rest of the archive out of the way (measured: ~12 MiB is enough).
PAD_PATH = "/.faktory-pad"
PAD_SIZE = 12 << 20
KRAFTKIT_VERSION = "0.11.6"  # the package format version written (kraftkit refuses packages without one)
MEMORY_MB = 512
LAYOUT = Layout(dirs=(("/tmp", 0o1777),))


def needs_loader(closure: Closure) -> bool:
    return not closure.interpreter.pie and bool(closure.interpreter.pt_interp)


def unikraft_argv(closure: Closure) -> list[str]:
    argv = list(closure.launch.argv)
    if needs_loader(closure):
        argv = [closure.interpreter.pt_interp, *argv]
    return argv


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kernel_cmdline(env: dict[str, str], argv: list[str]) -> str:
    envs = " ".join(quote(f"{k}={v}") for k, v in env.items())
    args = " ".join(quote(a) if (" " in a or '"' in a or not a) else a for a in argv)
    return f"{FSTAB} env.vars=[ {envs} ] -- {args}"


class UnikraftEmitter:
    name = "unikraft"

    def check(self, closure: Closure) -> list[Finding]:
        out = judge(closure, ("fork", "subprocess", "multiprocessing"), self.name, "app-elfloader has no fork/exec")
        interp = closure.interpreter
        if needs_loader(closure):
            out.append(warning("non-pie", f"{interp.real_path} is not position-independent: launched through "
                               f"{interp.pt_interp} with a {PAD_SIZE >> 20} MiB zero-filled first initrd entry",
                               self.name, interp.real_path))
        elif not interp.pie:
            out.append(Finding("non-pie", f"{interp.real_path} is a static non-PIE executable: app-elfloader "
                               "cannot load it", BLOCKER, interp.real_path, self.name))
        return out

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        rootfs, report = prepare_rootfs(image, closure, LAYOUT, options, outdir)
        prelude = [RootEntry(PAD_PATH, FILE, 0o644, PAD_SIZE, data=bytes(PAD_SIZE))] if needs_loader(closure) else []
        with open(outdir / ROOTFS, "wb") as out:
            rootfs.write_cpio(out, prelude=prelude)
        cleanup(outdir)
        env = launch_env(image, closure)
        argv = unikraft_argv(closure)
        workdir = closure.launch.workdir or image.config.working_dir or "/"
        name = options.name or safe_name(image.ref)
        kraftfile = {"spec": "v0.6", "name": name, "runtime": RUNTIME, "rootfs": f"./{ROOTFS}", "cmd": argv,
                     "env": env}
        (outdir / KRAFTFILE).write_text(yaml.safe_dump(kraftfile, sort_keys=False, width=1 << 16))
        ports = exposed_ports(image)
        cmdline = kernel_cmdline(env, argv)
        extra = {
            "kraftfile": kraftfile,
            "cmdline": cmdline,
            "qemu": qemu_command(outdir, ports, cmdline),
            "launch": {"argv": list(closure.launch.argv), "env": env, "workdir": workdir,
                       "entrypoint": list(image.config.entrypoint or [])},
            "ports": ports,
            "memory_mb": MEMORY_MB,
            "contents": {ROOTFS: [p.path.lstrip("/") for p in prelude] + listing(rootfs)},
            "skipped": rootfs.skipped,
            **compact_extra(report),
        }
        if options.kernel:
            extra["package"] = write_package(outdir / PACKAGE_DIR, Path(options.kernel), outdir / ROOTFS, name,
                                             argv, env)
        forwards = " ".join(f"-p {p}:{p}" for p in ports)
        run = f"cd {outdir} && kraft run -M {MEMORY_MB}M {forwards} .".replace("  ", " ")
        readme = ("Without kraft: boot a Unikraft app-elfloader kernel with\n\n```sh\n" + extra["qemu"] + "\n```\n\n"
                  "Check it under Linux: `faktory run " + str(outdir) + "`")
        extra["readme"] = readme
        return Artifact(self.name, outdir, {}, run, extra=extra)


def qemu_command(outdir: Path, ports: list[int], cmdline: str) -> str:
    fwd = "".join(f",hostfwd=tcp::{p}-:{p}" for p in ports)
    net = (f" -netdev user,id=n0{fwd} -device virtio-net-pci,netdev=n0" if ports else "")
    netcfg = " netdev.ip=10.0.2.15/24:10.0.2.2" if ports else ""
    append = cmdline.replace(" -- ", netcfg + " -- ", 1).replace("'", "'\\''")
    return (f"qemu-system-x86_64 -accel tcg -cpu max -m {MEMORY_MB}M -nographic -no-reboot{net} "
            f"-kernel ELFLOADER_KERNEL -initrd {outdir}/{ROOTFS} -append '{append}'")


def _single_file_tar(path_in_tar: str, source: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(path_in_tar.lstrip("/"))
        info.size = source.stat().st_size
        info.mode = 0o644
        with open(source, "rb") as fh:
            tar.addfile(info, fh)
    return buf.getvalue()


def write_package(root: Path, kernel: Path, initrd: Path, name: str, argv: list[str], env: dict[str, str]) -> dict:
    """The kraftkit OCI package: index → manifest (os qemu, x86_64) → kernel and initrd single-file layers."""
    if not kernel.is_file():
        raise FaktoryError(f"--kernel {kernel}: no such file")
    layout = OciLayout(root)
    version = {"sh.kraftkit.version": KRAFTKIT_VERSION}
    ref = f"{name}:latest"
    kernel_layer = layout.add_bytes(_single_file_tar("/unikraft/bin/kernel", kernel),
                                    "application/vnd.oci.image.layer.v1.tar",
                                    {"org.unikraft.kernel.image": "/unikraft/bin/kernel"})
    initrd_layer = layout.add_bytes(_single_file_tar("/unikraft/bin/initrd", initrd),
                                    "application/vnd.oci.image.layer.v1.tar",
                                    {"org.unikraft.kernel.initrd": "/unikraft/bin/initrd"})
    diff_ids = ["sha256:" + hashlib.sha256(layout.blob_path(l).read_bytes()).hexdigest()
                for l in (kernel_layer, initrd_layer)]
    config = layout.add_json({
        "architecture": "x86_64", "os": "qemu",
        "config": {"Cmd": argv, "Env": [f"{k}={v}" for k, v in env.items()]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }, OCI_CONFIG)
    annotations = {**version, "org.unikraft.image.name": name, "org.opencontainers.image.ref.name": ref}
    manifest = layout.add_manifest(config, [kernel_layer, initrd_layer], annotations)
    layout.write_index([manifest.descriptor(platform={"architecture": "x86_64", "os": "qemu"},
                                            annotations=annotations)], annotations=version)
    return {"layout": PACKAGE_DIR, "ref": ref, "manifest_digest": manifest.digest, "kraftkit_version": KRAFTKIT_VERSION}


EMITTER = UnikraftEmitter()
