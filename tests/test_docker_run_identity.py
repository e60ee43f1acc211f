"""What `docker run` gives the app besides its files, the converted image gives too.

An image that runs as a non-root USER runs as that user: same uid, gid, groups and HOME, and the files it owns in
the image are still its own (it writes into its home dir), on oci and microvm; a runtime with no users says so in
a finding. The microVM has a host name the app can resolve, as a container has. What the image has in /tmp, and
its Volumes, are there as in the container."""

from __future__ import annotations

import json
import subprocess
from contextlib import contextmanager
from pathlib import Path

FAKTORY = str(Path(__file__).resolve().parents[1] / ".venv/bin/faktory")
ENV = {"COLUMNS": "200", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
WHOAMI = """import getpass, os, pathlib
home = pathlib.Path(os.environ["HOME"])
(home / "state.txt").write_text("saved")
print("uid", os.getuid(), "gid", os.getgid(), "groups", sorted(os.getgroups()), "user", getpass.getuser(),
      "home", home, "file-owner", (home / "state.txt").stat().st_uid, "cwd", os.getcwd())
"""
VOLUME_APP = """import os, sqlite3
seed = os.path.join(os.environ["SEED_DIR"], "greeting.txt")  # a computed path: only the volume keeps it
db = sqlite3.connect("/data/app.db")
db.execute("create table t (x)")
db.execute("insert into t values (1)")
print(open(seed).read().strip(), db.execute("select count(*) from t").fetchone()[0])
"""


def _faktory(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FAKTORY, *args], capture_output=True, text=True, timeout=900, env=ENV)


@contextmanager
def _image(tmp_path: Path, name: str, dockerfile: str, **files: str):
    """A test image built from `dockerfile` with `files` beside it; removed afterwards."""
    tag = f"faktory-test/{name}:latest"
    build = tmp_path / "ctx"
    build.mkdir()
    for file_name, text in files.items():
        (build / file_name.replace("_", ".", 1)).write_text(text)
    (build / "Dockerfile").write_text(dockerfile)
    subprocess.run(["docker", "build", "-q", "-t", tag, str(build)], check=True, capture_output=True, timeout=600)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)


def _original(tag: str) -> str:
    proc = subprocess.run(["docker", "run", "--rm", "--network=none", tag], capture_output=True, text=True, timeout=300)
    return proc.stdout + proc.stderr


def _verified(tag: str, tmp_path: Path, *targets: str) -> None:
    """verify compares the whole output and exit code with the original's."""
    for target in targets:
        proc = _faktory("verify", tag, "--to", target, "-o", str(tmp_path / target), "--json")
        assert proc.returncode == 0, target + proc.stdout + proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["passed"] and any(c["name"].startswith("run default command") for c in doc["checks"]), doc


def test_the_image_user_owns_its_files_and_runs_the_app(fixture_images, tmp_path):
    # pkg-app runs as USER inventory (uid 1001), WORKDIR its home; a second group lists it as a member.
    dockerfile = (f"FROM {fixture_images['pkg-app'].tag}\nUSER root\n"
                  "RUN groupadd --gid 2345 reporters && usermod -aG reporters inventory\n"
                  'COPY whoami.py /opt/whoami.py\nUSER inventory\nCMD ["python", "/opt/whoami.py"]\n')
    with _image(tmp_path, "image-user", dockerfile, whoami_py=WHOAMI) as tag:
        original = _original(tag)
        assert "uid 1001 " in original and ", 2345] user inventory home /var/lib/inventory file-owner 1001" \
            in original, original  # its primary group is a system one (999)
        _verified(tag, tmp_path, "oci", "microvm")
        launch = json.loads((tmp_path / "microvm" / "faktory.json").read_text())["launch"]
        gid = int(original.split(" gid ")[1].split()[0])
        assert launch["user"] == {"uid": 1001, "gid": gid, "groups": [gid, 2345], "home": "/var/lib/inventory",
                                  "spec": "inventory"}
        assert launch["env"]["HOME"] == "/var/lib/inventory"
        proc = _faktory("convert", tag, "--to", "unikraft", "-o", str(tmp_path / "uk"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        findings = json.loads((tmp_path / "uk" / "faktory.json").read_text())["findings"]
        assert any(f["kind"] == "user" and "USER inventory (uid 1001" in f["message"] for f in findings), findings


def test_a_user_the_image_does_not_have_is_one_line_and_exit_2(fixture_images, tmp_path):
    with _image(tmp_path, "image-user-missing", f"FROM {fixture_images['pkg-app'].tag}\nUSER ghost\n") as tag:
        proc = _faktory("convert", tag, "--to", "oci", "-o", str(tmp_path / "o"))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stderr.count("\n") == 1 and "USER 'ghost'" in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "o").exists()


def test_the_microvm_host_name_and_resolver_are_a_containers(fixture_images, tmp_path):
    out = tmp_path / "vm"
    proc = _faktory("convert", fixture_images["flask"].tag, "--to", "microvm", "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    launch = json.loads((out / "faktory.json").read_text())["launch"]
    name = launch["hostname"]
    assert len(name) == 12 and launch["env"]["HOSTNAME"] == name
    code = ("import os, socket; print(socket.gethostname(), os.environ['HOSTNAME'], "
            "socket.gethostbyname(socket.gethostname())); print(open('/etc/resolv.conf').read())")
    proc = _faktory("run", str(out), "--timeout", "300", "--", "python", "-c", code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{name} {name} 10.0.2.15" in proc.stdout, proc.stdout + proc.stderr
    # the resolver docker run would mount from the host: QEMU's, which forwards to it (the image carries its build's)
    assert "nameserver 10.0.2.3" in proc.stdout, proc.stdout


def test_what_the_image_has_in_tmp_stays_visible_in_the_microvm(fixture_images, tmp_path):
    dockerfile = (f"FROM {fixture_images['pkg-app'].tag}\nCOPY seed.txt /tmp/seed/seed.txt\n"
                  'COPY app.py /srv/app.py\nCMD ["python", "/srv/app.py"]\n')
    with _image(tmp_path, "files-in-tmp", dockerfile, seed_txt="seeded at build time\n",
                app_py="print(open('/tmp/seed/seed.txt').read().strip())\n") as tag:
        _verified(tag, tmp_path, "microvm")


def test_the_image_volumes_exist_with_what_the_image_has_there(fixture_images, tmp_path):
    """`VOLUME /data` (not in the image: docker makes it) and `VOLUME /seed` (in the image, with a file the app
    finds by a computed path): the app writes the one and reads the other, on oci and microvm."""
    dockerfile = (f"FROM {fixture_images['pkg-app'].tag}\nUSER root\n"
                  "RUN mkdir /seed && echo hello > /seed/greeting.txt\nVOLUME /data /seed/\n"
                  'COPY app.py /srv/app.py\nENV SEED_DIR=/seed\nCMD ["python", "/srv/app.py"]\n')
    with _image(tmp_path, "volumes", dockerfile, app_py=VOLUME_APP) as tag:
        assert _original(tag).strip() == "hello 1"
        _verified(tag, tmp_path, "oci", "microvm")
        why = _faktory("analyze", tag, "--why", "/seed/greeting.txt")
        assert "volume" in why.stdout, why.stdout + why.stderr
