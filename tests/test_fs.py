"""Merged-filesystem semantics on small hand-made layers (pure Python, no engine needed)."""

from __future__ import annotations

import pytest

from faktory.cache import LayerCache
from faktory.errors import InvalidImage, SymlinkLoop, UnsafePath
from faktory.image import DIR, FIFO, FILE, SYMLINK, FileSystem
from faktory.sources import open_image
from tests.imagefab import LayerTar, write_docker_archive


@pytest.fixture
def cache(tmp_path):
    return LayerCache(tmp_path / "cache")


def load(tmp_path, cache, *layers):
    archive = write_docker_archive(tmp_path / "img.tar", [layer.bytes() for layer in layers])
    return open_image(f"docker-archive:{archive}", cache=cache)


def usrmerged() -> LayerTar:
    return (LayerTar().dir("usr").dir("usr/lib").dir("usr/bin").symlink("lib", "usr/lib").symlink("bin", "usr/bin")
            .file("usr/lib/libc.so.6", b"\x7fELF libc", mode=0o755).file("usr/bin/python3", b"py", mode=0o755)
            .dir("etc").file("etc/os-release", b"ID=debian\n"))


def test_merged_view_is_a_filesystem_with_modes_and_lazy_reads(tmp_path, cache):
    img = load(tmp_path, cache, usrmerged())
    fs = img.fs
    assert isinstance(fs, FileSystem)
    libc = fs.entry("/usr/lib/libc.so.6")
    assert (libc.kind, libc.mode, libc.size, libc.layer) == (FILE, 0o755, len(b"\x7fELF libc"), 0)
    assert fs.read_bytes("/usr/lib/libc.so.6") == b"\x7fELF libc"
    with fs.open("/etc/os-release") as fh:
        assert fh.read(3) == b"ID="
        fh.seek(0)
        assert fh.read() == b"ID=debian\n"
    assert fs.listdir("/") == ["bin", "etc", "lib", "usr"]
    assert [e.path for e in fs.walk("/usr")] == ["/usr", "/usr/bin", "/usr/bin/python3", "/usr/lib", "/usr/lib/libc.so.6"]


def test_usrmerge_symlinks_resolve_inside_the_root(tmp_path, cache):
    fs = load(tmp_path, cache, usrmerged()).fs
    assert fs.entry("/lib").kind == SYMLINK and fs.entry("/lib").linkname == "usr/lib"
    assert fs.resolve("/lib/libc.so.6") == "/usr/lib/libc.so.6"
    assert fs.stat("/lib/libc.so.6").path == "/usr/lib/libc.so.6"
    assert fs.entry("/lib/libc.so.6").path == "/usr/lib/libc.so.6"  # intermediate symlinks followed
    assert fs.listdir("/lib") == ["libc.so.6"]
    assert fs.read_bytes("/bin/python3") == b"py"


def test_absolute_and_climbing_symlinks_stay_in_the_root(tmp_path, cache):
    layer = usrmerged().symlink("etc/escape", "../../../../etc").symlink("abs", "/usr/lib/libc.so.6")
    fs = load(tmp_path, cache, layer).fs
    assert fs.resolve("/etc/escape") == "/etc"
    assert fs.resolve("/etc/escape/os-release") == "/etc/os-release"
    assert fs.read_bytes("/abs") == b"\x7fELF libc"
    assert fs.resolve("/../../usr/./lib//libc.so.6") == "/usr/lib/libc.so.6"


def test_whiteouts_and_opaque_dirs_hide_lower_layers_only(tmp_path, cache):
    lower = (LayerTar().dir("app").file("app/keep.py", b"k").file("app/gone.py", b"g" * 10)
             .dir("app/pkg").file("app/pkg/a.py", b"a").dir("data").file("data/old", b"o" * 7))
    upper = (LayerTar().whiteout("app/gone.py").whiteout("app/pkg")
             .opaque("data").file("data/new", b"n"))
    img = load(tmp_path, cache, lower, upper)
    fs = img.fs
    assert fs.listdir("/app") == ["keep.py"]
    assert fs.entry("/app/pkg") is None and fs.entry("/app/pkg/a.py") is None
    assert fs.listdir("/data") == ["new"]  # opaque: lower content gone, this layer's addition kept
    assert not any(".wh." in e.path for e in fs.walk())
    shadowed = {e.path: e.size for e in fs.shadowed()}
    assert shadowed == {"/app/gone.py": 10, "/app/pkg": 0, "/app/pkg/a.py": 1, "/data/old": 7}


def test_overwrite_replaces_content_and_type(tmp_path, cache):
    lower = LayerTar().dir("x").file("x/f", b"old").dir("d").file("d/inner", b"i").file("s", b"file")
    upper = LayerTar().file("x/f", b"newer", mode=0o600).file("d", b"now a file").symlink("s", "x/f")
    fs = load(tmp_path, cache, lower, upper).fs
    assert fs.read_bytes("/x/f") == b"newer" and fs.entry("/x/f").mode == 0o600 and fs.entry("/x/f").layer == 1
    assert fs.entry("/d").kind == FILE and fs.entry("/d/inner") is None
    assert fs.read_bytes("/s") == b"newer"
    assert sorted(e.path for e in fs.shadowed()) == ["/d", "/d/inner", "/s", "/x/f"]


