"""km: an OCI image for Kontain (`docker run --runtime=krun`): the app code and site-packages of the source
layered on a runenv-python base (`--base REF`), whose static python.km replaces the image's interpreter.

Env = base Env + source Env; Entrypoint, Cmd and WorkingDir come from the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from faktory.analyzers.elf import parse_elf
from faktory.analyzers.model import Closure, Finding
from faktory.emitters.base import PUSH_IMAGE, RUN_DOCKER, Artifact, Capabilities, EmitOptions, ImageOut
from faktory.emitters.oci import out_tag, publish_flags
from faktory.emitters.oci_layout import write_docker_archive, write_oci_image
from faktory.emitters.prepare import cleanup, compact_extra, listing, prepare_rootfs
from faktory.emitters.rootfs import Layout, RootEntry, Rootfs
from faktory.emitters.rules import blocker, extension_findings, interpreter_flags, judge
from faktory.errors import ConversionBlocked, FaktoryError
from faktory.image import BLOCK, CHAR, DIR, FILE, SYMLINK, Image

LAYOUT_DIR = "image"
ARCHIVE = "image.tar"
STDLIB_RE = re.compile(r"^(/usr/local/lib|/usr/lib|/opt/[^/]+/lib)/python(3\.\d+)/os\.py$")
KM_BIN_DIRS = ("/usr/local/bin", "/opt/kontain/bin", "/usr/bin")
# A base that stands in for a Kontain runenv declares its interpreter (the fixtures' runenv-python-3.12 does).
KM_PYTHON_LABEL = "org.faktory.km-base.python"


class BaseImageNeeded(FaktoryError):
    pass


@dataclass(frozen=True)
class KmBase:
    """What km needs from a runenv base: python.km (static, no loader) of X.Y and its stdlib."""

    version: str  # "3.12"
    stdlib: str  # "/usr/local/lib/python3.12"
    interpreter: str  # "/usr/local/bin/python3.12"


def stdlib_versions(image: Image) -> dict[str, str]:
    """X.Y -> stdlib dir, from the landmark (lib/python3.X/os.py), newest first."""
    out: dict[str, str] = {}
    for root in ("/usr/local/lib", "/usr/lib"):
        try:
            names = image.fs.listdir(root)
        except Exception:
            continue
        for name in sorted(names, reverse=True):
            if re.fullmatch(r"python3\.\d+", name) and image.fs.stat(f"{root}/{name}/os.py") is not None:
                out.setdefault(name[len("python"):], f"{root}/{name}")
    return out


def _static_elf(image: Image, path: str) -> bool:
    entry = image.fs.stat(path)
    if entry is None or entry.kind != FILE:
        return False
    with image.fs.open(path) as fh:
        info = parse_elf(path, fh)
    return info is not None and info.interp is None


def km_interpreter(base: Image, version: str) -> str | None:
    """The base's python.km-style interpreter of X.Y: a static executable (python.km needs no loader), or the
    one a stand-in base declares with the org.faktory.km-base.python label."""
    declared = base.config.labels.get(KM_PYTHON_LABEL)
    if declared and declared.rsplit("/", 1)[-1] == f"python{version}" and base.fs.stat(declared) is not None:
        return declared
    for d in KM_BIN_DIRS:
        for name in (f"python{version}", "python.km", "python3"):
            path = f"{d}/{name}"
            try:
                real = base.fs.resolve(path) if base.fs.entry(path) is not None else None
            except Exception:
                real = None
            if real and _static_elf(base, real):
                return path
    return None


def km_bases(base: Image) -> dict[str, KmBase]:
    found = {}
    for version, stdlib in stdlib_versions(base).items():
        exe = km_interpreter(base, version)
        if exe:
            found[version] = KmBase(version, stdlib, exe)
    return found


def flatten(image: Image) -> Rootfs:
    root = Rootfs(image)
    for e in image.fs.walk("/"):
        if e.path == "/":
            root.add(RootEntry("/", DIR, e.mode))
        elif e.kind in (DIR, FILE, SYMLINK):
            root.add(RootEntry(e.path, e.kind, e.mode, e.size, e.linkname, source=e.path if e.kind == FILE else None,
                               uid=e.uid, gid=e.gid))
    return root


class KmEmitter:
    name = "km"
    capabilities = Capabilities(push=PUSH_IMAGE, run=(RUN_DOCKER,), options=("base",))

    def validate(self, image: Image, options: EmitOptions) -> None:
        """Before the analysis: a base is given, it has a python.km-style interpreter, and (as far as the image's
        stdlib says) of the app's X.Y. The closure-based check repeats the version test precisely."""
        if options.base is None:
            raise BaseImageNeeded("--to km needs --base REF: a runenv-python image whose Python matches the app's")
        ref = options.base_ref or options.base.ref
        bases = km_bases(options.base)
        if not bases:
            raise BaseImageNeeded(f"{ref}: no python.km-style interpreter (a static python3.X with its "
                                  "lib/python3.X) in the base: not a km runenv image")
        wanted = stdlib_versions(image)
        if wanted and not set(wanted) & set(bases) and not options.force:
            raise ConversionBlocked(f"cannot convert to km: the app runs Python {', '.join(wanted)}, the base {ref} "
                                    f"has Python {', '.join(bases)} (--force emits anyway)")

    def check(self, closure: Closure, options: EmitOptions = EmitOptions()) -> list[Finding]:
        out = extension_findings(closure, self.name, "is built against glibc; km's static musl python.km loads "
                                 "only prelinked extensions")
        out += judge(closure, ("ctypes", "dlopen-null"), self.name, "km's static python.km cannot dlopen")
        if "-E" in interpreter_flags(closure):
            out.append(blocker("python-flags", "the entrypoint runs python -E, which ignores the PYTHONPATH/"
                               "PYTHONHOME the km base relies on", self.name, closure.launch.script))
        if options.base is not None:
            version = "%d.%d" % tuple(closure.interpreter.version[:2])
            bases = km_bases(options.base)
            if version not in bases:
                out.append(blocker("python-version", f"the app runs Python {version}, the base "
                                   f"{options.base_ref or options.base.ref} has Python {', '.join(bases) or 'none'}",
                                   self.name, closure.interpreter.real_path))
        return out

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        self.validate(image, options)
        base = options.base
        assert base is not None
        base_ref = options.base_ref or base.ref
        bases = km_bases(base)
        version = "%d.%d" % tuple(closure.interpreter.version[:2])
        chosen = bases.get(version) or next(iter(bases.values()))  # --force past a version blocker
        full, report = prepare_rootfs(image, closure, Layout(dirs=(), compressed=True), options, outdir)
        app = self._app_layer(image, closure, full, base, chosen.stdlib, chosen.interpreter)
        env = dict(base.config.env_map)
        env.update(image.config.env_map)
        user = closure.launch.user  # by number: the km base's passwd does not name the source's users
        if user is not None:
            env.setdefault("HOME", user.home)
        raw = {"architecture": base.raw_config.get("architecture", "amd64"), "os": "linux", "config": {
            "Env": [f"{k}={v}" for k, v in env.items()],
            "Entrypoint": list(image.config.entrypoint) if image.config.entrypoint else None,
            "Cmd": list(image.config.cmd) if image.config.cmd else None,
            "WorkingDir": image.config.working_dir or None,
            "User": f"{user.uid}:{user.gid}" if user else None,
            "ExposedPorts": {p: {} for p in image.config.exposed_ports} or None,
            "Labels": {"org.faktory.base": base_ref, "org.faktory.source": image.ref},
        }}
        tag = out_tag(image, options, "km")
        manifest, layers = write_oci_image(outdir / LAYOUT_DIR, [flatten(base).write_tar, app.write_tar], raw, tag,
                                           f"faktory convert --to km --base {base_ref} {image.ref}")
        cleanup(outdir)
        write_docker_archive(outdir / LAYOUT_DIR, outdir / ARCHIVE, tag)
        run = f"docker load -i {outdir}/{ARCHIVE} && docker run --rm --runtime=krun{publish_flags(image)} {tag}"
        size = manifest.size + sum(l.size for l in layers)
        return Artifact(self.name, outdir, {}, run, image=ImageOut(LAYOUT_DIR, tag, manifest.digest, ARCHIVE, size),
                        contents={"app-layer": tuple(listing(app))},
                        details={"base": {"ref": base_ref, "digest": base.digest, "python": chosen.version,
                                          "interpreter": chosen.interpreter},
                                 "refs": {"oci": f"oci:{outdir}/{LAYOUT_DIR}:{tag}",
                                          "docker-archive": f"docker-archive:{outdir}/{ARCHIVE}"},
                                 **compact_extra(report)})

    def _app_layer(self, image: Image, closure: Closure, full: Rootfs, base: Image, base_stdlib: str,
                   base_exe: str | None) -> Rootfs:
        """What the base lacks: the app, site-packages (moved to the base's), console scripts, interpreter names."""
        interp = closure.interpreter
        stdlib = interp.stdlib_dir
        sites = sorted((p for p in closure.sys_path if p.rstrip("/").endswith(("site-packages", "dist-packages"))),
                       key=len, reverse=True)
        base_site = f"{base_stdlib}/site-packages"

        def place(path: str) -> str | None:
            for site in sites:
                if path == site or path.startswith(site + "/"):
                    return base_site + path[len(site):]
            if path == stdlib or path.startswith(stdlib + "/") or path.startswith("/dev/") or path.startswith("/proc/"):
                return None  # the base brings its own stdlib
            entry = full.entries.get(path)
            if entry is None:
                return None
            if entry.kind == FILE and _is_elf(full, entry):
                return None  # interpreter, libc, shared libraries: km's static python.km replaces them
            if entry.kind in (CHAR, BLOCK):
                return None
            existing = base.fs.entry(path)
            if entry.kind == DIR:
                return path
            if entry.kind == SYMLINK and existing is not None:
                return None  # keep the base's own links (usrmerge, python3 -> python3.X)
            return path

        app = full.relocated(place)
        for entry in list(app.entries.values()):  # drop dirs that only existed for dropped files
            if entry.kind == DIR and base.fs.stat(entry.path) is not None and not any(
                    p.startswith(entry.path + "/") for p in app.entries):
                app.remove(entry.path)
        if base_exe:
            for name in {interp.path, interp.real_path, *_shebang_interpreters(app)}:
                if name and name.startswith("/") and base.fs.stat(name) is None and name not in app.entries:
                    app.add(RootEntry(name, SYMLINK, 0o777, linkname=base_exe))
        return app


def _is_elf(rootfs: Rootfs, entry: RootEntry) -> bool:
    return entry.size >= 4 and next(rootfs.chunks(entry), b"")[:4] == b"\x7fELF"


def _shebang_interpreters(rootfs: Rootfs) -> set[str]:
    out = set()
    for entry in rootfs.entries.values():
        if entry.kind == FILE and entry.size and "/bin/" in entry.path:
            head = next(rootfs.chunks(entry), b"")[:128]
            if head.startswith(b"#!"):
                first = head[2:].split(b"\n", 1)[0].strip().split()
                if first and b"python" in first[0]:
                    out.add(first[0].decode("utf-8", "replace"))
    return out


EMITTER = KmEmitter()
