"""The runtimes' own needs, checked on real outputs with the real tools (GNU cpio, QEMU): Unikraft's one-hop
symlinks, PWD and command-line forms, the non-PIE blocker, OPS' local package path, memory sizing, the
accelerator probe, and a killed runner that takes its VM with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from faktory.emitters.base import EmitOptions
from faktory.emitters.convert import MANIFEST, check, convert
from faktory.emitters.sizing import memory_mb
from faktory.emitters.unikraft import PAD_PATH, kernel_cmdline
from faktory.errors import ConversionBlocked
from faktory.runner import qemu
from tests.handmade import python_image

FAKTORY = str(Path(__file__).resolve().parents[1] / ".venv/bin/faktory")


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    image, closure = python_image(tmp_path_factory.mktemp("img") / "root")
    # started by its symlinked name, as `python3 main.py` in /app (relative script under WORKDIR)
    launch = replace(closure.launch, argv=("/usr/local/bin/python3", "main.py", "world"))
    return image, replace(closure, launch=launch)


def _extract(archive: Path, dest: Path) -> None:
    dest.mkdir()
    with open(archive, "rb") as fh:
        subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], stdin=fh, cwd=dest, check=True)


def test_unikraft_symlinks_are_one_hop_and_argv0_is_the_real_file(handmade, tmp_path):
    image, closure = handmade
    out = tmp_path / "u"
    convert(image, closure, "unikraft", out)
    tree = tmp_path / "x"
    _extract(out / "rootfs.cpio", tree)
    links = [p for p in tree.rglob("*") if p.is_symlink()]
    assert len(links) >= 4  # /lib, /lib64, the loader's link, python3
    for link in links:
        target = os.readlink(link)
        assert target.startswith("/"), (link, target)
        final = tree / target.lstrip("/")
        # straight at the final target: no component of the target is itself a symlink
        for depth in range(1, len(Path(target).parts)):
            assert not (tree / Path(*Path(target).parts[1:depth + 1])).is_symlink(), (link, target)
        assert final.exists(), (link, target)
    assert os.readlink(tree / "usr/lib64/ld-linux-x86-64.so.2") == "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    kraftfile = yaml.safe_load((out / "Kraftfile").read_text())
    argv0 = tree / kraftfile["cmd"][0].lstrip("/")
    assert kraftfile["cmd"][0] == "/usr/local/bin/python3.12" and argv0.is_file() and not argv0.is_symlink()


def test_unikraft_env_has_pwd_and_command_lines_follow_the_base_runtime_forms(handmade, tmp_path):
    image, closure = handmade
    out = tmp_path / "u"
    convert(image, closure, "unikraft", out)
    doc = json.loads((out / MANIFEST).read_text())
    kraftfile = yaml.safe_load((out / "Kraftfile").read_text())
    assert kraftfile["spec"] == "v0.6" and kraftfile["runtime"] == "base:latest"
    assert kraftfile["rootfs"] == "./rootfs.cpio" and kraftfile["env"]["PWD"] == "/app"
    assert doc["launch"]["env"]["PWD"] == "/app" and doc["launch"]["workdir"] == "/app"
    line = doc["cmdline"]
    assert line.startswith('vfs.fstab=[ "initrd0:/:extract::ramfs=1:" ] env.vars=[ ')
    assert '"PWD=/app"' in line and line.endswith(" -- /usr/local/bin/python3.12 main.py world")
    assert doc["boot"]["cmdline"] == line
    # a kernel that takes no env: plain argv (no `--`), the script made absolute so the app still starts
    assert doc["cmdline_without_env"] == "/usr/local/bin/python3.12 /app/main.py world"
    readme = (out / "README.md").read_text()
    assert "kraft run -M" in readme and "LIBPOSIX_ENVIRON_LIBPARAM" in readme and doc["cmdline_without_env"] in readme
    assert f"-m {doc['memory_mb']}M" in doc["qemu"] and line.split(" -- ")[0] in doc["qemu"]


def test_kernel_cmdline_never_starts_with_a_bare_separator():
    assert kernel_cmdline({}, ["/bin/app", "a b"], fstab=False) == '/bin/app "a b"'
    assert kernel_cmdline({}, ["/bin/app"]) == 'vfs.fstab=[ "initrd0:/:extract::ramfs=1:" ] -- /bin/app'
    assert kernel_cmdline({"K": "V"}, ["/bin/app"], fstab=False) == 'env.vars=[ "K=V" ] -- /bin/app'


def test_non_pie_interpreter_blocks_unikraft_and_force_pads(handmade, tmp_path):
    image, closure = handmade
    non_pie = replace(closure, interpreter=replace(closure.interpreter, pie=False))
    found = [f for f in check(non_pie, "unikraft") if f.kind == "non-pie"]
    assert found and found[0].severity == "blocker" and "/usr/local/bin/python3.12" in found[0].message
    assert "position-independent" in found[0].message
    with pytest.raises(ConversionBlocked, match="non-pie.*python3.12"):
        convert(image, non_pie, "unikraft", tmp_path / "blocked")
    assert not (tmp_path / "blocked").exists()
    out = tmp_path / "forced"
    convert(image, non_pie, "unikraft", out, EmitOptions(force=True))
    doc = json.loads((out / MANIFEST).read_text())
    assert doc["contents"]["rootfs.cpio"][0] == PAD_PATH.lstrip("/")
    assert doc["kraftfile"]["cmd"][:2] == ["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/local/bin/python3.12"]
    assert [f["kind"] for f in doc["forced_blockers"]] == ["non-pie"]
    assert "built without assertions" in (out / "README.md").read_text()


def test_an_empty_argument_blocks_unikraft_and_is_refused_by_the_elf_loader_run(handmade, tmp_path):
    """The kernel's argument parser drops `""` (`faker -s "" address` would take `address` as the separator):
    the check blocks such a command, and a run with one is refused with the reason instead of booting."""
    from faktory.emitters.unikraft import EmptyArgument
    from faktory.runner.outputs import bootable

    image, closure = handmade
    empty = replace(closure, launch=replace(closure.launch, argv=(*closure.launch.argv, "-s", "", "x")))
    found = [f for f in check(empty, "unikraft") if f.kind == "empty-argument"]
    assert [f.severity for f in found] == ["blocker"] and "argument 4 of the command is empty" in found[0].message
    assert not [f for f in check(empty, "nanos") if f.kind == "empty-argument"]  # Nanos takes an argv list
    with pytest.raises(ConversionBlocked, match="empty-argument"):
        convert(image, empty, "unikraft", tmp_path / "blocked")
    out = tmp_path / "u"
    convert(image, closure, "unikraft", out)
    loader = tmp_path / "elfloader.qemu"
    loader.write_bytes(b"\x7fELF" + bytes(60))
    with pytest.raises(EmptyArgument, match="argument 2 is empty: Unikraft's kernel command-line parser"):
        with bootable(out, kernel=loader, args=["python3", "-c", ""]):
            pass
    with bootable(out, args=["python3", "-c", ""]) as spec:  # under Linux faktory's init passes it as it is
        assert spec.initrd is not None


def test_nanos_run_line_puts_the_package_where_ops_looks(handmade, tmp_path):
    image, closure = handmade
    out = tmp_path / "n"
    convert(image, closure, "nanos", out)
    doc = json.loads((out / MANIFEST).read_text())
    pkg = doc["package"]["dir"]
    assert (out / pkg / "package.manifest").is_file()
    assert f"cp -a {out}/{pkg} ${{OPS_HOME:-$HOME/.ops}}/local_packages/" in doc["run"]
    assert doc["run"].endswith(f"ops pkg load --local {pkg} -c config.json")
    # the run line works as written: the copy lands where `ops pkg load --local NAME` reads
    home = tmp_path / "ops-home"
    copy = doc["run"].split(" && cd ")[0]
    subprocess.run(["sh", "-c", copy], check=True, env={**os.environ, "OPS_HOME": str(home)})
    assert (home / "local_packages" / pkg / "package.manifest").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["RunConfig"]["Memory"] == f"{doc['memory_mb']}m" and config["CurrentWorkingDirectory"] == "/app"
    assert doc["run"] in (out / "README.md").read_text()


def test_memory_is_sized_from_the_initrd(handmade, tmp_path):
    assert memory_mb(0) == 512 and memory_mb(100 << 20) == 576
    assert memory_mb(248 << 20) >= 896  # the bloated gunicorn initrd that 512 MiB could not boot
    image, closure = handmade
    out = tmp_path / "m"
    convert(image, closure, "microvm", out)
    doc = json.loads((out / MANIFEST).read_text())
    initrd = doc["files"]["initrd.cpio"]
    assert doc["boot"]["memory_mb"] == memory_mb(initrd + closure.size, copies=1) >= 512
    assert doc["boot"]["memory_mb"] * (1 << 20) >= 2 * initrd


def test_accelerator_probe_runs_guest_code_and_is_cached(tmp_path, monkeypatch):
    assert qemu.guest_runs("tcg")  # the probe guest really reaches isa-debug-exit under TCG
    monkeypatch.delenv("FAKTORY_ACCEL", raising=False)
    monkeypatch.setenv("FAKTORY_CACHE_DIR", str(tmp_path))
    qemu._chosen.clear()
    expected = "kvm" if qemu.kvm_runs_guests() else "tcg"
    qemu._chosen.clear()
    assert qemu.accelerator() == expected
    cached = json.loads((tmp_path / "accel.json").read_text())
    assert cached["accel"] == expected and cached["host"] == qemu._host_key()
    qemu._chosen.clear()
    started = time.monotonic()
    assert qemu.accelerator() == expected and time.monotonic() - started < 0.5  # from the cache, no probe
    monkeypatch.setenv("FAKTORY_ACCEL", "tcg")
    assert qemu.accelerator() == "tcg"


def _qemu_children(parent: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next((int(l.split()[1]) for l in status.splitlines() if l.startswith("PPid:")), 0)
        if ppid == parent and b"qemu-system" in cmdline:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return "Z" not in state


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_killed_run_leaves_no_qemu(handmade, tmp_path, how):
    image, closure = handmade
    out = tmp_path / "vm"
    convert(image, closure, "microvm", out)
    proc = subprocess.Popen([FAKTORY, "run", str(out), "--timeout", "300"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "FAKTORY_ACCEL": "tcg"})
    deadline = time.monotonic() + 60
    children: list[int] = []
    while time.monotonic() < deadline and not children:
        children = _qemu_children(proc.pid)
        time.sleep(0.2)
    assert children, "faktory run started no QEMU"
    time.sleep(1.0)  # mid-boot
    proc.send_signal(how)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in children):
        time.sleep(0.2)
    assert not any(_alive(p) for p in children), f"QEMU {children} outlived faktory run ({how.name})"
    if how != signal.SIGKILL:
        assert proc.returncode == 128 + how


@pytest.mark.slow
def test_a_vm_that_runs_out_of_memory_says_so(handmade, tmp_path):
    image, closure = handmade
    out = tmp_path / "vm"
    convert(image, closure, "microvm", out)
    proc = subprocess.run([FAKTORY, "run", str(out), "--memory", "80", "--timeout", "240"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "FAKTORY_ACCEL": "tcg"})
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("faktory: the VM stopped without reporting the app's exit status: ")
    assert "memory" in last.lower(), proc.stderr[-2000:]
    assert "  | " in proc.stderr  # the kernel's last lines


def test_run_with_an_elf_loader_kernel_boots_as_kraft_run_does(handmade, tmp_path):
    """`faktory run OUTDIR --kernel FILE`: a kernel that is no Linux bzImage is taken as the ELF loader; the
    QEMU line carries the Kraftfile's env (PWD included) in env.vars, `--`, the real argv, a virtio NIC, and the
    run ends on the awaited text (the loader never powers off)."""
    from faktory.runner.outputs import bootable
    from faktory.runner.qemu import EXIT_INIT, EXIT_NONE

    image, closure = handmade
    out = tmp_path / "u"
    convert(image, closure, "unikraft", out)
    loader = tmp_path / "elfloader.qemu"
    loader.write_bytes(b"\x7fELF" + bytes(60))
    with bootable(out, kernel=loader, ports=[(18080, 8080)], until="hello from") as spec:
        argv = spec.argv()
        assert spec.exit == EXIT_NONE and spec.until == "hello from" and spec.initrd == out / "rootfs.cpio"
        append = argv[argv.index("-append") + 1]
        assert '"PWD=/app"' in append and append.endswith(" -- /usr/local/bin/python3.12 main.py world")
        assert " netdev.ip=10.0.2.15/24:10.0.2.2 -- " in append
        assert "virtio-net-pci,netdev=n0" in argv and argv[argv.index("-kernel") + 1] == str(loader)
    with bootable(out, kernel=loader, args=["python3", "-c", "print(1)"]) as spec:
        append = spec.argv()[spec.argv().index("-append") + 1]
        assert append.endswith(" -- /usr/local/bin/python3.12 -c print(1)")  # an override runs the real file too
    with bootable(out, kernel=loader, args=["/app/main.py", "x"]) as spec:  # a script: through its interpreter
        assert spec.append.endswith(" -- /usr/local/bin/python3.12 /app/main.py x")
    with bootable(out) as spec:  # no --kernel: the initrd under Linux with faktory's init
        assert spec.exit == EXIT_INIT and "rdinit=/.faktory/init" in spec.append and spec.kernel_log is not None


def test_nanos_manifest_tuple_leaves_out_what_nanos_provides(handmade, tmp_path, monkeypatch):
    from faktory.emitters.manifest import read_manifest
    from faktory.runner.nanos import NanosUnavailable, find_nanos, manifest_tuple
    from faktory.runner.outputs import launch_of

    image, closure = handmade
    out = tmp_path / "n"
    convert(image, closure, "nanos", out)
    manifest = read_manifest(out)
    sysroot = out / next(k for k in manifest.contents if k.endswith("sysroot"))
    (sysroot / "proc").mkdir()  # as if an image carried /proc: Nanos refuses an image with files there
    text = manifest_tuple(sysroot, launch_of(manifest, ()), ("/proc", "/dev/null"))
    # Nanos follows symlink chains: the image's own name for the interpreter stays
    assert 'program:"/usr/local/bin/python3"' in text and 'cwd:"/app"' in text and "debug_exit:t" in text
    assert 'arguments:["/usr/local/bin/python3" "main.py" "world"]' in text
    assert '"LANG":"C.UTF-8"' in text and '"proc":' not in text
    assert f'contents:(host:"{(sysroot / "app/main.py").resolve()}")' in text
    assert '"lib64":(linktarget:"usr/lib64")' in text
    release = tmp_path / "ops" / "0.1.55"
    release.mkdir(parents=True)
    monkeypatch.setenv("OPS_HOME", str(tmp_path / "ops"))
    with pytest.raises(NanosUnavailable, match="install OPS"):
        find_nanos(None)
    with pytest.raises(NanosUnavailable, match="no kernel.img, boot.img and mkfs"):
        find_nanos(tmp_path / "none")
    for name in ("kernel.img", "boot.img", "mkfs"):
        (release / name).write_bytes(b"x")
    assert find_nanos(release) == (release / "kernel.img", release / "boot.img", release / "mkfs")
    assert find_nanos(None) == find_nanos(release)  # the newest OPS release in $OPS_HOME


def test_kernel_env_keeps_pwd_within_the_base_runtimes_eight_slots():
    """The base runtime takes 8 env.vars and drops the rest silently (PWD last would lose the working dir)."""
    from faktory.emitters.unikraft import kernel_env

    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           **{f"V{n}": str(n) for n in range(9)}, "PWD": "/srv/app"}
    kept, beyond = kernel_env(env)
    assert list(kept)[:2] == ["PWD", "HOME"] and "PATH" not in kept  # compiled in with the same value
    assert beyond == ["V6", "V7", "V8"]
    assert kernel_env({"HOME": "/", "PWD": "/"}) == ({}, [])


def test_nanos_program_is_found_on_path_inside_the_sysroot(handmade, tmp_path):
    """An overriding `python3 main.py` names no absolute program: Nanos needs one, found on the launch PATH
    inside the sysroot (symlinks resolved there), and a script runs through its #! interpreter."""
    from faktory.emitters.base import LaunchOut
    from faktory.emitters.manifest import read_manifest
    from faktory.runner.nanos import program_argv

    image, closure = handmade
    out = tmp_path / "n"
    convert(image, closure, "nanos", out)
    manifest = read_manifest(out)
    sysroot = out / next(k for k in manifest.contents if k.endswith("sysroot"))
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    assert program_argv(sysroot, LaunchOut(("python3", "main.py"), env)) == ("/usr/local/bin/python3", "main.py")
    script = sysroot / "usr/local/bin/tool"
    script.write_text("#!/usr/bin/env python3\nprint(1)\n")
    assert program_argv(sysroot, LaunchOut(("tool", "-v"), env)) == ("/usr/local/bin/python3", "/usr/local/bin/tool", "-v")
    assert program_argv(sysroot, LaunchOut(("/app/main.py",), env)) == ("/app/main.py",)  # no shebang: as is


