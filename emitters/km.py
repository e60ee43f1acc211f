"""km: an OCI image for Kontain (`docker run --runtime=krun`): the app code and site-packages of the source
layered on a runenv-python base (`--base REF`), whose static python.km replaces the image's interpreter.

Env = base Env + source Env; Entrypoint, Cmd and WorkingDir come from the source.
"""

from __future__ import annotations

import re
from pathlib import Path

from faktory.analyzers.model import BLOCKER, Closure, Finding
from faktory.emitters.base import Artifact, EmitOptions
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


class BaseImageNeeded(FaktoryError):
    pass


def base_python(base: Image) -> tuple[str, str] | None:
    """(version "3.12", stdlib dir) of the runenv base, from its stdlib landmark."""
    for root in ("/usr/local/lib", "/usr/lib"):
        try:
            names = base.fs.listdir(root)
        except Exception:
            continue
        for name in sorted(names, reverse=True):
            if re.fullmatch(r"python3\.\d+", name) and base.fs.stat(f"{root}/{name}/os.py") is not None:
                return name[len("python"):], f"{root}/{name}"
    return None


def base_interpreter(base: Image, version: str) -> str | None:
    for d in ("/usr/local/bin", "/usr/bin", "/opt/kontain/bin"):
        for name in (f"python{version}", "python3", "python"):
            if base.fs.stat(f"{d}/{name}") is not None:
                return f"{d}/{name}"
    return None


def flatten(image: Image) -> Rootfs:
    root = Rootfs(image)
    for e in image.fs.walk("/"):
        if e.path == "/":
            root.add(RootEntry("/", DIR, e.mode))
        elif e.kind in (DIR, FILE, SYMLINK):
            root.add(RootEntry(e.path, e.kind, e.mode, e.size, e.linkname, source=e.path if e.kind == FILE else None))
    return root


class KmEmitter:
    name = "km"

    def check(self, closure: Closure) -> list[Finding]:
        out = extension_findings(closure, self.name, "is built against glibc; km's static musl python.km loads "
                                 "only prelinked extensions")
        out += judge(closure, ("ctypes", "dlopen-null"), self.name, "km's static python.km cannot dlopen")
        if "-E" in interpreter_flags(closure):
            out.append(blocker("python-flags", "the entrypoint runs python -E, which ignores the PYTHONPATH/"
                               "PYTHONHOME the km base relies on", self.name, closure.launch.script))
        return out

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        if not options.base_ref:
            raise BaseImageNeeded("--to km needs --base REF: a runenv-python image whose Python matches the app's")
        from faktory.api import load_image

        base = load_image(options.base_ref)
        found = base_python(base)
        if found is None:
            raise BaseImageNeeded(f"{options.base_ref}: no Python stdlib (lib/python3.X/os.py) found in the base")
        base_version, base_stdlib = found
        version = "%d.%d" % tuple(closure.interpreter.version[:2])
        forced = []
        if base_version != version:
            problem = blocker("python-version", f"the app runs Python {version}, the base {options.base_ref} has "
                              f"Python {base_version}", self.name, closure.interpreter.real_path)
            if not options.force:
                raise ConversionBlocked(f"cannot convert to km: {problem.message} (--force emits anyway)")
            forced.append(problem.to_dict())
        base_python_exe = base_interpreter(base, base_version)
        full, report = prepare_rootfs(image, closure, Layout(dirs=()), options, outdir)
        app = self._app_layer(image, closure, full, base, base_stdlib, base_python_exe)
        env = dict(base.config.env_map)
        env.update(image.config.env_map)
        raw = {"architecture": base.raw_config.get("architecture", "amd64"), "os": "linux", "config": {
            "Env": [f"{k}={v}" for k, v in env.items()],
            "Entrypoint": list(image.config.entrypoint) if image.config.entrypoint else None,
            "Cmd": list(image.config.cmd) if image.config.cmd else None,
            "WorkingDir": image.config.working_dir or None,
            "ExposedPorts": {p: {} for p in image.config.exposed_ports} or None,
            "Labels": {"org.faktory.base": options.base_ref, "org.faktory.source": image.ref},
        }}
        tag = out_tag(image, options, "km")
        manifest, layers = write_oci_image(outdir / LAYOUT_DIR, [flatten(base).write_tar, app.write_tar], raw, tag,
                                           f"faktory convert --to km --base {options.base_ref} {image.ref}")
        cleanup(outdir)
        write_docker_archive(outdir / LAYOUT_DIR, outdir / ARCHIVE, tag)
        run = f"docker load -i {outdir}/{ARCHIVE} && docker run --rm --runtime=krun{publish_flags(image)} {tag}"
        return Artifact(self.name, outdir, {}, run, extra={
            "base": {"ref": options.base_ref, "digest": base.digest, "python": base_version},
            "image": {"tag": tag, "manifest_digest": manifest.digest, "layout": LAYOUT_DIR, "archive": ARCHIVE,
                      "compressed_size": manifest.size + sum(l.size for l in layers)},
            "refs": {"oci": f"oci:{outdir}/{LAYOUT_DIR}:{tag}", "docker-archive": f"docker-archive:{outdir}/{ARCHIVE}"},
            "contents": {"app-layer": listing(app)},
            "forced_base_blockers": forced,
            **compact_extra(report),
        })

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
