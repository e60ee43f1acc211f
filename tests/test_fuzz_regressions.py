"""Inputs the fuzzer (test_fuzz.py) or the hardening round found crashing a parser, pinned: each is now refused
with the parser's own error."""

from __future__ import annotations

import json

import pytest

from faktory.errors import InvalidImage
from faktory.service import events as ev
from faktory.sources import manifest as mf
from faktory.sources.distribution import check_digest

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("doc", [{"os": True}, {"architecture": ["amd64"]}, {"variant": 7}])
def test_platform_fields_that_are_not_strings(doc):
    with pytest.raises(InvalidImage, match="must be strings"):
        mf.image_platform(doc)


def test_index_entry_platform_that_is_not_strings():
    with pytest.raises(InvalidImage, match="platform fields"):
        mf.select_platform({"manifests": [{"digest": DIGEST, "platform": {"os": 1, "architecture": "amd64"}}]},
                           None, "r")


def test_history_that_is_not_a_list():
    with pytest.raises(InvalidImage, match="history must be a list"):
        mf.history({"history": True}, 1)


@pytest.mark.parametrize("step", [{"created_by": 5}, {"created": ["x"]}, {"comment": {}}])
def test_history_fields_that_are_not_strings(step):
    with pytest.raises(InvalidImage, match="history"):
        mf.history({"history": [step]}, 1)


@pytest.mark.parametrize("desc, match", [
    ({"digest": DIGEST, "annotations": True}, "annotations"),
    ({"digest": DIGEST, "annotations": {"a": 1}}, "annotations"),
    ({"digest": DIGEST, "mediaType": 3}, "mediaType"),
    ({"digest": DIGEST, "size": "10"}, "size"),
    ({"digest": "sha256:../../../../etc/passwd"}, "malformed digest"),
    ({"digest": "SHA256:" + "A" * 64}, "malformed digest"),
    ({"digest": "sha512:" + "a" * 128}, "malformed digest"),
])
def test_descriptor_fields(desc, match):
    with pytest.raises(InvalidImage, match=match):
        mf.descriptor(desc, "d")


@pytest.mark.parametrize("config", [{"Env": 42}, {"Env": [1, 2]}, {"ExposedPorts": ["80/tcp"]}, {"Labels": ["a"]},
                                    {"Labels": {"a": 1}}, {"WorkingDir": ["/"]}, {"User": 0}, {"Entrypoint": 3}])
def test_config_fields_of_the_wrong_type(config):
    with pytest.raises(InvalidImage, match="config.(Env|ExposedPorts|Labels|WorkingDir|User|Entrypoint)"):
        mf.image_config({"config": config})


def test_diff_ids_are_digests():
    with pytest.raises(InvalidImage, match=r"diff_ids\[1\]"):
        mf.diff_ids({"rootfs": {"diff_ids": [DIGEST, "sha256:zz"]}}, "c")


def test_check_digest_refuses_malformed_digests_before_hashing():
    with pytest.raises(InvalidImage, match="malformed digest"):
        check_digest(b"{}", "sha256:" + "g" * 64, "m")


def test_webhook_digests_and_nesting():
    event = {"id": "1", "action": "push", "target": {"mediaType": mf.OCI_MANIFEST, "digest": "sha256:../x",
                                                      "repository": "a/b", "url": "http://r:5000/v2/"}}
    with pytest.raises(ev.MalformedPayload, match="not a sha256 digest"):
        ev.parse_distribution(json.dumps({"events": [event]}).encode())
    with pytest.raises(ev.MalformedPayload, match="nested too deeply"):
        ev.parse_harbor(b"[" * 100_000 + b"]" * 100_000)
