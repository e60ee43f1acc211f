"""`faktory inspect REF [--platform os/arch[/variant]] [--json] [--ls PATH]`.

The JSON document (`--json`) is stable; its fields, schema "faktory.inspect/v1":

    schema          "faktory.inspect/v1"
    ref             the reference as given, normalised;   source: daemon | registry | docker-archive | oci
    digest          manifest digest (registry, oci) or image id (daemon, docker-archive)
    index_digest    the multi-platform index it was picked from, or null
    config_digest   digest of the config blob (= the engine's image id)
    platform        "os/arch[/variant]"
    config          {env, entrypoint, cmd, working_dir, user, exposed_ports, labels, stop_signal}
    layers          [{index, media_type, digest, diff_id, size, uncompressed_size, entries}]
    history         [{created, created_by, comment, empty_layer, layer_index, size}]
    size            sum of the uncompressed layer sizes;   compressed_size: sum of the blob sizes
    files           number of entries in the merged filesystem
    shadowed_bytes  bytes of files that later layers overwrote or deleted (stored, never visible)
    ls              (with --ls PATH) [{path, type, mode, uid, gid, size, mtime, link, layer}] parents first
"""

from __future__ import annotations

import json
import stat
import sys
from typing import Optional

import typer

from faktory.commands.registry_flags import authfile_option, creds_option, keychain_for
from faktory.errors import ReferenceError_
from faktory.units import human_bytes

SCHEMA = "faktory.inspect/v1"
_TYPE_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "char": stat.S_IFCHR,
              "block": stat.S_IFBLK, "fifo": stat.S_IFIFO}


def describe(image, ls: str | None = None) -> dict:
    """The inspect document for an Image (also used by other commands that report on images)."""
    cfg = image.config
    layer_sizes = {i: layer.uncompressed_size or 0 for i, layer in enumerate(image.layers)}
    entries_per_layer = [ix.count for ix in getattr(image, "layer_indexes", ())] or [None] * len(image.layers)
    doc = {
        "schema": SCHEMA,
        "ref": image.ref,
        "source": getattr(image, "source", None),
        "digest": image.digest,
        "index_digest": getattr(image, "index_digest", None),
        "config_digest": getattr(image, "config_digest", None),
        "platform": str(image.platform),
        "config": {
            "env": list(cfg.env),
            "entrypoint": list(cfg.entrypoint) if cfg.entrypoint is not None else None,
            "cmd": list(cfg.cmd) if cfg.cmd is not None else None,
            "working_dir": cfg.working_dir,
            "user": cfg.user,
            "exposed_ports": list(cfg.exposed_ports),
            "labels": dict(cfg.labels),
            "stop_signal": cfg.stop_signal,
        },
        "layers": [
            {"index": i, "media_type": layer.media_type, "digest": layer.digest, "diff_id": layer.diff_id,
             "size": layer.size, "uncompressed_size": layer.uncompressed_size, "entries": entries_per_layer[i]}
            for i, layer in enumerate(image.layers)
        ],
        "history": [
            {"created": h.created, "created_by": h.created_by, "comment": h.comment, "empty_layer": h.empty_layer,
             "layer_index": h.layer_index, "size": layer_sizes.get(h.layer_index, 0) if h.layer_index is not None else 0}
            for h in image.history
        ],
        "size": image.size,
        "compressed_size": sum(layer.size for layer in image.layers),
        "files": len(image.fs),
        "shadowed_bytes": sum(e.size for e in image.fs.shadowed() if e.kind == "file"),
    }
    if ls is not None:
        doc["ls"] = [_entry_doc(e) for e in _listing(image, ls)]
    return doc


def _listing(image, path: str):
    fs = image.fs
    start = fs.entry(path)
    if start is None:
        fs.resolve(path)  # a symlink loop on the way is the better explanation: raises SymlinkLoop
        raise ReferenceError_(f"--ls: no {path} in the image")
    if start.kind == "symlink":  # like `ls -L DIR`: list what a directory symlink points at
        target = fs.stat(path)
        if target is not None and target.kind == "dir":
            start = target
    return fs.walk(start.path)


def _entry_doc(e) -> dict:
    return {"path": e.path, "type": e.kind, "mode": f"{e.mode:04o}", "uid": e.uid, "gid": e.gid, "size": e.size,
            "mtime": e.mtime, "link": e.linkname or None, "layer": e.layer}


class _PlainGrid:
    """The key/value head for a pipe: one `Key  value` per line, a multi-line value repeats its key."""

    def __init__(self, console):
        self.console = console

    def add_column(self, **_):
        pass

    def add_row(self, key: str, value: str) -> None:
        for line in value.split("\n"):
            self.console.print(f"{key:<13} {line}")


