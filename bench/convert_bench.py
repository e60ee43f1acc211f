"""Side by side, per fixture, in one run: the physical limit, faktory, PyInstaller and the dynamic minimum.

    .venv/bin/python bench/convert_bench.py [APP ...] [--corpus] [--target oci] [--no-pyinstaller] [--sizes-only]
    .venv/bin/python bench/convert_bench.py --pyinstaller-only APP ...    # fill the PyInstaller cache
    .venv/bin/python bench/convert_bench.py --corpus --rows rows.jsonl    # every corpus app, rows kept as JSON
    .venv/bin/python bench/convert_bench.py --table rows.jsonl            # the table again from kept rows

Per fixture (fixture names; default: a representative set; `--corpus`: every app of docs/corpus.md):
1. gunzip: Python zlib over its gzip layer blobs (the fixture's OCI layout), 1 MiB reads: reading the layers once.
2. `faktory convert --to TARGET` of that OCI layout in a child process, cold (empty FAKTORY_CACHE_DIR: no layer
   cache, no scan cache) and warm (the same cache again), plain and `--compact`; the raw target (files shipped
   uncompressed) plain and `--compact`, so `--compact` is checked never larger on both.
3. PyInstaller 6 `--onedir --strip` built inside the image's root by bench/peer_pyinstaller.py, whose bundle must
   print what the original prints. Results are cached per image id under the cache dir's `bench/` (a build takes
   minutes): `--pyinstaller-only` fills it, in the background, before a bench run.
4. The dynamic minimum: the regular files the app's probe touches under strace (the oracle of
   tests/test_analyze_oracle.py), summed as they are in the image and as shipped (ELF debug sections stripped).
Output sizes are what the target ships: the uncompressed rootfs payload (file bytes) and the artifact itself
(the gzip'd OCI image; the initrd for microvm/unikraft; the sysroot for nanos). Timings are wall clock on
whatever else the machine runs; they are never test assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from faktory.api import analyze, load_image  # noqa: E402
from fixtures import catalog  # noqa: E402
from fixtures.build import cache_root, ensure, tag_of  # noqa: E402

APPS = ("black", "ruamel-yaml", "protobuf", "faker", "sqlalchemy", "matplotlib", "pygments-debian", "flask")
FAKTORY = [str(ROOT / ".venv/bin/faktory")] if (ROOT / ".venv/bin/faktory").exists() else [sys.executable, "-m",
                                                                                            "faktory"]
READ = 1 << 20


@dataclass(frozen=True)
class PeerResult:
    ok: bool
    why: str
    bytes: int
    seconds: float
    packed: int = 0  # the bundle as tar.gz


@dataclass(frozen=True)
class Minimum:
    image: int  # bytes of the touched files as they are in the image
    stripped: int  # as shipped: ELF debug sections stripped
    files: dict  # path -> size in the image


@dataclass(frozen=True)
class Output:
    payload: int  # file bytes in the rootfs as shipped
    artifact: int  # what the target ships (compressed image, initrd, sysroot)
    seconds: float


# --- 1. the physical limit ---------------------------------------------------------------------------------
def layer_blobs(layout: Path) -> list[Path]:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    return [layout / "blobs/sha256" / layer["digest"].split(":")[1] for layer in manifest["layers"]]


def gunzip_seconds(blobs: list[Path]) -> float:
    started = time.perf_counter()
    for blob in blobs:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        with open(blob, "rb") as fh:
            for chunk in iter(lambda: fh.read(READ), b""):
                inflate.decompress(chunk)
    return time.perf_counter() - started


# --- 2. faktory ----------------------------------------------------------------------------------------------
def convert(ref: str, target: str, out: Path, cache: Path, compact: bool, extra: tuple[str, ...] = (),
            keep: bool = False) -> Output:
    """`extra`: more convert arguments; `keep`: leave the output in `out`."""
    argv = [*FAKTORY, "convert", ref, "--to", target, "-o", str(out), "--force", *(["--compact"] if compact else []),
            *extra]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, FAKTORY_CACHE_DIR=str(cache)))
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()[-300:]}")
    doc = json.loads((out / "faktory.json").read_text())
    payload = doc.get("uncompressed_layer_size") or payload_of(doc)
    if not keep:
        shutil.rmtree(out)
    return Output(payload, artifact_size(doc), seconds)


def artifact_size(doc: dict) -> int:
    if "compressed_size" in doc.get("image", {}):
        return doc["image"]["compressed_size"]
    return sum(size for name, size in doc["files"].items() if name not in ("vmlinuz", "faktory.json", "README.md"))


def payload_of(doc: dict) -> int:
    return doc.get("payload_size") or artifact_size(doc)


def faktory_side(ref: str, target: str, raw_target: str | None, scratch: Path) -> dict[str, Output]:
    """Cold and warm, plain and --compact: cold = a fresh cache dir; warm = the same dir a second time;
    `raw_target`: --compact for a target that ships its files uncompressed too (unikraft, nanos)."""
    cache = scratch / "cache"
    cache.mkdir()
    out = {"cold": convert(ref, target, scratch / "out", cache, False),
           "warm": convert(ref, target, scratch / "out", cache, False),
           "compact": convert(ref, target, scratch / "out", cache, True)}
    if raw_target:
        out["default_raw"] = convert(ref, raw_target, scratch / "out", cache, False)
        out["compact_raw"] = convert(ref, raw_target, scratch / "out", cache, True)
    shutil.rmtree(cache)
    return out


# --- 3. PyInstaller ------------------------------------------------------------------------------------------
def _peer_cache() -> Path:
    return Path(os.environ.get("FAKTORY_BENCH_CACHE") or Path.home() / ".cache/faktory/bench") / "pyinstaller.json"


def _image_id(app: str) -> str:
    return subprocess.run(["docker", "image", "inspect", tag_of(app), "--format", "{{.Id}}"], capture_output=True,
                          text=True).stdout.strip()


def pyinstaller(app: str, *, build: bool) -> PeerResult | None:
    """PyInstaller --onedir --strip of the app, from the cache, else built when `build` (minutes per app)."""
    import peer_pyinstaller

    path = _peer_cache()
    cache = json.loads(path.read_text()) if path.exists() else {}
    key = f"{app}@{_image_id(app)}:strip+packed:{peer_pyinstaller.PYINSTALLER[0]}"
    if key in cache:
        return PeerResult(**cache[key])
    if not build:
        return None
    from tests.oracle import trace

    spec = catalog.apps()[app]
    with trace.private_dir(prefix=f"bench-peer-{app}-") as tmp:  # the sandbox's uid must reach the root
        try:
            result = PeerResult(*peer_pyinstaller.peer(app, spec, Path(tmp), strip=True),
                                packed=peer_pyinstaller.LAST_PACKED.get(app, 0))
        except (RuntimeError, subprocess.SubprocessError, OSError) as err:
            result = PeerResult(False, f"error: {err}", 0, 0.0)
    cache = json.loads(path.read_text()) if path.exists() else {}  # another run may have added rows meanwhile
    cache[key] = asdict(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".part").write_text(json.dumps(cache, indent=1))
    path.with_suffix(".part").replace(path)
    return result


# --- 4. the dynamic minimum ----------------------------------------------------------------------------------
def dynamic_minimum(app: str, scratch: Path) -> Minimum | None:
    """The files the probe touches: their bytes in the image and as shipped (debug sections stripped)."""
    return dynamic_minimum_of(tag_of(app), catalog.apps()[app].probe, scratch)


def dynamic_minimum_of(tag: str, probe: catalog.Probe, scratch: Path) -> Minimum | None:
    """dynamic_minimum of the image `tag` in the engine under `probe`."""
    from faktory.emitters.compact import ELF_MAGIC
    from tests.oracle import check, rootfs, trace

    image = load_image(tag)
    cfg = image.config
    with trace.private_dir(prefix="bench-oracle-") as home:
        root = rootfs.export_image(tag, home / "root")
        log = scratch / "strace.log"
        if probe.http_port:
            argv = list(cfg.argv)
            traced = trace.serve_and_get(root, argv, cfg.env_map, cfg.working_dir, probe.http_port, probe.http_path,
                                         log)
        elif probe.cmd:
            argv = list(cfg.entrypoint or ()) + list(probe.cmd)
            traced = trace.run_traced(root, argv, cfg.env_map, cfg.working_dir, log)
        else:
            return None
        paths = check.without_program_lookups(traced.paths, log.read_text(errors="replace"), argv[0],
                                              cfg.working_dir or "/", str(root), cfg.env_map)
        files = check.dynamic_files(image.fs, paths)
        shipped = 0
        for path, size in files.items():
            host = root / path.lstrip("/")
            with open(host, "rb") as fh:
                head = fh.read(4)
            if head == ELF_MAGIC and size >= 4096:
                stripped = scratch / "elf"
                if subprocess.run(["strip", "--strip-debug", "-o", str(stripped), str(host)],
                                  capture_output=True).returncode == 0:
                    size = min(size, stripped.stat().st_size)
            shipped += size
        return Minimum(sum(files.values()), shipped, files)


# --- the table -----------------------------------------------------------------------------------------------
def mb(n: int | None) -> str:
    return "–" if not n else f"{n / 1e6:.1f}"


def ratio(a: float | None, b: float | None) -> str:
    return "–" if not a or not b else f"{a / b:.2f}×"


def bench_app(app: str, target: str, raw_target: str | None, fixture, *, peer: bool, build_peer: bool,
              sizes_only: bool) -> dict:
    row: dict = {"app": app}
    with tempfile.TemporaryDirectory(prefix=f"bench-{app}-") as tmp:
        scratch = Path(tmp)
        blobs = layer_blobs(fixture.oci)
        row["blobs"] = sum(b.stat().st_size for b in blobs)
        row["gunzip_s"] = gunzip_seconds(blobs)
        row["faktory"] = faktory_side(fixture.oci_ref, target, raw_target, scratch)
        if not sizes_only:
            row["dynamic"] = dynamic_minimum(app, scratch)
        row["peer"] = pyinstaller(app, build=build_peer) if peer else None
    return row


def no_larger(compact: Output | None, default: Output | None) -> bool | None:
    """--compact never larger than the default: payload and artifact both."""
    if compact is None or default is None:
        return None
    return compact.payload <= default.payload and compact.artifact <= default.artifact


def yes_no(flag: bool | None) -> str:
    return "–" if flag is None else ("yes" if flag else "**no**")


def print_table(rows: list[dict], target: str, raw_target: str | None, *, header: bool = True) -> None:
    """Sizes in MB. `× min`: against the dynamic minimum as shipped (stripped). PyInstaller's bundle keeps its
    pure-Python modules zlib'd in one archive, so it is set against faktory's gzip'd output (both as shipped)
    and against the uncompressed target's files (both as they sit on disk or in RAM)."""
    raw = raw_target or "–"
    if header:
        print(f"| app | blobs | gunzip s | cold s (× gunzip) | warm s (× gunzip) | dynamic min (image / stripped) | "
              f"{target} default files (× min) | {target} --compact files (× min) | {target} image default / --compact "
              f"| {raw} files default / --compact | PyInstaller --strip dir / tar.gz | --compact vs PyInstaller: "
              f"image vs tar.gz, {raw} vs dir | --compact ≤ PyInstaller | --compact ≤ default ({target}, {raw}) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        fk, dyn, peer = r["faktory"], r.get("dynamic"), r.get("peer")
        minimum = dyn.stripped if dyn else None
        raw_out, raw_default = fk.get("compact_raw"), fk.get("default_raw")
        if peer and peer.ok:
            peer_cell = f"{mb(peer.bytes)} / {mb(peer.packed)}"
            versus = (f"{ratio(fk['compact'].artifact, peer.packed)}, "
                      f"{ratio(raw_out.payload, peer.bytes) if raw_out else '–'}")
            below = (fk["compact"].artifact <= peer.packed, raw_out.payload <= peer.bytes if raw_out else None)
            below_cell = f"{yes_no(below[0])}, {yes_no(below[1])}"
        else:
            why = peer.why.split(": ", 1)[0] if peer else ""
            peer_cell, versus, below_cell = (f"fails ({why})" if peer else "–"), "–", "–"
        raw_cell = f"{mb(raw_default.payload) if raw_default else '–'} / {mb(raw_out.payload) if raw_out else '–'}"
        never = f"{yes_no(no_larger(fk['compact'], fk['cold']))}, {yes_no(no_larger(raw_out, raw_default))}"
        print(f"| {r['app']} | {mb(r['blobs'])} | {r['gunzip_s']:.2f} | {fk['cold'].seconds:.1f} "
              f"({ratio(fk['cold'].seconds, r['gunzip_s'])}) | {fk['warm'].seconds:.1f} "
              f"({ratio(fk['warm'].seconds, r['gunzip_s'])}) | {mb(dyn.image) if dyn else '–'} / {mb(minimum)} | "
              f"{mb(fk['cold'].payload)} ({ratio(fk['cold'].payload, minimum)}) | {mb(fk['compact'].payload)} "
              f"({ratio(fk['compact'].payload, minimum)}) | {mb(fk['cold'].artifact)} / {mb(fk['compact'].artifact)} "
              f"| {raw_cell} | {peer_cell} | {versus} | {below_cell} | {never} |", flush=True)


def save_row(path: Path, row: dict) -> None:
    """One JSON line per row, appended (a long run keeps what it measured)."""
    doc = {**row, "faktory": {k: asdict(v) for k, v in row["faktory"].items()},
           "dynamic": ({"image": row["dynamic"].image, "stripped": row["dynamic"].stripped}
                       if row.get("dynamic") else None),
           "peer": asdict(row["peer"]) if row.get("peer") else None}
    with open(path, "a") as fh:
        fh.write(json.dumps(doc) + "\n")


def load_rows(path: Path) -> list[dict]:
    """Rows saved by save_row; a later row of an app replaces an earlier one."""
    rows: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        doc["faktory"] = {k: Output(**v) for k, v in doc["faktory"].items()}
        doc["dynamic"] = Minimum(doc["dynamic"]["image"], doc["dynamic"]["stripped"], {}) if doc["dynamic"] else None
        doc["peer"] = PeerResult(**doc["peer"]) if doc["peer"] else pyinstaller(doc["app"], build=False)
        rows[doc["app"]] = doc
    return list(rows.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convert_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("apps", nargs="*")
    parser.add_argument("--corpus", action="store_true", help="every corpus app (docs/corpus.md)")
    parser.add_argument("--rows", type=Path, help="append each measured row to this JSON-lines file")
    parser.add_argument("--table", type=Path, help="print the table from a --rows file, measure nothing")
    parser.add_argument("--target", default="oci")
    parser.add_argument("--raw-target", default="unikraft", help="a target with uncompressed files ('' for none)")
    parser.add_argument("--no-pyinstaller", action="store_true", help="leave the PyInstaller column out")
    parser.add_argument("--build-pyinstaller", action="store_true", help="build what the cache lacks (slow)")
    parser.add_argument("--pyinstaller-only", action="store_true", help="only fill the PyInstaller cache")
    parser.add_argument("--sizes-only", action="store_true", help="no strace oracle run")
    args = parser.parse_args(argv)
    if args.table:
        print_table(load_rows(args.table), args.target, args.raw_target or None)
        return 0
    args.apps = args.apps or ([name for name, spec in catalog.apps().items() if spec.corpus] if args.corpus
                              else list(APPS))
    if args.pyinstaller_only:
        for app in args.apps:
            result = pyinstaller(app, build=True)
            print(f"{app}: {result}", flush=True)
        return 0
    fixtures = ensure(only=args.apps, push_images=False)
    rows = []
    for app in args.apps:
        if app not in fixtures.images:
            print(f"{app}: fixture unavailable: {fixtures.missing.get(app)}", file=sys.stderr)
            continue
        try:
            row = bench_app(app, args.target, args.raw_target or None, fixtures.images[app],
                            peer=not args.no_pyinstaller, build_peer=args.build_pyinstaller,
                            sizes_only=args.sizes_only)
        except RuntimeError as err:  # one app's failed convert does not end a 30-app run
            print(f"{app}: {err}", file=sys.stderr, flush=True)
            continue
        rows.append(row)
        if args.rows:
            save_row(args.rows, row)
        print_table([row], args.target, args.raw_target or None, header=len(rows) == 1)
    print(f"\nload average {os.getloadavg()[0]:.1f}; all rows:")
    print_table(rows, args.target, args.raw_target or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
