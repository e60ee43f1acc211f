"""unikraft: a newc initrd + Kraftfile for app-elfloader (runs the image's own glibc python3), the raw QEMU
command line, and with --kernel the kraftkit OCI package (index → manifest → kernel + initrd layers)."""

from __future__ import annotations

import hashlib
import posixpath
import io
import tarfile
from pathlib import Path

import yaml

from faktory.analyzers.model import WARNING, Closure, Finding
from faktory.emitters.base import RUN_ELFLOADER, RUN_LINUX, PUSH_WITH_KERNEL, Artifact, Boot, Capabilities, \
    EmitOptions, ImageOut, LaunchOut
from faktory.emitters.launch import exposed_ports, launch_env, safe_name
from faktory.emitters.oci_layout import OCI_CONFIG, Layout as OciLayout
from faktory.emitters.prepare import cleanup, compact_extra, listing, prepare_rootfs
from faktory.emitters.rootfs import Layout, RootEntry, Rootfs
from faktory.emitters.rules import blocker, judge, single_user
from faktory.emitters.sizing import memory_mb
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
# Unikraft 0.16-0.17: vfscore hands the initrd to ukcpio as it is, and ukcpio reads plain newc/crc cpio only
# (no gzip, zstd or other compression) and extracts every name as its own file (ino and nlink unread: the
# names of a hardlink group before the one with the data would be empty).
COMPACT_NOTES = ("rootfs.cpio is not compressed: Unikraft's initrd extraction (ukcpio) reads plain newc cpio only",
                 "identical files stay separate copies: ukcpio extracts no hardlinks, and a symlink in place of a "
                 "file would change what lstat, realpath and $ORIGIN see")
LAYOUT = Layout(dirs=(("/tmp", 0o1777),), hardlinks=False, compact_notes=COMPACT_NOTES)
# The base runtime compiles these in, and takes at most 8 more from `env.vars` (LIBPOSIX_ENVIRON_LIBPARAM_MAXCOUNT);
# entries past the 8th are silently dropped (checked on a 0.16.3 base-runtime build).
BUILTIN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LD_LIBRARY_PATH": "/usr/local/lib:/usr/lib:/lib", "HOME": "/", "PWD": "/"}
ENV_SLOTS = 8
NON_PIE_KERNELS = ("only an app-elfloader built without assertions (CONFIG_LIBUKDEBUG_ENABLE_ASSERT off) takes "
                   "it; the base runtime's kernel (assertions on) stops at once in libukvmem")


def needs_loader(closure: Closure) -> bool:
    return not closure.interpreter.pie and bool(closure.interpreter.pt_interp)


def in_venv(rootfs: Rootfs, path: str) -> bool:
    """A venv's bin/python: CPython finds pyvenv.cfg next to the name it was started by, so the name stays."""
    return posixpath.join(posixpath.dirname(posixpath.dirname(path)), "pyvenv.cfg") in rootfs.entries


def real_program(rootfs: Rootfs, path: str) -> str:
    if not path.startswith("/") or in_venv(rootfs, path):
        return path
    real = rootfs.resolve(path)
    entry = rootfs.entries.get(real) if real else None
    return real if entry is not None and entry.kind == FILE else path


def unikraft_argv(closure: Closure, rootfs: Rootfs) -> list[str]:
    """argv[0] and every program path in argv is the real file (one vfs lookup, no symlink hop)."""
    argv = [real_program(rootfs, a) for a in closure.launch.argv]
    if needs_loader(closure):
        argv = [real_program(rootfs, closure.interpreter.pt_interp), *argv]
    return argv


def program_names(closure: Closure, rootfs: Rootfs) -> dict[str, list[str]]:
    """Names an overriding command may start with -> the argv prefix that runs it: the loader cannot search
    PATH for a script or run a shebang, so `invctl` becomes [python3.X, /usr/local/bin/invctl]."""
    real = real_program(rootfs, closure.launch.argv[0] if closure.launch.argv else closure.interpreter.path)
    names: dict[str, list[str]] = {}
    for name in (closure.interpreter.path, closure.interpreter.real_path, *closure.launch.argv[:1]):
        names[name] = names[posixpath.basename(name)] = [real]
    for name in ("python", "python3"):
        names.setdefault(name, [real])
    script = closure.launch.script
    if script:
        names[script] = names[posixpath.basename(script)] = [real, script]
    return names


def real_program_names(manifest, argv: list[str]) -> list[str]:
    """An overriding argv (entrypoint + ARGS) launched the way the emitter launches its own."""
    names = manifest.raw.get("programs") or {}
    loader = manifest.raw.get("loader")
    if not argv or (loader and argv[0] == loader) or argv[0] in (manifest.launch.argv[:1] if manifest.launch else ()):
        return argv
    argv = [*names.get(argv[0], [argv[0]]), *argv[1:]]
    return [loader, *argv] if loader else argv


