"""Fuzzing the parsers that read what others wrote: layer tars (the header indexer), manifests, indexes and
configs, and the three webhook payloads. Each may refuse its input only with its own error type; anything
else (a TypeError, a KeyError, a RecursionError …) is a crash. Crashes found here are pinned as regression
cases in test_fuzz_regressions.py.

Bounded: FAKTORY_FUZZ_EXAMPLES examples per parser (default 1,000: 7,000 runs, about 20 s of CPU, two minutes
of wall time on a loaded 2-core machine). No example database is written.
"""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faktory.cache import LayerCache, index_members
from faktory.errors import FaktoryError
from faktory.service import events as ev
from faktory.sources import manifest as mf
from faktory.sources.layout import _load_index
from tests.imagefab import LayerTar, compress, config_for, sha

EXAMPLES = int(os.environ.get("FAKTORY_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
COUNTS: dict[str, int] = {}


def counted(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_executions():
    yield
    print("\nfuzz executions:", json.dumps(COUNTS, sort_keys=True), "total", sum(COUNTS.values()))


# JSON values with the shapes these documents have: keys drawn from the real field names, so the fuzzer
# reaches past "not an object".
KEYS = st.sampled_from([
    "schemaVersion", "mediaType", "manifests", "config", "layers", "digest", "size", "platform", "os",
    "architecture", "variant", "annotations", "rootfs", "diff_ids", "history", "created_by", "empty_layer",
    "Env", "Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "Labels", "StopSignal", "type",
    "org.opencontainers.image.ref.name", "events", "id", "action", "target", "repository", "tag", "url",
    "request", "host", "event_data", "resources", "resource_url", "repo_full_name", "namespace", "name",
    "push_data", "repo_name", "occur_at", "pushed_at",
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["sha256:" + "a" * 64, "sha256:../../etc/passwd", "push", "PUSH_ARTIFACT", "linux", "amd64",
                     mf.OCI_MANIFEST, mf.OCI_INDEX, mf.DOCKER_LIST, mf.OCI_CONFIG, "text/html",
                     "application/vnd.oci.image.layer.v1.tar+gzip", "http://127.0.0.1:5000/v2/a/manifests/x",
                     "127.0.0.1:5000/lib/web:v1", "a/b", "x=y"]),
)
JSON = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                   st.dictionaries(st.one_of(KEYS, st.text(max_size=8)), kids,
                                                                   max_size=6)), max_leaves=30)


def as_bytes(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


# ------------------------------------------------------------------------------------------ tar headers

def _valid_tar() -> bytes:
    layer = LayerTar().dir("app").file("app/main.py", b"print(1)\n").symlink("app/link", "main.py")
    layer.hardlink("app/hard", "app/main.py").fifo("app/fifo")
    layer.file("a/" + "long-name/" * 20 + "x", b"pax")  # pax path record
    return layer.bytes()


VALID_TAR = _valid_tar()


def index_bytes(data: bytes) -> None:
    try:
        index_members(lambda offset, size: data[offset:offset + size], "fuzz")
    except FaktoryError:
        pass


@FUZZ
@given(st.binary(max_size=4096))
def test_tar_indexer_on_random_bytes(data):
    counted("tar-random")
    index_bytes(data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID_TAR) - 1), st.integers(0, 255)), min_size=1, max_size=12),
       st.integers(0, len(VALID_TAR)))
def test_tar_indexer_on_mutated_tars(flips, cut):
    counted("tar-mutated")
    data = bytearray(VALID_TAR)
    for at, value in flips:
        data[at] = value
    index_bytes(bytes(data[:cut]))


# ------------------------------------------------------------------------------------------ manifests, configs

@FUZZ
@given(JSON)
def test_manifest_and_config_parsers(doc):
    counted("manifest-config")
    data = as_bytes(doc)
    try:
        parsed = mf.parse_json(data, "fuzz")
    except FaktoryError:
        return
    for call in (lambda: mf.image_config(parsed), lambda: mf.diff_ids(parsed, "fuzz"),
                 lambda: str(mf.image_platform(parsed)), lambda: mf.history(parsed, 3),
                 lambda: mf.select_platform(parsed, None, "fuzz"), lambda: mf.descriptor(parsed, "fuzz"),
                 lambda: mf.media_type_of(parsed), lambda: mf.platform_of(parsed)):
        try:
            call()
        except FaktoryError:
            pass