def test_a_microvm_app_gets_docker_runs_stdio_and_a_terminal_only_when_asked(handmade, tmp_path):
    """`docker run IMAGE` gives no terminal: stdin /dev/null, stdout a pipe, open files 1024 soft / 524288 hard.
    The microVM's app sees the same (a console tty would make apps colour or page their output; locust raises
    its soft limit), and `faktory run -t` gives it the console."""
    image, closure = handmade
    out = tmp_path / "vm"
    convert(image, closure, "microvm", out)
    code = ("import os, sys; lim = [l.split()[3:5] for l in open('/proc/self/limits') if l.startswith('Max open')]; "
            "print('stdin', repr(sys.stdin.read()), 'tty', os.isatty(1), os.isatty(0), 'nofile', *lim[0], flush=True)")
    env = {**os.environ, "FAKTORY_ACCEL": "tcg"}
    plain = subprocess.run([FAKTORY, "run", str(out), "--timeout", "240", "--", "/usr/local/bin/python3", "-c", code],
                           capture_output=True, text=True, timeout=300, env=env)
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert "stdin '' tty False False" in plain.stdout, plain.stdout
    assert "nofile 1024 524288" in plain.stdout, plain.stdout  # docker run's default open-file limits
    code = "import os; print('tty', os.isatty(1), os.isatty(0), flush=True)"
    term = subprocess.run([FAKTORY, "run", str(out), "-t", "--timeout", "240", "--", "/usr/local/bin/python3", "-c",
                           code], capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    assert term.returncode == 0, term.stderr[-2000:]
    assert "tty True True" in term.stdout, term.stdout
