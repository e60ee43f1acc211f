"""nanos: an OPS local package (package.manifest + sysroot/) and a config.json for `ops run`.

Nanos runs the image's unmodified glibc interpreter. It provides /dev/null, /dev/urandom, /proc/* and
/sys/devices/system/cpu/online itself and refuses an image that carries files there; it needs an environment
entry even when empty.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from faktory.analyzers.model import BLOCKER, Closure, Finding
from faktory.emitters.base import RUN_NANOS, Artifact, Capabilities, EmitOptions, LaunchOut
from faktory.emitters.launch import exposed_ports, launch_env, safe_name
from faktory.emitters.prepare import cleanup, compact_extra, listing, prepare_rootfs
from faktory.emitters.rootfs import Layout
from faktory.emitters.rules import judge, single_user
from faktory.emitters.sizing import memory_mb
from faktory.image import Image

PROVIDED_BY_NANOS = ("/dev/null", "/dev/urandom", "/sys/devices/system/cpu/online")


def provided_by_nanos(path: str) -> bool:
    return path in PROVIDED_BY_NANOS or path == "/proc" or path.startswith("/proc/")


# Nanos' mkfs copies the bytes of each manifest file (`contents:(host:…)`) into TFS, which has no compression
# and no manifest form for a second name of one file: hardlinks in sysroot/ save the package's bytes only.
COMPACT_NOTES = ("no compression: Nanos' TFS and its mkfs store file bytes as they are",
                 "identical files are hardlinks in sysroot/ (the package is smaller); Nanos' mkfs still writes "
                 "each name's bytes to the disk image")
LAYOUT = Layout(exclude=provided_by_nanos, dirs=(("/tmp", 0o1777),), compact_notes=COMPACT_NOTES)


def package_version(image: Image) -> str:
    tag = image.ref.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image.ref else ""
    if tag and re.fullmatch(r"[A-Za-z0-9_.-]+", tag):
        return tag
    return image.digest.split(":")[-1][:12] or "0"


class NanosEmitter:
    name = "nanos"
    capabilities = Capabilities(run=(RUN_NANOS,), provided_paths=(*PROVIDED_BY_NANOS, "/proc"))

    def validate(self, image: Image, options: EmitOptions) -> None:
        pass

    def check(self, closure: Closure, options: EmitOptions = EmitOptions()) -> list[Finding]:
        return judge(closure, ("fork", "subprocess", "multiprocessing"), self.name,
                     "Nanos runs a single process: no fork/exec") + single_user(closure, self.name, "Nanos")

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        rootfs, report = prepare_rootfs(image, closure, LAYOUT, options, outdir)
        name = options.name or safe_name(image.ref)
        version = package_version(image)
        pkgdir = f"{name}_{version}"
        rootfs.write_tree(outdir / pkgdir / "sysroot")
        cleanup(outdir)
        argv = list(closure.launch.argv)
        env = launch_env(image, closure)
        program = argv[0]
        manifest = {"Program": f"{pkgdir}/sysroot{program}", "Args": argv, "Version": version,
                    "Env": env, "Description": f"faktory conversion of {image.ref}"}
        (outdir / pkgdir / "package.manifest").write_text(json.dumps(manifest, indent=2) + "\n")
        ports = exposed_ports(image)
        workdir = closure.launch.workdir or image.config.working_dir or "/"
        memory = memory_mb(rootfs.payload_size, copies=1)
        config = {
            "Program": program,
            "Args": argv[1:],
            "Env": env,  # always present: Nanos needs an environment entry even when it is empty
            "Dirs": [],
            "Files": [],
            "MapDirs": {f"{pkgdir}/sysroot/*": "/"},
            "CurrentWorkingDirectory": workdir,
            # the disk holds the files: RAM holds the page cache of what the app reads, and the app
            "RunConfig": {"Memory": f"{memory}m", "Ports": [str(p) for p in ports]},
        }
        (outdir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        # `ops pkg load --local NAME` reads $OPS_HOME/local_packages/NAME (not the current directory)
        local = "${OPS_HOME:-$HOME/.ops}/local_packages"
        run = (f"mkdir -p {local} && rm -rf {local}/{pkgdir} && cp -a {outdir}/{pkgdir} {local}/ && "
               f"cd {outdir} && ops pkg load --local {pkgdir} -c config.json")
        notes = ("OPS takes a local package from `$OPS_HOME/local_packages/NAME` (`~/.ops/local_packages`), so the "
                 "command copies it there first. Check it without OPS' run: `faktory run " + str(outdir) +
                 "` builds the disk with Nanos' own mkfs from an OPS installation (`~/.ops/<version>/`) or "
                 "`--nanos DIR` and boots it.")
        return Artifact(self.name, outdir, {}, run,
                        launch=LaunchOut(tuple(argv), env, workdir, tuple(image.config.entrypoint or ())),
                        contents={f"{pkgdir}/sysroot": tuple(listing(rootfs))}, ports=tuple(ports), notes=notes,
                        details={"package": {"dir": pkgdir, "version": version, "program": program},
                                 "memory_mb": memory, "skipped": rootfs.skipped,
                                 "payload_size": rootfs.payload_size, **compact_extra(report)})


EMITTER = NanosEmitter()
