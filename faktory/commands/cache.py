"""`faktory cache [--prune [--until 24h] [--keep-storage SIZE]] [--json]`: what the layer cache holds, and pruning it."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from faktory.units import human_bytes


def command(
    prune: bool = typer.Option(False, "--prune", help="Remove layers not used for --until (least recently used first)."),
    until: Optional[str] = typer.Option(None, "--until", help="With --prune: keep what was used this recently "
                                                              "(30m, 24h, 7d; default 24h)."),
    keep_storage: Optional[str] = typer.Option(None, "--keep-storage", help="With --prune: stop once the cache is "
                                                                            "no bigger than this (10GB, 512MiB)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON document instead of text."),
) -> None:
    from faktory.cache import LayerCache
    from faktory.cache_prune import BadCacheOption, parse_duration, parse_size, usage
    from faktory.cache_prune import prune as prune_cache

    for name, value in (("--until", until), ("--keep-storage", keep_storage)):
        if value is not None and not prune:
            raise BadCacheOption(f"{name} goes with --prune")
    until_s = parse_duration(until or "24h")
    keep = parse_size(keep_storage) if keep_storage is not None else None
    cache = LayerCache()
    result = prune_cache(cache, until=until_s, keep_bytes=keep) if prune else None
    now = usage(cache)
    doc = {
        "root": now.root,
        "layers": len(now.layers),
        "layer_bytes": now.layer_bytes,
        "metadata_files": now.metadata_files,
        "scan_bytes": sum(store.size for store in now.scan_stores),
        "total_bytes": now.total_bytes,
        "oldest_use": min((layer.last_used for layer in now.layers), default=None),
    }
    if result is not None:
        doc["pruned"] = {"layers": result.removed_layers, "metadata_files": result.removed_metadata,
                         "freed_bytes": result.freed_bytes, "busy_layers": result.kept_busy,
                         "scan_entries": result.removed_scans}
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if result is not None:
        busy = f", {result.kept_busy} in use left alone" if result.kept_busy else ""
        scans = f", {result.removed_scans} scan results" if result.removed_scans else ""
        print(f"pruned {result.removed_layers} layers, {result.removed_metadata} configs/manifests{scans}, "
              f"freed {human_bytes(result.freed_bytes)}{busy}")
    print(f"{now.root}: {len(now.layers)} layers, {human_bytes(now.layer_bytes)}; "
          f"{now.metadata_files} configs/manifests; scan results {human_bytes(doc['scan_bytes'])}; "
          f"total {human_bytes(now.total_bytes)}")
