"""The image's USER resolved as docker run resolves it, from hand-made passwd and group files."""

import pytest

from faktory.analyzers.runas import RunAs, UnknownUser, resolve_user
from faktory.emitters.base import LaunchOut
from faktory.emitters.vminit import LaunchSpec

PASSWD = """root:x:0:0:root:/root:/bin/bash
# a comment line
app:x:1001:1002:App:/var/lib/app:/usr/sbin/nologin
short:x:7
"""
GROUP = """root:x:0:
app:x:1002:
audio:x:29:app,other
video:x:44:other
web:x:33:app
"""
FILES = {"/etc/passwd": PASSWD, "/etc/group": GROUP}


def resolve(spec, files=FILES):
    return resolve_user(spec, files.get)


def test_a_name_takes_its_ids_home_and_the_groups_that_list_it():
    assert resolve("app") == RunAs(1001, 1002, (29, 33, 1002), "/var/lib/app", "app")


def test_a_uid_in_passwd_is_that_entry():
    assert resolve("1001") == RunAs(1001, 1002, (29, 33, 1002), "/var/lib/app", "1001")


def test_a_uid_passwd_does_not_name_runs_with_gid_0_and_home_root_dir():
    assert resolve("4242") == RunAs(4242, 0, (0,), "/", "4242")


def test_a_given_group_replaces_the_primary_one_and_the_supplementary_ones():
    assert resolve("app:video") == RunAs(1001, 44, (44,), "/var/lib/app", "app:video")
    assert resolve("app:5000") == RunAs(1001, 5000, (5000,), "/var/lib/app", "app:5000")


def test_root_and_no_user_change_nothing():
    assert resolve("") is None
    assert resolve("root") is None
    assert resolve("0:0") is None


def test_names_the_image_does_not_have_fail_as_docker_run_does():
    with pytest.raises(UnknownUser, match="USER 'nobody-here'"):
        resolve("nobody-here")
    with pytest.raises(UnknownUser, match="no group 'wheel'"):
        resolve("app:wheel")
    with pytest.raises(UnknownUser):
        resolve("app", {})  # no passwd file at all


def test_the_microvm_launch_record_and_faktory_json_carry_the_user():
    user = resolve("app")
    assert b"U1001:1002:29,33,1002\0" in LaunchSpec(("/usr/bin/python3",), {}, "/", user=user).record()
    assert not any(item.startswith(b"U") for item in LaunchSpec(("/usr/bin/python3",), {}, "/").record().split(b"\0"))
    out = LaunchOut(("/usr/bin/python3",), {}, "/", (), user)
    assert LaunchOut.from_dict(out.to_dict()) == out
    assert "user" not in LaunchOut(("/usr/bin/python3",), {}).to_dict()  # root images: faktory.json unchanged