class MemoryStore:
    """The BlobStore seam over a dict: one real image's blobs, so fuzzed descriptors can reach them."""

    local = False

    def __init__(self, blobs: dict[str, bytes]):
        self.blobs = blobs

    def open_blob(self, digest: str):
        from faktory.errors import InvalidImage

        if digest not in self.blobs:
            raise InvalidImage(f"blob {digest} is missing")
        return io.BytesIO(self.blobs[digest])

    def fetch_manifest(self, digest: str):
        with self.open_blob(digest) as fh:
            return fh.read(), None


def _real_image() -> tuple[dict[str, bytes], dict]:
    layer = LayerTar().file("app/x", b"x").bytes()
    blob, media_type = compress(layer, "gzip")
    config = config_for([layer])
    manifest = as_bytes({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
                         "config": {"mediaType": mf.OCI_CONFIG, "digest": sha(config), "size": len(config)},
                         "layers": [{"mediaType": media_type, "digest": sha(blob), "size": len(blob)}]})
    blobs = {sha(blob): blob, sha(config): config, sha(manifest): manifest}
    return blobs, {"mediaType": mf.OCI_MANIFEST, "digest": sha(manifest), "size": len(manifest)}


REAL_BLOBS, REAL_DESC = _real_image()
DESCRIPTORS = st.one_of(st.just(REAL_DESC), JSON,
                        st.fixed_dictionaries({"mediaType": SCALARS, "digest": SCALARS, "size": SCALARS},
                                              optional={"platform": JSON, "annotations": JSON}))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LayerCache:
    return LayerCache(tmp_path_factory.mktemp("fuzz-cache"))


@FUZZ
@given(st.one_of(JSON, st.fixed_dictionaries({"schemaVersion": SCALARS, "manifests": st.lists(DESCRIPTORS,
                                                                                            max_size=3)})),
       st.one_of(st.none(), st.text(max_size=6)))
def test_index_parser(cache, doc, tag):
    counted("index")
    try:
        _load_index(MemoryStore(REAL_BLOBS), as_bytes(doc), tag, "fuzz", cache, None)
    except FaktoryError:
        pass


# ------------------------------------------------------------------------------------------ webhook payloads

def distribution_shaped():
    event = st.fixed_dictionaries({"id": SCALARS, "action": SCALARS, "target": st.one_of(JSON, st.fixed_dictionaries(
        {"mediaType": SCALARS, "digest": SCALARS, "repository": SCALARS, "tag": SCALARS, "url": SCALARS})),
        "request": st.one_of(JSON, st.fixed_dictionaries({"host": SCALARS}))})
    return st.fixed_dictionaries({"events": st.one_of(JSON, st.lists(event, max_size=3))})


def harbor_shaped():
    resource = st.fixed_dictionaries({"digest": SCALARS, "tag": SCALARS, "resource_url": SCALARS})
    return st.fixed_dictionaries({"type": SCALARS, "occur_at": SCALARS, "event_data": st.one_of(
        JSON, st.fixed_dictionaries({"resources": st.one_of(JSON, st.lists(resource, max_size=3)),
                                     "repository": st.one_of(JSON, st.fixed_dictionaries(
                                         {"name": SCALARS, "namespace": SCALARS, "repo_full_name": SCALARS}))}))})


def dockerhub_shaped():
    return st.fixed_dictionaries({"push_data": st.one_of(JSON, st.fixed_dictionaries({"tag": SCALARS})),
                                  "repository": st.one_of(JSON, st.fixed_dictionaries({"repo_name": SCALARS}))})


PARSERS = {"distribution": (ev.parse_distribution, distribution_shaped()),
           "harbor": (ev.parse_harbor, harbor_shaped()),
           "dockerhub": (lambda body: ev.parse_dockerhub(body, "docker.io"), dockerhub_shaped())}


@pytest.mark.parametrize("source", sorted(PARSERS))
def test_webhook_payload_parsers(source):
    parse, shaped = PARSERS[source]

    @FUZZ
    @given(st.one_of(shaped, JSON.map(as_bytes), st.binary(max_size=200)))
    def run(body):
        counted(f"webhook-{source}")
        data = body if isinstance(body, bytes) else as_bytes(body)
        try:
            for item in parse(data):
                assert isinstance(item, (ev.PushEvent, ev.Ignored))
                if isinstance(item, ev.PushEvent) and item.digest is not None:
                    assert item.digest.startswith("sha256:") and len(item.digest) == 71
        except ev.MalformedPayload:
            pass

    run()
