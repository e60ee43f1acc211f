"""`faktory run OUTDIR [-p HOST:GUEST] [--timeout S] [-- ARGS…]`: boot a microvm/unikraft output with QEMU."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import List, Optional

import typer

from faktory.runner.outputs import bootable, default_ports, parse_port
from faktory.runner.qemu import VM
from faktory.runner.signals import unwind_on_signals


def _free_defaults(ports: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """EXPOSEd ports forwarded by default, except host ports already taken (said, not fatal)."""
    free = []
    for host, guest in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", host))
            except OSError:
                print(f"faktory: host port {host} is in use: not forwarding it (use -p HOST:{guest})", file=sys.stderr)
                continue
        free.append((host, guest))
    return free


def command(
    outdir: Path = typer.Argument(..., help="A directory written by `faktory convert --to microvm|unikraft|nanos`."),
    args: Optional[List[str]] = typer.Argument(None, help="Replace the image's Cmd (after `--`)."),
    publish: List[str] = typer.Option([], "--publish", "-p", help="Forward HOST:GUEST tcp port (default: EXPOSEd ports)."),
    timeout: float = typer.Option(0, "--timeout", help="Stop the VM after S seconds (0: run until it powers off)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="microvm/unikraft: a Linux kernel to boot the initrd "
                                          "under (default: the output's, or /boot's newest); unikraft: an ELF-loader "
                                          "kernel boots it as Unikraft does."),
    memory: Optional[int] = typer.Option(None, "--memory", "-m", help="Guest memory in MiB (default: faktory.json's)."),
    nanos_dir: Optional[Path] = typer.Option(None, "--nanos", help="nanos: an OPS release dir (kernel.img, boot.img, "
                                             "mkfs) or a Nanos build tree (default: the newest in ~/.ops)."),
    until: Optional[str] = typer.Option(None, "--until", help="Stop once this text is on the console (a runtime "
                                        "that never powers off, such as the ELF loader)."),
    tty: bool = typer.Option(False, "--tty", "-t", help="microvm: the console is the app's terminal, as with "
                             "`docker run -it` (default: stdin /dev/null and output through a pipe, as `docker run`)."),
) -> None:
    unwind_on_signals()
    ports = [parse_port(p) for p in publish] if publish else _free_defaults(default_ports(outdir))
    with bootable(outdir, args=args or (), ports=ports, kernel=kernel, memory_mb=memory, nanos_dir=nanos_dir,
                  until=until, tty=tty) as spec:
        print(f"faktory: booting with {spec.accelerator}, {spec.memory_mb} MiB", file=sys.stderr)
        vm = VM(spec, echo=True).start()
        result = vm.wait(timeout if timeout > 0 else None)  # stops QEMU on any exception (signals included)
    if result.seen:
        raise typer.Exit(0)
    if result.timed_out and result.exit_code is None:
        print(f"faktory: stopped the VM after {timeout:g}s", file=sys.stderr)
        raise typer.Exit(124)
    if result.exit_code is None:
        tail, why = result.post_mortem()
        for line in tail:
            print(f"  | {line}", file=sys.stderr)
        print(f"faktory: the VM stopped without reporting the app's exit status: {why}", file=sys.stderr)
        raise typer.Exit(1)
    raise typer.Exit(result.exit_code)