def test_hardlinks_within_and_across_layers_share_content(tmp_path, cache):
    lower = LayerTar().dir("bin").file("bin/python3.11", b"interp", mode=0o755).hardlink("bin/python3", "bin/python3.11")
    upper = LayerTar().dir("opt").hardlink("opt/py", "bin/python3.11")
    fs = load(tmp_path, cache, lower, upper).fs
    for path in ("/bin/python3", "/opt/py"):
        entry = fs.entry(path)
        assert (entry.kind, entry.size, entry.mode) == (FILE, 6, 0o755)
        assert fs.read_bytes(path) == b"interp"


def test_hardlink_outside_the_layer_set_is_an_error(tmp_path, cache):
    with pytest.raises(UnsafePath, match="hardlink"):
        load(tmp_path, cache, LayerTar().dir("bin").hardlink("bin/sh", "nowhere/sh")).fs


def test_tar_slip_is_refused(tmp_path, cache):
    with pytest.raises(UnsafePath, match="climbs above the image root"):
        load(tmp_path, cache, LayerTar().file("../../etc/evil", b"x"))
    with pytest.raises(UnsafePath):
        load(tmp_path, cache, LayerTar().dir("a").file("a/../../evil", b"x"))


def test_absolute_member_names_are_relative_to_the_root(tmp_path, cache):
    fs = load(tmp_path, cache, LayerTar().dir("/etc").file("/etc/abs", b"inside")).fs
    assert fs.read_bytes("/etc/abs") == b"inside"


def test_file_written_through_a_symlink_lands_inside_the_root(tmp_path, cache):
    layer = (LayerTar().dir("etc").symlink("evil", "/etc").symlink("up", "../../../..")
             .file("evil/planted", b"p").file("up/top", b"t"))
    fs = load(tmp_path, cache, layer).fs
    assert fs.read_bytes("/etc/planted") == b"p"
    assert fs.entry("/etc/planted").path == "/etc/planted"
    assert fs.read_bytes("/top") == b"t"
    assert fs.entry("/evil").kind == SYMLINK


def test_symlink_loop_is_an_error_only_when_resolved(tmp_path, cache):
    layer = usrmerged().symlink("loop1", "loop2").symlink("loop2", "loop1").symlink("self", "self/x")
    fs = load(tmp_path, cache, layer).fs  # the image itself loads
    assert fs.entry("/loop1").kind == SYMLINK
    with pytest.raises(SymlinkLoop):
        fs.resolve("/loop1/anything")
    with pytest.raises(SymlinkLoop):
        fs.read_bytes("/self")
    with pytest.raises(SymlinkLoop):
        fs.listdir("/loop1")
    assert fs.stat("/self") is None and fs.entry("/loop1/x") is None  # like os.stat: a loop names nothing
    assert fs.exists("/loop2") is False


def test_non_utf8_names_are_kept(tmp_path, cache):
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    fs = load(tmp_path, cache, LayerTar().dir("data").file(f"data/{name}", b"latin-1")).fs
    assert fs.listdir("/data") == [name]
    assert fs.read_bytes(f"/data/{name}") == b"latin-1"


def test_special_files_and_implied_parents(tmp_path, cache):
    fs = load(tmp_path, cache, LayerTar().fifo("run/ctl").file("deep/a/b/c", b"c")).fs
    assert fs.entry("/run/ctl").kind == FIFO
    assert fs.entry("/deep/a").kind == DIR and fs.entry("/deep/a").mode == 0o755
    with pytest.raises(IsADirectoryError):
        fs.read_bytes("/deep")
    with pytest.raises(FileNotFoundError):
        fs.read_bytes("/missing")


def test_writing_below_a_file_is_an_invalid_image(tmp_path, cache):
    with pytest.raises(InvalidImage, match="not a directory"):
        load(tmp_path, cache, LayerTar().file("f", b"x").file("f/child", b"y")).fs


def test_paths_with_doubled_slashes_find_what_the_normal_path_names(tmp_path, cache):
    # "//etc/os-release" is "/etc/os-release" (a WorkingDir "/" joined with "/app" writes such paths)
    fs = load(tmp_path, cache, usrmerged()).fs
    assert fs.entry("//etc/os-release") == fs.entry("/etc/os-release") is not None
    assert fs.entry("//usr//lib/libc.so.6") == fs.entry("/usr/lib/libc.so.6") is not None
    assert fs.resolve("//etc/os-release") == "/etc/os-release"
    assert fs.entry("//etc") == fs.entry("/etc") is not None and fs.resolve("//usr") == "/usr"