def _print_summary(doc: dict) -> None:
    from rich.table import Table

    from faktory.commands.common import console as make_console
    from faktory.commands.common import stdout_is_terminal

    console = make_console(highlight=False)
    piped = not stdout_is_terminal()
    head = _PlainGrid(console) if piped else Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    head.add_row("Reference", f"{doc['ref']}  [dim]({doc['source']})[/dim]")
    head.add_row("Digest", doc["digest"])
    if doc["index_digest"]:
        head.add_row("Index", doc["index_digest"])
    head.add_row("Image ID", doc["config_digest"] or "")
    head.add_row("Platform", doc["platform"])
    cfg = doc["config"]
    head.add_row("Entrypoint", json.dumps(cfg["entrypoint"]))
    head.add_row("Cmd", json.dumps(cfg["cmd"]))
    head.add_row("WorkingDir", cfg["working_dir"] or "/")
    head.add_row("User", cfg["user"] or "(root)")
    head.add_row("ExposedPorts", ", ".join(cfg["exposed_ports"]) or "-")
    head.add_row("Env", "\n".join(cfg["env"]) or "-")
    if cfg["labels"]:
        head.add_row("Labels", "\n".join(f"{k}={v}" for k, v in sorted(cfg["labels"].items())))
    if not piped:
        console.print(head)

    history = Table(title="History", title_justify="left", show_edge=False, pad_edge=False)
    history.add_column("LAYER", justify="right")
    history.add_column("CREATED")
    history.add_column("CREATED BY", overflow="fold", ratio=1)
    history.add_column("SIZE", justify="right")
    for h in doc["history"]:
        history.add_row("" if h["layer_index"] is None else str(h["layer_index"]), (h["created"] or "")[:19],
                        (h["created_by"] or h["comment"] or "").replace("\t", " "),
                        "0 B" if h["empty_layer"] else human_bytes(h["size"]))
    console.print(history)

    layers = Table(title="Layers", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("#", "DIFF ID", "MEDIA TYPE", "BLOB", "SIZE", "ENTRIES"):
        layers.add_column(col, justify="right" if col in ("#", "BLOB", "SIZE", "ENTRIES") else "left")
    for layer in doc["layers"]:
        layers.add_row(str(layer["index"]), layer["diff_id"] if piped else layer["diff_id"][:19], layer["media_type"].rsplit("/", 1)[-1],
                       human_bytes(layer["size"]), human_bytes(layer["uncompressed_size"]), str(layer["entries"] or ""))
    console.print(layers)
    console.print(f"[bold]Total[/bold] {human_bytes(doc['size'])} uncompressed, {human_bytes(doc['compressed_size'])} as stored, "
                  f"{len(doc['layers'])} layers, {doc['files']} files"
                  + (f", {human_bytes(doc['shadowed_bytes'])} hidden by later layers" if doc["shadowed_bytes"] else ""))


def _print_ls(entries: list[dict]) -> None:
    out = sys.stdout
    for e in entries:
        mode = stat.filemode(_TYPE_BITS.get(e["type"], 0) | int(e["mode"], 8))
        link = f" -> {e['link']}" if e["link"] else ""
        name = e["path"].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        layer = f"L{e['layer']}" if e["layer"] >= 0 else "-"
        out.write(f"{mode} {e['uid']:>5} {e['gid']:>5} {e['size']:>10}  {layer:<3} {name}{link}\n")


def command(
    ref: str = typer.Argument(..., help="NAME[:TAG], docker://HOST/REPO[:TAG|@DIGEST], docker-daemon:…, "
                                        "docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF]."),
    platform: Optional[str] = typer.Option(None, "--platform", help="os/arch\\[/variant] to pick from a multi-platform "
                                                                   "image (default linux/amd64)."),
    as_json: bool = typer.Option(False, "--json", help="Print the stable JSON document (schema faktory.inspect/v1)."),
    ls: Optional[str] = typer.Option(None, "--ls", help="List the merged filesystem under PATH."),
    creds: Optional[str] = creds_option(),
    authfile: Optional[str] = authfile_option(),
) -> None:
    from faktory.sources import open_image

    image = open_image(ref, platform=platform, keychain=keychain_for(creds, authfile))
    doc = describe(image, ls)
    try:
        if as_json:
            json.dump(doc, sys.stdout, indent=2, ensure_ascii=True)
            sys.stdout.write("\n")
        elif ls is not None:
            _print_ls(doc["ls"])
        else:
            _print_summary(doc)
        sys.stdout.flush()
    except BrokenPipeError:  # `faktory inspect … | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
