"""`faktory run OUTDIR [-p HOST:GUEST] [--timeout S] [-- ARGS…]`: boot a microvm/unikraft output with QEMU."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import List, Optional

import typer

from faktory.runner.outputs import bootable, default_ports, parse_port
from faktory.runner.qemu import VM


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
    outdir: Path = typer.Argument(..., help="A directory written by `faktory convert --to microvm|unikraft`."),
    args: Optional[List[str]] = typer.Argument(None, help="Replace the image's Cmd (after `--`)."),
    publish: List[str] = typer.Option([], "--publish", "-p", help="Forward HOST:GUEST tcp port (default: EXPOSEd ports)."),
    timeout: float = typer.Option(0, "--timeout", help="Stop the VM after S seconds (0: run until it powers off)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="Linux kernel to boot (default: the output's, or /boot's newest)."),
    memory: Optional[int] = typer.Option(None, "--memory", "-m", help="Guest memory in MiB."),
) -> None:
    ports = [parse_port(p) for p in publish] if publish else _free_defaults(default_ports(outdir))
    with bootable(outdir, args=args or (), ports=ports, kernel=kernel, memory_mb=memory) as spec:
        vm = VM(spec, echo=True).start()
        try:
            result = vm.wait(timeout if timeout > 0 else None)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            vm.stop()
            raise
    if result.timed_out:
        print(f"faktory: stopped the VM after {timeout:g}s", file=sys.stderr)
        raise typer.Exit(124)
    if result.exit_code is None:
        print("faktory: the VM stopped without reporting the app's exit status", file=sys.stderr)
        raise typer.Exit(1)
    raise typer.Exit(result.exit_code)
