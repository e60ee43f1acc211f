"""`faktory cache`: usage, pruning by last use, and what pruning must never do (half entries, busy layers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from faktory.cache import LayerCache
from faktory.cache_prune import BadCacheOption, parse_duration, parse_size, prune, usage
from faktory.sources import open_image
from tests.imagefab import LayerTar, sha, write_docker_archive

DAY = 86400


def _image(tmp_path, name: str, payload: bytes):
    layers = [LayerTar().dir("app").file(f"app/{name}", payload).bytes()]
    return write_docker_archive(tmp_path / f"{name}.tar", layers, tag=f"fab/{name}:latest"), sha(layers[0])


def _age(cache: LayerCache, diff_id: str, seconds: float) -> None:
    index = cache.base / "layers" / f"{diff_id[7:]}.json"
    then = time.time() - seconds
    os.utime(index, (then, then))


@pytest.fixture
def three(tmp_path):
    """A cache holding three one-layer images, last used 3 days, 2 days and 1 hour ago."""
    cache = LayerCache(tmp_path / "cache")
    ids = {}
    for name, age, size in (("old", 3 * DAY, 300_000), ("older", 2 * DAY, 200_000), ("recent", 3600, 100_000)):
        archive, diff_id = _image(tmp_path, name, os.urandom(size))
        open_image(f"docker-archive:{archive}", cache=cache)
        _age(cache, diff_id, age)
        ids[name] = (diff_id, archive)
    return cache, ids


def test_usage_lists_layers_oldest_first(three):
    cache, ids = three
    now = usage(cache)
    assert [layer.diff_id for layer in now.layers] == [ids["old"][0], ids["older"][0], ids["recent"][0]]
    assert now.layer_bytes > 600_000 and now.metadata_files == 3


def test_prune_removes_what_was_not_used_since_until(three):
    cache, ids = three
    result = prune(cache, until=DAY)
    assert result.removed_layers == 2 and result.freed_bytes > 500_000 and result.kept_busy == 0
    assert cache.get(ids["old"][0]) is None and cache.get(ids["older"][0]) is None
    assert cache.get(ids["recent"][0]) is not None
    # A pruned image loads again: the layer is streamed back in, whole.
    again = open_image(f"docker-archive:{ids['old'][1]}", cache=cache)
    assert again.fs.stat("/app/old").size == 300_000


def test_keep_storage_stops_once_small_enough(three):
    cache, ids = three
    total = usage(cache).total_bytes
    result = prune(cache, until=0, keep_bytes=total - 1)  # one layer is enough to get under
    assert result.removed_layers == 1
    assert cache.get(ids["old"][0]) is None and cache.get(ids["older"][0]) is not None


def test_a_locked_layer_is_left_alone(three):
    cache, ids = three
    with cache.lock(ids["old"][0]):  # another process writing this layer
        result = prune(cache, until=DAY)
    assert result.kept_busy == 1 and result.removed_layers == 1
    assert cache.get(ids["old"][0]) is not None


def test_loading_refreshes_last_use(three):
    cache, ids = three
    open_image(f"docker-archive:{ids['old'][1]}", cache=cache)  # warm: reads the index, marks it used
    prune(cache, until=DAY)
    assert cache.get(ids["old"][0]) is not None and cache.get(ids["older"][0]) is None


def test_sizes_and_durations():
    assert parse_size("10GB") == 10**10 and parse_size("512MiB") == 512 << 20 and parse_size("0") == 0
    assert parse_duration("30m") == 1800 and parse_duration("7d") == 7 * DAY
    for bad in ("ten", "5x", ""):
        with pytest.raises(BadCacheOption):
            parse_duration(bad)
    with pytest.raises(BadCacheOption):
        parse_size("12 apples")


def test_cli_prunes_and_reports(three, tmp_path):
    cache, ids = three
    env = dict(os.environ, FAKTORY_CACHE_DIR=str(cache.root))
    run = lambda *args: subprocess.run([sys.executable, "-m", "faktory", "cache", *args], env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    before = json.loads(run("--json").stdout)
    assert before["layers"] == 3
    pruned = run("--prune", "--until", "1d", "--json")
    doc = json.loads(pruned.stdout)
    assert doc["pruned"]["layers"] == 2 and doc["layers"] == 1
    bad = run("--prune", "--until", "soon")
    assert bad.returncode == 2 and bad.stderr.strip() == "faktory: error: not a duration: 'soon' (examples: 30m, 24h, 7d)"
    lone = run("--keep-storage", "1GB")
    assert lone.returncode == 2 and "--keep-storage goes with --prune" in lone.stderr
    assert json.loads(run("--json").stdout)["layers"] == 1  # refused calls removed nothing


def test_prune_drops_scan_rows_of_removed_layers_and_stale_scan_formats(three):
    from faktory.analyzers.scancache import SCAN_FORMAT, ScanCache

    cache, ids = three
    current = cache.base / f"scans-{SCAN_FORMAT}.sqlite"
    store = ScanCache(current)
    rows = {f"{ids['old'][0]}:/app/old", f"magic-2:{ids['old'][0]}:/app/old", f"{ids['recent'][0]}:/app/recent",
            "sha256:" + "ab" * 32}  # the last names bytes, no layer
    for key in rows:
        store.put_names(key, ["x"])
    store.flush()
    stale = cache.base / f"scans-{SCAN_FORMAT - 1}.sqlite"
    stale.write_bytes(b"\0" * 50_000)
    then = time.time() - 2 * DAY
    os.utime(stale, (then, then))
    assert {e.diff_id for e in usage(cache).scan_stores} == {current.name, stale.name}

    result = prune(cache, until=DAY)
    assert result.removed_layers == 2
    assert result.removed_scans == 3  # two rows of the old layer, one stale store
    assert not stale.exists() and current.exists()
    left = ScanCache(current)
    assert {key for key in rows if left.get_names(key) is not None} == {f"{ids['recent'][0]}:/app/recent",
                                                                        "sha256:" + "ab" * 32}


def test_a_path_that_is_no_utf8_is_cached_under_its_own_key(tmp_path):
    """A layer may hold a file named with bytes that are no UTF-8 (`\\xff\\xfe.txt`): its scan facts are stored
    and found again, never under the key of a file literally named with a backslash."""
    from faktory.analyzers.scancache import ScanCache

    cache = ScanCache(tmp_path / "scans.sqlite")
    odd = "sha256:" + "ab" * 32 + ":/data/" + b"\xff\xfe.txt".decode("utf-8", "surrogateescape")
    literal = "sha256:" + "ab" * 32 + ":/data/\\xff\\xfe.txt"
    cache.put_names(odd, ["odd"])
    cache.put_names(literal, ["literal"])
    cache.flush()
    again = ScanCache(tmp_path / "scans.sqlite")
    assert again.get_names(odd) == ["odd"] and again.get_names(literal) == ["literal"]
