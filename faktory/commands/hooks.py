"""`faktory hooks [--stats] [--json]` and `faktory hooks MODULE [--json]`: how much of the community's
PyInstaller hooks faktory understands, and the hook the analysis applies for one module."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Optional

import typer

from faktory.errors import FaktoryError


class BadHookQuery(FaktoryError):
    pass


def command(
    module: Optional[str] = typer.Argument(None, help="A module name: show the hooks the analysis applies to it."),
    stats: bool = typer.Option(False, "--stats", help="Hook files understood fully, partly, not at all, and why."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON document instead of text."),
    top: int = typer.Option(15, "--top", help="With --stats: how many reasons to list per distribution."),
) -> None:
    if module is not None and stats:
        raise BadHookQuery("give either MODULE or --stats, not both")
    if module is not None:
        if not all(part.isidentifier() for part in module.split(".")):
            raise BadHookQuery(f"{module!r} is not a dotted module name")
        _show_module(module, as_json)
        return
    _show_stats(as_json, top)


def _show_stats(as_json: bool, top: int) -> None:
    from faktory.analyzers.communityhooks import coverage

    doc = coverage()
    if as_json:
        out = {"total": dict(doc["total"]), "reasons": dict(doc["reasons"].most_common()),
               "distributions": {name: {**{k: v for k, v in d.items() if k != "reasons"},
                                        "reasons": dict(d["reasons"].most_common())}
                                 for name, d in doc["distributions"].items()}}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    total = doc["total"]
    print(f"{sum(total.values())} hook files: {total['full']} understood fully, {total['partial']} partly, "
          f"{total['none']} not at all")
    for name, d in doc["distributions"].items():
        print(f"\n{name} {d['version']}: {d['files']} files, {d['full']} full, {d['partial']} partial, "
              f"{d['none']} none")
        for reason, count in d["reasons"].most_common(top):
            print(f"  {count:4d}  {reason}")


def _show_module(module: str, as_json: bool) -> None:
    from faktory.analyzers.communityhooks import community_hook, hook_index, reading
    from faktory.analyzers.hooks import hook_table, overridden

    own = hook_table().get(module, ())
    community = community_hook(module)
    if not own and community is None:
        print(f"no hook for {module}", file=sys.stderr)
        raise typer.Exit(1)
    applied = list(own) + ([overridden(community, own)] if community else [])
    found = hook_index().get(module)
    read = reading(found.path, module) if found else None
    if as_json:
        doc = {"module": module, "hooks": [_plain(h) for h in applied]}
        if read is not None:
            doc["community"] = {"file": found.label, "status": read.status,
                                "not_understood": [{"reason": r, "line": n} for r, n in read.problems]}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for hook in applied:
        print(f"{hook.source or hook.kind}  [{hook.kind}]")
        for name, value in _plain(hook).items():
            if name in ("module", "source", "kind", "lines", "given") or not value:
                continue
            print(f"  {name}:")
            for item in value if isinstance(value, list) else [value]:
                line = hook.where(_item_key(name, item, hook))
                at = f"  ({line})" if line and line != hook.source else ""
                print(f"    {item}{at}")
    if read is not None:
        print(f"community hook file {found.label}: understood {read.status}")
        for reason, line in read.problems:
            print(f"  line {line}: not understood: {reason}")
        dropped = [k for h in own for k in h.given]
        if dropped:
            print(f"  replaced by faktory's own hook: {', '.join(sorted(set(dropped)))}")


def _plain(hook) -> dict:
    def value(v):
        if isinstance(v, tuple):
            return [value(x) for x in v]
        if dataclasses.is_dataclass(v):
            return {k: value(x) for k, x in dataclasses.asdict(v).items()}
        return v
    return {f.name: value(getattr(hook, f.name)) for f in dataclasses.fields(hook)}


def _item_key(field: str, item, hook) -> object:
    """The key Hook.where() knows the item by."""
    if isinstance(item, str):
        return {"dynamic_libs": f"dynamic_libs:{item}", "mypyc_dists": f"mypyc:{item}",
                "entry_points": f"entry_points:{item}"}.get(field, item)
    for rule in getattr(hook, field):
        if dataclasses.is_dataclass(rule) and dataclasses.asdict(rule) == item:
            return rule
    return item