def absolute_scripts(argv: list[str], workdir: str, rootfs: Rootfs) -> list[str]:
    """For a kernel that takes no env (so no PWD and no chdir): relative files in argv made absolute."""
    out: list[str] = []
    for arg in argv:
        joined = posixpath.join(workdir, arg)
        named = out and out[-1] in ("-m", "-c")  # a module name or code, not a file
        out.append(joined if not named and not arg.startswith(("/", "-")) and joined in rootfs.entries else arg)
    return out


def kernel_env(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The env as the base runtime should get it: PWD first (the working dir must never be the one dropped),
    values it compiles in left out, and what exceeds its 8 command-line slots named."""
    ordered = {k: env[k] for k in ("PWD",) if k in env}
    ordered.update((k, v) for k, v in env.items() if k != "PWD")
    kept = {k: v for k, v in ordered.items() if BUILTIN_ENV.get(k) != v}
    names = list(kept)
    return kept, names[ENV_SLOTS:]


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# uk_argnparse (lib/ukargparse) starts an argument only at a character: `""` gives none, so every later argument
# would shift into its place (`faker -s "" address` takes `address` as the separator).
EMPTY_ARG_WHY = "Unikraft's kernel command-line parser makes no argument of an empty string"


class EmptyArgument(FaktoryError):
    pass


def empty_arguments(argv) -> list[int]:
    return [i for i, a in enumerate(argv) if a == ""]


def refuse_empty_arguments(argv) -> None:
    """A run with an empty argument would start the app with its arguments shifted: refuse it, saying why."""
    empty = empty_arguments(argv)
    if empty:
        raise EmptyArgument(f"argument {empty[0]} is empty: {EMPTY_ARG_WHY}, so the arguments after it would shift")


def kernel_cmdline(env: dict[str, str], argv: list[str], *, fstab: bool = True) -> str:
    """`[vfs.fstab=[…]] [env.vars=[ "K=V" … ]] -- argv…`; with no parameters, plain argv (a `--` with nothing
    before it would make itself the program name)."""
    params = [FSTAB] if fstab else []
    if env:
        params.append("env.vars=[ " + " ".join(quote(f"{k}={v}") for k, v in env.items()) + " ]")
    args = " ".join(quote(a) if (" " in a or '"' in a or not a) else a for a in argv)
    return f"{' '.join(params)} -- {args}" if params else args


# Measured on a 0.16.3 base runtime: fstat of a pipe's fd returns ENOSYS (a socketpair's works), so CPython's
# checks on an fd it is given fail there; twisted's waker is a pipe given to signal.set_wakeup_fd.
PIPE_WHY = ("the base runtime's fstat of a pipe fails with ENOSYS: signal.set_wakeup_fd, os.fdopen and open() "
            "over a pipe raise OSError")


class UnikraftEmitter:
    name = "unikraft"
    capabilities = Capabilities(push=PUSH_WITH_KERNEL, run=(RUN_ELFLOADER, RUN_LINUX), options=("kernel",))

    def validate(self, image: Image, options: EmitOptions) -> None:
        if options.kernel is not None and not Path(options.kernel).is_file():
            raise FaktoryError(f"--kernel {options.kernel}: no such file")

    def check(self, closure: Closure, options: EmitOptions = EmitOptions()) -> list[Finding]:
        out = judge(closure, ("fork", "subprocess", "multiprocessing"), self.name, "app-elfloader has no fork/exec")
        out += judge(closure, ("pipe",), self.name, PIPE_WHY, app_severity=WARNING, stdlib=False)
        out += single_user(closure, self.name, "Unikraft")
        interp = closure.interpreter
        if needs_loader(closure):
            out.append(blocker("non-pie", f"{interp.real_path} is not position-independent (ET_EXEC): the base "
                               "runtime's app-elfloader loads only PIE programs and stops at once on it; --force "
                               f"launches it through {interp.pt_interp} with a {PAD_SIZE >> 20} MiB zero-filled "
                               "first initrd entry, which only an elfloader built without assertions takes",
                               self.name, interp.real_path))
        elif not interp.pie:
            out.append(blocker("non-pie", f"{interp.real_path} is a static non-PIE executable: app-elfloader "
                               "cannot load it", self.name, interp.real_path))
        for i in empty_arguments(closure.launch.argv):
            out.append(blocker("empty-argument", f"argument {i} of the command is empty: {EMPTY_ARG_WHY}, so the "
                               "arguments after it would shift", self.name))
        return out

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        rootfs, report = prepare_rootfs(image, closure, LAYOUT, options, outdir)
        rootfs.flatten_symlinks()
        prelude = [RootEntry(PAD_PATH, FILE, 0o644, PAD_SIZE, data=bytes(PAD_SIZE))] if needs_loader(closure) else []
        with open(outdir / ROOTFS, "wb") as out:
            rootfs.write_cpio(out, prelude=prelude)
        cleanup(outdir)
        workdir = closure.launch.workdir or image.config.working_dir or "/"
        full_env = launch_env(image, closure)
        full_env["PWD"] = workdir  # the base runtime chdirs to $PWD (APPELFLOADER_VFSEXEC_ENVPWD), else starts in /
        env, beyond = kernel_env(full_env)
        argv = unikraft_argv(closure, rootfs)
        name = options.name or safe_name(image.ref)
        kraftfile = {"spec": "v0.6", "name": name, "runtime": RUNTIME, "rootfs": f"./{ROOTFS}", "cmd": argv,
                     "env": env}
        (outdir / KRAFTFILE).write_text(yaml.safe_dump(kraftfile, sort_keys=False, width=1 << 16))
        ports = exposed_ports(image)
        cmdline = kernel_cmdline(env, argv)
        plain = kernel_cmdline({}, absolute_scripts(argv, workdir, rootfs), fstab=False)
        memory = memory_mb((outdir / ROOTFS).stat().st_size)
        qemu = qemu_command(outdir, ports, cmdline, memory)
        details = {
            "kraftfile": kraftfile,
            "cmdline": cmdline,
            "cmdline_without_env": plain,
            "qemu": qemu,
            "memory_mb": memory,
            "env_beyond_slots": beyond,
            "programs": program_names(closure, rootfs),
            "loader": argv[0] if needs_loader(closure) else None,
            "skipped": rootfs.skipped,
            "payload_size": rootfs.payload_size,  # file bytes (a hardlinked name counts once)
            **compact_extra(report),
        }
        image_out = None
        if options.kernel:
            package = write_package(outdir / PACKAGE_DIR, Path(options.kernel), outdir / ROOTFS, name, argv, env)
            details["package"] = package
            image_out = ImageOut(PACKAGE_DIR, package["ref"], package["manifest_digest"])
        forwards = " ".join(f"-p {p}:{p}" for p in ports)
        run = f"cd {outdir} && kraft run -M {memory}M {forwards} .".replace("  ", " ")
        notes = ("Without kraft: boot a Unikraft app-elfloader kernel (the `base` runtime's, or one built with its "
                 "options) with\n\n```sh\n" + qemu + "\n```\n\n"
                 "The environment (with `PWD`, the image's WorkingDir, which the base runtime changes to) goes in "
                 "`env.vars`, which needs a kernel with `LIBPOSIX_ENVIRON_LIBPARAM` (the base runtime has it). "
                 "A server's threads need clone (CONFIG_LIBPOSIX_PROCESS_CLONE on 0.16). "
                 "A kernel without it takes plain argv only; the script paths are then absolute, so the app still "
                 "starts (it runs in `/`, so its own relative file opens need `env.vars`):\n\n```\n" + plain +
                 "\n```\n\n"
                 f"Check it: `faktory run {outdir} --kernel ELFLOADER_KERNEL` (or without `--kernel`: the initrd "
                 "under Linux).")
        if beyond:
            notes += (f"\n\nThe base runtime takes {ENV_SLOTS} variables on the command line: "
                      f"{', '.join(beyond)} would be dropped; build the kernel with a larger "
                      "CONFIG_LIBPOSIX_ENVIRON_LIBPARAM_MAXCOUNT.")
        if needs_loader(closure):
            notes += (f"\n\nThe interpreter is not position-independent: it is launched through its loader "
                      f"({argv[0]}) with a {PAD_SIZE >> 20} MiB zero-filled first initrd entry; "
                      + NON_PIE_KERNELS + ".")
        # the launch record carries the whole env (under Linux the init sets it all; the ELF loader's cmdline
        # is rebuilt from it the same way as here)
        launch = LaunchOut(tuple(argv), full_env, workdir, tuple(image.config.entrypoint or ()))
        return Artifact(self.name, outdir, {}, run, image=image_out,
                        boot=Boot(ROOTFS, cmdline, memory), launch=launch,
                        contents={ROOTFS: tuple([p.path.lstrip("/") for p in prelude] + listing(rootfs))},
                        ports=tuple(ports), notes=notes, details=details)


def qemu_command(outdir: Path, ports: list[int], cmdline: str, memory: int) -> str:
    fwd = "".join(f",hostfwd=tcp::{p}-:{p}" for p in ports)
    net = (f" -netdev user,id=n0{fwd} -device virtio-net-pci,netdev=n0" if ports else "")
    netcfg = " netdev.ip=10.0.2.15/24:10.0.2.2" if ports else ""
    append = cmdline.replace(" -- ", netcfg + " -- ", 1).replace("'", "'\\''")
    return (f"qemu-system-x86_64 -accel tcg -cpu max -m {memory}M -nographic -no-reboot{net} "
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
