"""Needs that no import statement states, each on a small hand-made root (real files, real ELF interpreter):
codecs named by a literal, directories a library puts on sys.path, a `module:attr` argument, a config dir
named by an Env value, hashlib's `_blake2`. The corpus apps (docs/corpus.md) are the real-world proof."""

from __future__ import annotations

from faktory.analyzers.codecnames import codec_module, codec_names, normalize_encoding, parse_aliases
from faktory.analyzers.pathext import added_dirs
from faktory.analyzers.report import explain
from tests.test_analyzers_units import EXT, STDLIB, _analyze_root, _python_files, elf_bytes  # noqa: F401 (fixture)

SITE = f"{STDLIB}/site-packages"
ALIASES = "aliases = {\n    'latin9': 'iso8859_15',\n    'u16be': 'utf_16_be',\n}\n"


def _modules(graph) -> set[str]:
    return {n[len("module:"):] for n in graph if n.startswith("module:")}


def test_codec_literals_map_to_their_encodings_modules():
    src = (b"a = raw.decode('UTF-16-BE')\nb = s.encode(\"latin9\", 'replace')\nc = codecs.lookup('cp1252')\n"
           b"open(p, encoding='koi8-r')\nd = codecs.encode(x, 'rot13')\ne = s.encode(enc)\n")
    assert codec_names(src) == ["UTF-16-BE", "cp1252", "koi8-r", "latin9", "rot13"]
    aliases = parse_aliases(ALIASES)
    assert normalize_encoding("UTF--16 BE") == "utf_16_be"
    assert codec_module("Latin9", aliases) == "iso8859_15"
    assert codec_module("u16be", aliases) == "utf_16_be"
    assert codec_module("koi8-r", aliases) == "koi8_r"


def test_a_modules_own_codec_wrappers_called_with_literals_name_codecs():
    # pypdf, at import: `_win_encoding = fill_from_encoding("cp1252")` over `bytes((x,)).decode(enc)`
    src = (b"def fill(enc):\n    out = []\n    for x in range(256):\n        out.append(bytes((x,)).decode(enc))\n"
           b"    return out\n\ndef named(encoding):\n    return dict(enumerate(fill(encoding)))\n\n"
           b"class Reader:\n    def open(self, charset, mode='r'):\n        return open(p, encoding=charset)\n\n"
           b"WIN = fill('cp1252')\nMAC = named(\"mac_roman\")\nReader().open('koi8-r')\nprint('not-a-codec')\n"
           b"def unrelated(enc):\n    return enc.upper()\n\nunrelated('utf-16')\n"
           b"def read_conf(path):\n    return codecs.open(path, encoding='utf-8').read()\n\nread_conf('latin_1')\n"
           b"class T:\n    @classmethod\n    def table(cls, enc):\n        return codecs.lookup(enc)\n\n"
           b"T.table('cp437')\n")
    assert codec_names(src) == ["cp1252", "cp437", "koi8-r", "mac_roman", "utf-8"]


def test_codecs_named_in_library_code_are_kept(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import fonts\n",
        f"{SITE}/fonts.py": "def family(raw):\n    return raw.decode('utf-16-be'), raw.decode('latin9')\n",
        f"{STDLIB}/encodings/aliases.py": ALIASES,
        f"{STDLIB}/encodings/utf_16_be.py": "", f"{STDLIB}/encodings/iso8859_15.py": "",
        f"{STDLIB}/encodings/koi8_r.py": "",
    })
    graph = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph
    kept = _modules(graph)
    assert {"encodings.utf_16_be", "encodings.iso8859_15"} <= kept
    assert "encodings.koi8_r" not in kept
    assert graph.edges["module:fonts", "module:encodings.utf_16_be"]["reason"] == "codec-name"


def test_sys_path_dirs_added_from_file_are_read_statically():
    src = (b"import os, sys\n"
           b"sys.path.extend(((v := os.path.join(os.path.dirname(os.path.dirname(__file__)), 'tool', '_vendor'))"
           b" not in sys.path) * [v])\n"
           b"sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'extra'))\n"
           b"sys.path.append(os.path.join(base, 'unknown'))\n")
    assert added_dirs(src, "/site/lib/__init__.py") == ["/site/tool/_vendor", "/site/lib/extra"]
    assert added_dirs(b"import sys\nsys.path.append('/x')\n", "/site/m.py") == []


def test_a_library_that_extends_sys_path_finds_its_vendored_modules(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import loader\n",
        f"{SITE}/loader/__init__.py": (
            "import os, sys\n"
            "sys.path.append(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'tool', '_vendor'))\n"
            "import vendored_dep\nfrom more import things\n"),
        f"{SITE}/tool/__init__.py": "",
        f"{SITE}/tool/_vendor/vendored_dep.py": "", f"{SITE}/tool/_vendor/unused_dep.py": "",
        f"{SITE}/tool/_vendor/more/__init__.py": "", f"{SITE}/tool/_vendor/more/things.py": "",
        f"{SITE}/tool/_vendor/more-1.0.dist-info/METADATA": "Name: more\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = _modules(closure.graph)
    assert {"vendored_dep", "more", "more.things"} <= kept
    assert "unused_dep" not in kept
    assert f"{SITE}/tool/_vendor/more-1.0.dist-info/METADATA" in set(closure.paths())


def test_module_attr_argument_and_env_config_dir_are_kept(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        f"{STDLIB}/runpy.py": "",
        f"{SITE}/server/__init__.py": "", f"{SITE}/server/__main__.py": "import sys\n",
        "/srv/shop.py": "def init():\n    return 1\n", "/srv/other.py": "",
        "/etc/tool/config.json": "{}", "/etc/tool/themes/dark.json": "{}",
        "/opt/big/": "", **{f"/opt/big/f{i}.bin": "x" for i in range(70)},
    })
    env = ("PATH=/usr/local/bin:/usr/bin:/bin", "TOOL_CONFIG_DIR=/etc/tool", "CACHE_DIR=/opt/big")
    closure = _analyze_root(tmp_path / "root", files, ("python3", "-m", "server", "-P", "80", "shop:init"), env,
                            workdir="/srv")
    paths = set(closure.paths())
    assert "/srv/shop.py" in paths
    assert {"/etc/tool/config.json", "/etc/tool/themes/dark.json"} <= paths
    assert "/opt/big/f0.bin" not in paths  # too many files to be a config dir


def test_hashlib_keeps_blake2(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import hashlib\n", f"{STDLIB}/hashlib.py": "",
        f"{STDLIB}/lib-dynload/_blake2.cpython-312-x86_64-linux-gnu.so": elf_bytes,
    })
    assert "_blake2" in _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)


def test_oracle_does_not_demand_programs_only_looked_up():
    from tests.oracle.check import without_program_lookups

    log = "\n".join([
        '7 execve("/usr/local/bin/tool", ["tool"], 0x1 /* 3 vars */) = 0',
        '7 newfstatat(AT_FDCWD</src>, "/usr/local/bin/idle3.12", {st_mode=S_IFREG|0755, ...}, 0) = 0',
        '7 newfstatat(AT_FDCWD</src>, "/usr/local/bin/helper", {st_mode=S_IFREG|0755, ...}, 0) = 0',
        '7 openat(AT_FDCWD</src>, "/usr/local/bin/helper", O_RDONLY) = 3</usr/local/bin/helper>',
        '7 newfstatat(AT_FDCWD</src>, "/etc/tool.conf", {st_mode=S_IFREG|0644, ...}, 0) = 0',
    ])
    paths = {"/usr/local/bin/tool", "/usr/local/bin/idle3.12", "/usr/local/bin/helper", "/etc/tool.conf"}
    kept = without_program_lookups(paths, log, "tool", "/src", "/host/root", {"PATH": "/usr/local/bin:/usr/bin"})
    assert kept == {"/usr/local/bin/tool", "/usr/local/bin/helper", "/etc/tool.conf"}


def test_oracle_does_not_demand_recorded_files_only_checked_for_existence(tmp_path):
    from tests.oracle.check import without_program_lookups
    from tests.oracle.dirfs import DirFileSystem

    site = "/usr/lib/python3/site-packages"
    for rel, text in {"plug/__init__.py": "", "plug/extra.py": "", "plug/conf.py": "",
                      "plug-1.0.dist-info/RECORD": "plug/__init__.py,,\nplug/extra.py,,\n"}.items():
        (tmp_path / site.lstrip("/") / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / site.lstrip("/") / rel).write_text(text)
    log = "\n".join([
        '7 execve("/usr/bin/tool", ["tool"], 0x1 /* 3 vars */) = 0',
        f'7 newfstatat(AT_FDCWD</src>, "{site}/plug/extra.py", {{st_mode=S_IFREG|0644, ...}}, 0) = 0',
        f'7 openat(AT_FDCWD</src>, "{site}/plug/__init__.py", O_RDONLY) = 3',
        f'7 newfstatat(AT_FDCWD</src>, "{site}/plug/conf.py", {{st_mode=S_IFREG|0644, ...}}, 0) = 0',
    ])
    paths = {"/usr/bin/tool", f"{site}/plug/extra.py", f"{site}/plug/__init__.py", f"{site}/plug/conf.py"}
    kept = without_program_lookups(paths, log, "tool", "/src", "/host/root", {"PATH": "/usr/bin"},
                                   DirFileSystem(tmp_path))
    # extra.py: RECORD lists it and the run only checked it exists; conf.py is no RECORD file: still demanded
    assert kept == {"/usr/bin/tool", f"{site}/plug/__init__.py", f"{site}/plug/conf.py"}


def test_modules_named_in_a_packages_config_files_are_kept(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import theme\n",
        f"{SITE}/theme/__init__.py": "", f"{SITE}/theme/support.py": "", f"{SITE}/theme/unused.py": "",
        f"{SITE}/theme/theme.conf": "[theme]\npygments_style = theme.support.Style\nother = elsewhere.mod.X\n",
        f"{SITE}/elsewhere/__init__.py": "", f"{SITE}/elsewhere/mod.py": "",
        # the linters' settings a package ships (pandas' pyproject.toml) are not read by the package itself
        f"{SITE}/theme/pyproject.toml": '[tool.ruff.lint.per-file-ignores]\n"theme.unused" = ["F401"]\n',
        f"{SITE}/theme/setup.cfg": "[mypy-theme.unused]\nignore_errors = True\n",
    })
    graph = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph
    kept = _modules(graph)
    assert "theme.support" in kept
    assert not {"theme.unused", "elsewhere.mod"} & kept
    assert graph.edges["module:theme", "module:theme.support"]["detail"].endswith("theme.conf:2")


def test_sax_readers_only_with_xml_sax(tmp_path, elf_bytes):
    xml = {f"{STDLIB}/xml/__init__.py": "", f"{STDLIB}/xml/etree/__init__.py": "",
           f"{STDLIB}/xml/etree/ElementTree.py": "", f"{STDLIB}/xml/sax/__init__.py": "",
           f"{STDLIB}/xml/sax/xmlreader.py": "", f"{STDLIB}/xml/sax/expatreader.py": "from xml.sax import xmlreader\n"}
    etree = _python_files(elf_bytes, **{"/app/main.py": "import xml.etree.ElementTree\n", **xml})
    kept = _modules(_analyze_root(tmp_path / "etree", etree, ("python3", "/app/main.py")).graph)
    assert "xml.etree.ElementTree" in kept and not {"xml.sax.xmlreader", "xml.sax.expatreader"} & kept
    sax = _python_files(elf_bytes, **{"/app/main.py": "import xml.sax\n", **xml})
    kept = _modules(_analyze_root(tmp_path / "sax", sax, ("python3", "/app/main.py")).graph)
    assert {"xml.sax.expatreader", "xml.sax.xmlreader"} <= kept


def test_strip_output_with_a_misaligned_load_segment_is_refused(tmp_path, elf_bytes):
    """compact's strip keeps an ELF as it was when the stripped copy has a PT_LOAD whose offset and address
    disagree modulo its alignment (ld.so: "ELF load command address/offset not page-aligned")."""
    import struct

    from elftools.elf.elffile import ELFFile

    from faktory.emitters.compact import _segments_aligned

    good = tmp_path / "good"
    good.write_bytes(elf_bytes)
    assert _segments_aligned(str(good))
    with open(good, "rb") as fh:
        elf = ELFFile(fh)
        phoff, phentsize = elf.header["e_phoff"], elf.header["e_phentsize"]
        index = next(i for i, seg in enumerate(elf.iter_segments())
                     if seg["p_type"] == "PT_LOAD" and seg["p_align"] > 1 and seg["p_offset"])
    data = bytearray(elf_bytes)
    at = phoff + index * phentsize + 8  # Elf64_Phdr.p_offset
    struct.pack_into("<Q", data, at, struct.unpack_from("<Q", data, at)[0] + 16)
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    assert not _segments_aligned(str(bad))


def test_a_fallback_for_a_missing_submodule_of_a_present_package_is_kept(tmp_path, elf_bytes):
    # `try: from . import _vendored except ImportError: import parserlib`: the package resolves, the name
    # does not (no such submodule, no such word in its __init__), so the fallback runs and must be kept
    fallback = "try:\n    from . import {0} as p\nexcept ImportError:\n    import {1} as p\n"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import front.parse\nimport back.parse\n",
        f"{SITE}/front/__init__.py": "",
        f"{SITE}/front/parse.py": fallback.format("_vendored", "parserlib"),
        f"{SITE}/parserlib.py": "",
        f"{SITE}/back/__init__.py": "from .impl import _own as _own\n",
        f"{SITE}/back/impl.py": "_own = 1\n",
        f"{SITE}/back/parse.py": fallback.format("_own", "unusedlib"),
        f"{SITE}/unusedlib.py": "",
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert "parserlib" in kept
    assert "unusedlib" not in kept  # `_own` is a name back/__init__ defines: the try body succeeds


def test_find_library_keeps_the_ldconfig_it_runs(tmp_path, elf_bytes):
    # ctypes.util.find_library("uuid") answers from `/sbin/ldconfig -p`: without the program it returns None
    # and the library it found in the original is never loaded
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import ctypes.util\nlib = ctypes.util.find_library('uuid')\n",
        "/sbin/ldconfig": elf_bytes,
    })
    graph = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph
    assert "file:/sbin/ldconfig" in graph


def test_importing_ctypes_alone_keeps_no_ldconfig(tmp_path, elf_bytes):
    # ctypes.util's own test() calls find_library; an app that only imports ctypes never runs it
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import ctypes.util\n",
        f"{STDLIB}/ctypes/__init__.py": "", f"{STDLIB}/ctypes/util.py": "def find_library(name):\n    pass\n"
                                                                        "def test():\n    find_library('m')\n",
        "/sbin/ldconfig": elf_bytes,
    })
    graph = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph
    assert "module:ctypes.util" in graph and "file:/sbin/ldconfig" not in graph


def test_a_library_only_cffi_dlopen_names_is_kept(tmp_path, elf_bytes):
    # cffi in ABI mode: ffi.dlopen("libonly.so.1") is the one place the library is named; a bare name goes
    # through find_library, which asks /sbin/ldconfig
    files = _python_files(elf_bytes, **{
        "/app/main.py": ("from cffi import FFI\nffi = FFI()\nlib = ffi.dlopen('libonly.so.1')\n"
                         "uuid = ffi.dlopen('uuid')\n"),
        "/usr/lib/x86_64-linux-gnu/libonly.so.1": elf_bytes,
        "/sbin/ldconfig": elf_bytes,
    })
    graph = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph
    assert "file:/usr/lib/x86_64-linux-gnu/libonly.so.1" in graph
    assert "file:/sbin/ldconfig" in graph


LIBDIR = "/usr/lib/x86_64-linux-gnu"
# WeasyPrint's shape: a helper tries each name its caller gives, at import time
TRY_NAMES = ("import os\nfrom contextlib import suppress\n"
             "def _dlopen(ffi, *names, allow_fail=False):\n    for name in names:\n        with suppress(OSError):\n"
             "            return ffi.dlopen(name, 2)\n    return ffi.dlopen(names[0], 2)\n"
             "pango = _dlopen(ffi, 'libpango-1.0-0', 'pango-1.0', 'libpango-1.0.so.0')\n"
             "fc = _dlopen(ffi, 'libfontconfig-1', 'fontconfig')\n")


def test_libraries_a_helper_opens_by_its_callers_names_are_kept(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import textlib\n",
        f"{SITE}/textlib/__init__.py": "from cffi import FFI\nffi = FFI()\n" + TRY_NAMES +
                                       "def load(path):\n    import ctypes\n    return ctypes.CDLL(path)\n"
                                       "core = load('libcore.so.3')\n"
                                       "for each in ('libone.so.1', 'libtwo.so.2'):\n    ffi.dlopen(each)\n",
        f"{LIBDIR}/libpango-1.0.so.0": elf_bytes, f"{LIBDIR}/libfontconfig.so.1": elf_bytes,
        f"{LIBDIR}/libcore.so.3": elf_bytes, f"{LIBDIR}/libone.so.1": elf_bytes, f"{LIBDIR}/libtwo.so.2": elf_bytes,
        f"{LIBDIR}/libunused.so.1": elf_bytes, "/sbin/ldconfig": elf_bytes,
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = set(closure.graph)
    for lib in ("libpango-1.0.so.0", "libfontconfig.so.1", "libcore.so.3", "libone.so.1", "libtwo.so.2"):
        assert f"file:{LIBDIR}/{lib}" in kept, lib
    assert f"file:{LIBDIR}/libunused.so.1" not in kept
    assert "file:/sbin/ldconfig" in kept  # 'fontconfig' is looked up by find_library
    assert not [f for f in closure.findings if "computed-library" in f.kind]


def test_a_library_name_known_only_at_run_time_is_a_finding_with_its_line(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import vendorlib\n",
        f"{SITE}/vendorlib/__init__.py": ("import ctypes, os\n"
                                          "lib = ctypes.CDLL(os.environ.get('VENDOR_LIB', 'libv.so'))\n"
                                          "libc = ctypes.cdll.LoadLibrary(ctypes.util.find_library('c'))\n"
                                          "name = ctypes.util.find_library('m')\nlibm = ctypes.CDLL(name)\n"
                                          "def later(name):\n    return ctypes.CDLL(name + '.so')\n"
                                          # a method (sphinx's MeCab splitter) runs when something calls it
                                          "class Splitter:\n    def init(self, options):\n"
                                          "        self.lib = ctypes.CDLL(ctypes.util.find_library(options['lib']))\n"),
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    found = {(f.kind, f.where) for f in closure.findings if "computed-library" in f.kind}
    assert found == {("computed-library", f"{SITE}/vendorlib/__init__.py:2"),
                     ("lazy-computed-library", f"{SITE}/vendorlib/__init__.py:7"),
                     ("lazy-computed-library", f"{SITE}/vendorlib/__init__.py:10")}, found


def test_fontconfig_keeps_its_configuration_and_fonts_whoever_loads_it(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "from cffi import FFI\nffi = FFI()\nfc = ffi.dlopen('libfontconfig.so.1')\n",
        f"{LIBDIR}/libfontconfig.so.1.12.0": elf_bytes, f"{LIBDIR}/libfontconfig.so.1": ("->", "libfontconfig.so.1.12.0"),
        "/etc/fonts/fonts.conf": "<fontconfig><dir>/usr/share/fonts</dir></fontconfig>",
        "/usr/share/fontconfig/conf.avail/10-hinting.conf": "<fontconfig/>",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf": "ttf", "/var/cache/fontconfig/x-le64.cache-8": "c",
        "/usr/share/misc/unrelated.txt": "u",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    paths = set(closure.paths())
    assert {"/etc/fonts/fonts.conf", "/usr/share/fontconfig/conf.avail/10-hinting.conf",
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/var/cache/fontconfig/x-le64.cache-8"} <= paths
    assert "/usr/share/misc/unrelated.txt" not in paths


LOADER = ("import glob, os\n"
          "class PluginLoader:\n"
          "    def __init__(self, class_name, package, subdir=None):\n"
          "        self.class_name = class_name\n        self.package = package\n"
          "    def paths(self):\n"
          "        m = __import__(self.package)\n"
          "        for part in self.package.split('.')[1:]:\n            m = getattr(m, part)\n"
          "        return glob.glob(os.path.dirname(m.__file__) + '/*.py')\n"
          "class Jinja2Loader(PluginLoader):\n    pass\n"
          "cache_loader = PluginLoader('CacheModule', 'tool.plugins.cache')\n"
          "filter_loader = Jinja2Loader('FilterModule', package='tool.plugins.filter')\n"
          "class Registry:\n"
          "    def __init__(self, name):\n        self.name = name\n"
          "    def get(self):\n        return __import__(self.name)\n"
          "registry = Registry('tool.plugins.unlisted')\n")


def test_a_plugin_loader_keeps_the_packages_it_is_built_with_whole(tmp_path, elf_bytes):
    # ansible-core's shape: the class imports self.package and globs its directory; plugins load by file path
    files = _python_files(elf_bytes, **{
        "/app/main.py": "from tool import loader\n",
        f"{SITE}/tool/__init__.py": "", f"{SITE}/tool/loader.py": LOADER,
        f"{SITE}/tool/plugins/__init__.py": "",
        f"{SITE}/tool/plugins/cache/__init__.py": "", f"{SITE}/tool/plugins/cache/memory.py": "import json\n",
        f"{SITE}/tool/plugins/filter/__init__.py": "", f"{SITE}/tool/plugins/filter/core.py": "",
        f"{SITE}/tool/plugins/unlisted/__init__.py": "", f"{SITE}/tool/plugins/unlisted/extra.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = _modules(closure.graph)
    assert {"tool.plugins.cache.memory", "tool.plugins.filter.core"} <= kept
    assert "tool.plugins.unlisted.extra" not in kept  # imports self.name but lists nothing: not a loader
    assert closure.graph.edges["module:tool.loader", "module:tool.plugins.cache.memory"]["reason"] == "plugin-package"
    lines = {f.where for f in closure.findings if f.kind == "lazy-computed-import"}
    assert f"{SITE}/tool/loader.py:7" not in lines and f"{SITE}/tool/loader.py:19" in lines


def test_directories_named_by_path_literals_in_app_code_are_kept_whole(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/probe.py": 'import os\nrender("/tpl", out="/tmp/out")\nos.listdir("/usr/local/lib")\n'
                     'print(open("/srv/notes.txt").read())\n',
        "/tpl/cookiecutter.json": "{}", "/tpl/{{cookiecutter.slug}}/README.md": "# {{ cookiecutter.name }}",
        "/tpl/hooks/post_gen_project.py": "print(1)\n", f"{SITE}/unrelated.py": "",
        "/srv/notes.txt": "n", "/srv/other.txt": "o",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/probe.py"))
    paths = set(closure.paths())
    # A directory the tool walks at run time: every file, the brace-named ones too.
    assert {"/tpl/cookiecutter.json", "/tpl/{{cookiecutter.slug}}/README.md",
            "/tpl/hooks/post_gen_project.py"} <= paths
    assert "/srv/notes.txt" in paths and "/srv/other.txt" not in paths  # a file literal keeps that file only
    assert f"{SITE}/unrelated.py" not in paths  # a system dir named in code is not kept whole


def test_a_walked_tree_keeps_what_its_scripts_import(tmp_path, elf_bytes):
    # cookiecutter runs a template's hooks/*.py as scripts, Sphinx exec()s conf.py: their imports are needed
    files = _python_files(elf_bytes, **{
        "/probe.py": 'render("/tpl")\n',
        "/tpl/hooks/pre_gen_project.py": ("import slugtool\nfrom helpers import fmt\nimport only_in_the_project\n"
                                          "from . import nothing\n"),
        "/tpl/{{cookiecutter.slug}}/setup.py": "from {{ cookiecutter.pkg }} import x\n",  # templated: data only
        f"{SITE}/slugtool.py": "", f"{SITE}/helpers/__init__.py": "", f"{SITE}/helpers/fmt.py": "",
        f"{SITE}/unrelated.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/probe.py"))
    kept = _modules(closure.graph)
    assert {"slugtool", "helpers", "helpers.fmt"} <= kept
    assert "unrelated" not in kept
    assert not [f for f in closure.findings if "only_in_the_project" in f.message]  # the project's, not the image's


def test_past_the_cap_a_walked_trees_scripts_are_reported_not_followed(tmp_path, elf_bytes, monkeypatch):
    from faktory.analyzers import appfiles

    monkeypatch.setattr(appfiles, "MAX_DATA_SCRIPTS", 1)
    files = _python_files(elf_bytes, **{
        "/probe.py": 'lint("/src")\n', "/src/a.py": "import first\n", "/src/b.py": "import second\n",
        f"{SITE}/first.py": "", f"{SITE}/second.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/probe.py"))
    assert len(_modules(closure.graph) & {"first", "second"}) == 1
    assert [f for f in closure.findings if f.kind == "data-scripts"]


def test_a_file_url_in_app_code_keeps_the_document_directory(tmp_path, elf_bytes):
    # a crawler's start page: the pages it links to are read as the links are followed
    files = _python_files(elf_bytes, **{
        "/probe.py": 'start_urls = ["file:///site/index.html"]\nprint(open("/srv/notes.txt").read())\n',
        "/site/index.html": "<a href='books/a.html'>", "/site/books/a.html": "a",
        "/srv/notes.txt": "n", "/srv/other.txt": "o",
    })
    paths = set(_analyze_root(tmp_path / "root", files, ("python3", "/probe.py")).paths())
    assert {"/site/index.html", "/site/books/a.html", "/srv/notes.txt"} <= paths
    assert "/srv/other.txt" not in paths


def test_a_python_file_a_tool_is_told_to_run_has_its_imports_followed(tmp_path, elf_bytes):
    # `scrapy runspider /jobs/spider.py`, `streamlit run app.py`: the tool imports or execs the file
    files = _python_files(elf_bytes, **{
        "/app/tool.py": "import runpy, sys\nrunpy.run_path(sys.argv[1])\n",
        "/jobs/spider.py": "import pricing\nURL = 'file:///site/index.html'\n",
        f"{SITE}/pricing.py": "import taxes\n", f"{SITE}/taxes.py": "", f"{SITE}/unrelated.py": "",
        "/site/index.html": "<a href='b.html'>", "/site/b.html": "b",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/tool.py", "/jobs/spider.py"))
    assert {"pricing", "taxes"} <= _modules(closure.graph)
    assert "unrelated" not in _modules(closure.graph)
    assert {"/jobs/spider.py", "/site/b.html"} <= set(closure.paths())  # its own literals count as app code


def test_data_code_of_the_app_dir_has_its_imports_followed(tmp_path, elf_bytes):
    # Alembic loads env.py and versions/*.py by their paths; what they import is needed, if they run
    files = _python_files(elf_bytes, **{
        "/proj/run.py": "import tool\ntool.load('migrations/env.py')\n",
        f"{SITE}/tool.py": "", f"{STDLIB}/logging/__init__.py": "", f"{STDLIB}/logging/config.py": "",
        "/proj/migrations/env.py": "from logging.config import fileConfig\nfrom models import Base\n",
        "/proj/models.py": "import decimal\n", f"{STDLIB}/decimal.py": "",
        "/proj/migrations/versions/0001_a.py": "import missing_elsewhere\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/proj/run.py"), workdir="/proj")
    assert {"logging.config", "models", "decimal"} <= _modules(closure.graph)
    # a data file's import the image lacks is optional: it may never run
    assert not any("missing_elsewhere" in f.message and f.severity == "error" for f in closure.findings)


def test_the_platform_module_keeps_the_uname_it_runs(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import platform\nprint(platform.platform())\n", f"{STDLIB}/platform.py": "",
        "/usr/bin/uname": elf_bytes, "/bin": ("->", "usr/bin"), "/usr/bin/unused": elf_bytes,
    })
    paths = set(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).paths())
    assert "/usr/bin/uname" in paths and "/usr/bin/unused" not in paths


def test_a_name_built_before_import_module_keeps_the_package_it_is_relative_to(tmp_path, elf_bytes):
    # rich: `name = f".unicode{v}"; import_module(name, "rich._unicode_data")`, files named unicode15-0-0.py;
    # textual: `path = f"._{snake}"; import_module(path, package="textual.widgets")` in a module __getattr__
    files = _python_files(elf_bytes, **{
        "/app/main.py": "from tui.widgets import Tooltip\nimport cells\ncells.load('15.0.0')\n",
        f"{SITE}/tui/__init__.py": "", f"{SITE}/tui/widgets/__init__.py": (
            "from importlib import import_module\n"
            "def __getattr__(cls):\n    path = f'._{cls.lower()}'\n"
            "    return getattr(import_module(path, package='tui.widgets'), cls)\n"),
        f"{SITE}/tui/widgets/_tooltip.py": "class Tooltip: pass\n",
        f"{SITE}/cells/__init__.py": ("from importlib import import_module\n"
                                      "def load(v):\n    name = f\".unicode{v.replace('.', '-')}\"\n"
                                      "    return import_module(name, 'cells.tables')\n"),
        f"{SITE}/cells/tables/__init__.py": "", f"{SITE}/cells/tables/unicode15-0-0.py": "cell_table = ()\n",
        f"{SITE}/cells/unrelated.py": "",
    })
    paths = set(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).paths())
    assert {f"{SITE}/tui/widgets/_tooltip.py", f"{SITE}/cells/tables/unicode15-0-0.py"} <= paths
    assert f"{SITE}/cells/unrelated.py" not in paths


def test_a_dotted_import_string_naming_a_class_keeps_its_module(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import tool.environment\n",
        f"{SITE}/tool/__init__.py": "", f"{SITE}/tool/ext.py": "class SlugExtension:\n    pass\n",
        f"{SITE}/tool/environment.py": 'DEFAULT = ["tool.ext.SlugExtension", "tool.debug.preserve_context"]\n',
        f"{SITE}/tool/debug.py": "def other():\n    pass\n",
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert "tool.ext" in kept  # Jinja-style `pkg.mod.Class` extension names
    assert "tool.debug" not in kept  # a key that only looks like one: the module defines no such name


def test_a_listed_namespace_package_keeps_the_plugins_installed_into_it(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import tool.loader\n",
        f"{SITE}/tool/__init__.py": "", f"{SITE}/tool/plugins/signals.py": "",
        f"{SITE}/tool/loader.py": (
            "import importlib, pkgutil\n\n"
            "def iter_namespace(ns_pkg):\n    return pkgutil.iter_modules(ns_pkg.__path__, ns_pkg.__name__ + '.')\n\n"
            "def plugins(ns_pkg=None):\n    if ns_pkg is None:\n        import tool.plugins as ns_pkg\n"
            "    return [importlib.import_module(n) for _, n, _ in iter_namespace(ns_pkg)]\n"),
        f"{SITE}/tool/plugins/sitemap/__init__.py": "from .sitemap import *\n",  # another distribution's portion
        f"{SITE}/tool/plugins/sitemap/sitemap.py": "",
        f"{SITE}/tool/unused.py": "",
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert {"tool.plugins.sitemap", "tool.plugins.sitemap.sitemap", "tool.plugins.signals"} <= kept
    assert "tool.unused" not in kept


def test_a_plugin_loaded_through_an_entry_point_names_the_groups_of_further_plugins(tmp_path, elf_bytes):
    # plaster's loader entry point brings PasteDeploy, whose code alone names `paste.server_runner`
    files = _python_files(elf_bytes, **{
        "/app/main.py": "from importlib.metadata import entry_points\nentry_points(group='cfg.loaders')\n",
        f"{STDLIB}/importlib/metadata/__init__.py": "",
        f"{SITE}/deployer/__init__.py": "PROTOCOLS = [['deploy.server_runner']]\n",
        f"{SITE}/deployer-1.0.dist-info/entry_points.txt": "[cfg.loaders]\nini = deployer:Loader\n",
        f"{SITE}/server.py": "",
        f"{SITE}/server-2.0.dist-info/entry_points.txt": "[deploy.server_runner]\nmain = server:serve\n",
        f"{SITE}/unrelated.py": "",
        f"{SITE}/unrelated-1.0.dist-info/entry_points.txt": "[other.group]\nx = unrelated\n",
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert {"deployer", "server"} <= kept
    assert "unrelated" not in kept


def test_a_relative_name_in_a_package_keeps_the_package_it_names(tmp_path, elf_bytes):
    # Pyramid's config.scan(".views"): venusian imports every module under shop.views; nothing names them
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import shop\n",
        f"{SITE}/shop/__init__.py": "def main(config):\n    config.scan('.views')\n    open('x' + '.txt')\n",
        f"{SITE}/shop/views/__init__.py": "", f"{SITE}/shop/views/orders.py": "",
        f"{SITE}/shop/views/deep/health.py": "",
        f"{SITE}/shop/txt.py": "", f"{SITE}/shop/other.py": "",
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert {"shop.views", "shop.views.orders", "shop.views.deep.health"} <= kept
    assert not {"shop.txt", "shop.other"} & kept


def test_a_stub_read_through_file_keeps_the_stub_and_what_it_imports(tmp_path, elf_bytes):
    # lazy_loader.attach_stub(__name__, __file__) parses filters/__init__.pyi and imports what it names on access
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import imgkit.filters\nimgkit.filters.gaussian\n",
        f"{SITE}/lazyload.py": "def attach_stub(name, file):\n    return open(file + 'i').read()\n",
        f"{SITE}/imgkit/__init__.py": "",
        f"{SITE}/imgkit/filters/__init__.py": "import lazyload\n__getattr__ = lazyload.attach_stub(__name__, __file__)\n",
        f"{SITE}/imgkit/filters/__init__.pyi": "from ._gaussian import gaussian\nfrom . import rank\n",
        f"{SITE}/imgkit/filters/_gaussian.py": "", f"{SITE}/imgkit/filters/rank.py": "",
        f"{SITE}/imgkit/filters/unused.py": "",
        f"{SITE}/typed.py": "X = 1\n", f"{SITE}/typed.pyi": "import unused_dep\n", f"{SITE}/unused_dep.py": "",
        "/app/other.py": "",
    })
    files["/app/main.py"] = "import imgkit.filters, typed\nimgkit.filters.gaussian\n"
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = _modules(closure.graph)
    assert "imgkit.filters._gaussian" in kept  # `gaussian` is read; `rank` is not (test below)
    assert not {"imgkit.filters.unused", "unused_dep"} & kept
    paths = set(closure.paths())
    assert f"{SITE}/imgkit/filters/__init__.pyi" in paths and f"{SITE}/typed.pyi" not in paths


def _lazy_package(main: str, elf_bytes, **more) -> dict:
    """imgkit attaches three submodules through its stub (lazy_loader's attach_stub), one of them by the name it
    re-exports (`from ._edges import sobel`)."""
    return _python_files(elf_bytes, **{
        "/app/main.py": main,
        f"{SITE}/lazyload.py": "def attach_stub(name, file):\n    return open(file + 'i').read()\n",
        f"{SITE}/imgkit/__init__.py": "import lazyload\n__getattr__ = lazyload.attach_stub(__name__, __file__)\n"
                                      "__all__ = ['color', 'draw', 'sobel']\n",
        f"{SITE}/imgkit/__init__.pyi": "from . import color, draw\nfrom ._edges import sobel\n",
        f"{SITE}/imgkit/color.py": "from . import _space\n", f"{SITE}/imgkit/_space.py": "",
        f"{SITE}/imgkit/draw.py": "import heavy\n", f"{SITE}/heavy.py": "",
        f"{SITE}/imgkit/_edges.py": "from imgkit import color\n", **more})


def test_a_lazily_attached_submodule_is_kept_only_when_its_name_is_read(tmp_path, elf_bytes):
    files = _lazy_package("import imgkit as ik\nprint(ik.color)\n", elf_bytes)
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = _modules(closure.graph)
    assert {"imgkit", "imgkit.color", "imgkit._space"} <= kept  # the package's `__all__` reads nothing
    assert not {"imgkit.draw", "heavy", "imgkit._edges"} & kept
    left = [f for f in closure.findings if f.kind == "lazy-submodule-left-out"]
    assert len(left) == 1 and "imgkit._edges, imgkit.draw" in left[0].message and left[0].severity == "info"
    assert closure.graph.edges["module:imgkit", "module:imgkit.color"]["reason"] == "lazy-attribute"
    answer = explain(closure, "imgkit.draw")
    assert answer.node is None and "not kept: imgkit attaches submodules lazily" in answer.message
    # a re-exported name loads its submodule, and what that submodule reads is read too (a fixpoint)
    files["/app/main.py"] = "from imgkit import sobel\n"
    kept = _modules(_analyze_root(tmp_path / "root2", files, ("python3", "/app/main.py")).graph)
    assert {"imgkit._edges", "imgkit.color"} <= kept and "imgkit.draw" not in kept


def test_a_computed_getattr_on_a_lazy_package_keeps_all_its_submodules(tmp_path, elf_bytes):
    files = _lazy_package("import sys\nimport imgkit\nfor name in sys.argv[1:]:\n    getattr(imgkit, name)\n",
                          elf_bytes)
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    assert {"imgkit.color", "imgkit.draw", "heavy", "imgkit._edges"} <= _modules(closure.graph)
    assert not [f for f in closure.findings if f.kind == "lazy-submodule-left-out"]
    files["/app/main.py"] = "from imgkit import *\n"
    assert "imgkit.draw" in _modules(_analyze_root(tmp_path / "root2", files, ("python3", "/app/main.py")).graph)
    # on an object not known to be a module: the narrowing stands, said as a warning at that line
    files["/app/main.py"] = "import imgkit\nimgkit.color\ndef get(obj, name):\n    return getattr(obj, name)\n"
    closure = _analyze_root(tmp_path / "root3", files, ("python3", "/app/main.py"))
    left = [f for f in closure.findings if f.kind == "lazy-submodule-left-out"]
    assert left and left[0].severity == "warning" and "/app/main.py:4" in left[0].message


def test_type_checking_imports_of_a_lazy_module_are_kept_when_read(tmp_path, elf_bytes):
    """plotly: `if TYPE_CHECKING:` states the imports, the else branch serves them through a `__getattr__` a helper
    builds from relative names (`relative_import(__name__, [".sub"], ["._figure.Figure"])`); an alias package
    (`graph_objects`) re-serves its sibling's names from two levels up."""
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import plots.objects as go\nfig = go.Figure()\n",
        f"{SITE}/lazyutil.py": ("import importlib\ndef relative_import(parent, mods=(), classes=()):\n"
                                "    def __getattr__(name):\n        return importlib.import_module(name, parent)\n"
                                "    return [], __getattr__, list\n"),
        f"{SITE}/plots/__init__.py": "",
        f"{SITE}/plots/objs/__init__.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._figure import Figure\n"
            "    from ._bar import Bar\n    from . import bar\nelse:\n    from lazyutil import relative_import\n"
            "    __all__, __getattr__, __dir__ = relative_import(__name__, ['.bar'], ['._figure.Figure', '._bar.Bar'])\n"),
        f"{SITE}/plots/objs/_figure.py": "", f"{SITE}/plots/objs/_bar.py": "import heavy\n",
        f"{SITE}/plots/objs/bar/__init__.py": "", f"{SITE}/heavy.py": "",
        f"{SITE}/plots/objects/__init__.py": (
            "import typing\nif typing.TYPE_CHECKING:\n    from ..objs import Figure\n    from ..objs import Bar\n"
            "else:\n    from lazyutil import relative_import\n"
            "    __all__, __getattr__, __dir__ = relative_import(__name__, [], ['..objs.Figure', '..objs.Bar'])\n"),
        # sys under another name, and an absolute import of the package's own module
        f"{SITE}/plots/lazymod.py": "", f"{SITE}/plots/more/__init__.py": (
            "import sys as _sys\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from plots.lazymod import Thing\n    from numpy import ndarray\nelse:\n"
            "    _sys.modules[__name__] = object()\n"),
        # type-only imports of a module that serves nothing lazily stay unimported
        f"{SITE}/plots/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .objs import _bar\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = _modules(closure.graph)
    assert {"plots.objects", "plots.objs", "plots.objs._figure"} <= kept
    assert not {"plots.objs._bar", "heavy", "plots.objs.bar"} & kept
    assert closure.graph.edges["module:plots.objs", "module:plots.objs._figure"]["reason"] == "lazy-attribute"
    left = [f for f in closure.findings if f.kind == "lazy-submodule-left-out"]
    assert left and "plots.objs._bar" in left[0].message
    files["/app/main.py"] = "import plots.more\nplots.more.Thing\n"
    kept = _modules(_analyze_root(tmp_path / "root3", files, ("python3", "/app/main.py")).graph)
    assert "plots.lazymod" in kept and "numpy" not in kept
    files["/app/main.py"] = "import plots.objects as go\nimport plots.typed\ngo.Bar()\n"
    kept = _modules(_analyze_root(tmp_path / "root2", files, ("python3", "/app/main.py")).graph)
    assert {"plots.objs._bar", "heavy"} <= kept and "plots.objs.bar" not in kept


def test_a_module_getattr_importing_its_submodules_keeps_those_read(tmp_path, elf_bytes):
    # scipy: `def __getattr__(name): if name in submodules: return import_module(f"scipy.{name}")`
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import sci\nsci.linalg.solve\n",
        f"{SITE}/sci/__init__.py": ("import importlib\nsubmodules = ['linalg', 'signal']\n"
                                    "def __getattr__(name):\n    if name in submodules:\n"
                                    "        return importlib.import_module(f'sci.{name}')\n"),
        f"{SITE}/sci/linalg.py": "", f"{SITE}/sci/signal.py": "",
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert "sci.linalg" in kept and "sci.signal" not in kept


def test_a_data_directory_a_library_names_keeps_its_files(tmp_path, elf_bytes):
    # nltk/data.py's search path names /usr/share/nltk_data; a corpus is looked up there on first use
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import corpora\n",
        f"{SITE}/corpora.py": "path = ['/usr/share/nltk_data', '/usr/lib/absent', '/var/cache']\n",
        "/usr/share/nltk_data/corpora/stopwords/english": "a\nthe\n",
        "/usr/share/other/file": "x", "/var/cache/debconf/config.dat": "x",
    })
    paths = set(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).paths())
    assert "/usr/share/nltk_data/corpora/stopwords/english" in paths
    assert not {"/usr/share/other/file", "/var/cache/debconf/config.dat"} & paths


def test_a_big_named_data_dir_is_said_only_when_nothing_keeps_it_whole(tmp_path, elf_bytes):
    many = {f"/usr/share/bigdata/f{i}.dat": "x" for i in range(70)}
    many.update({f"/app/assets/a{i}.css": "x" for i in range(70)})
    many.update({f"/usr/lib/x86_64-linux-gnu/lib{i}.so.1": "x" for i in range(70)})
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import finder\n",
        f"{SITE}/finder.py": "DIRS = ['/usr/share/bigdata', '/app/assets', '/usr/lib/x86_64-linux-gnu']\n", **many,
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    said = [f.message.split()[0] for f in closure.findings if f.kind == "data-dir-not-kept"]
    # /app/assets: the app's dir is kept whole anyway; the multiarch dir is where libraries are looked up
    assert said == ["/usr/share/bigdata"]


def test_a_test_runner_that_is_the_app_keeps_its_plugins(tmp_path, elf_bytes):
    """pytest as the container's command: its own plugins imported by `"_pytest." + name if … else name`, third
    party ones through the bare `pytest11` group pluggy's load_setuptools_entrypoints("pytest11") names (and a
    tox-like `entry_points(group="runner_ext")`), and a lazy `import pdb` in a dev tool's own hook."""
    files = _python_files(elf_bytes, **{
        "/usr/local/bin/pytest": "#!/usr/local/bin/python3\nimport pytest\npytest.main()\n",
        f"{SITE}/pytest/__init__.py": "from _pytest.config import main\n",
        f"{SITE}/_pytest/__init__.py": "",
        f"{SITE}/_pytest/config.py": (
            "builtin_plugins = ('helpconfig', 'debugging')\n"
            "class PluginManager:\n"
            "    def import_plugin(self, modname):\n"
            "        importspec = '_pytest.' + modname if modname in builtin_plugins else modname\n"
            "        __import__(importspec)\n"
            "    def start(self):\n"
            "        self.load_setuptools_entrypoints('pytest11')\n"
            "        from importlib.metadata import entry_points\n"
            "        entry_points(group='runner_ext')\n"
            "def main():\n    PluginManager().start()\n"),
        f"{SITE}/_pytest/helpconfig.py": "", f"{SITE}/_pytest/debugging.py": "def pytest_configure():\n    import pdb\n",
        f"{STDLIB}/pdb.py": "import bdb\n", f"{STDLIB}/bdb.py": "",
        f"{SITE}/myplugin.py": "", f"{SITE}/myplugin-1.0.dist-info/entry_points.txt": "[pytest11]\nmine = myplugin\n",
        f"{SITE}/extplug.py": "", f"{SITE}/extplug-1.0.dist-info/entry_points.txt": "[runner_ext]\next = extplug\n",
        f"{SITE}/unused.py": "", f"{SITE}/unused-1.0.dist-info/entry_points.txt": "[other]\nx = unused\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("pytest",), workdir="/")
    kept = _modules(closure.graph)
    assert {"_pytest.helpconfig", "_pytest.debugging", "myplugin", "extplug", "pdb", "bdb"} <= kept
    assert "unused" not in kept


def test_a_library_that_lazily_imports_a_dev_tool_does_not_keep_it(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import lib\n",
        f"{SITE}/lib.py": "def debug():\n    import pdb\n    pdb.set_trace()\n",
        f"{STDLIB}/pdb.py": "",
    })
    assert "pdb" not in _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)


def test_a_pipe_is_a_unikraft_warning_only(tmp_path, elf_bytes):
    """Unikraft's base runtime fails fstat on a pipe (ENOSYS), so set_wakeup_fd over one raises: a library or
    app that makes pipes is a unikraft warning, never a blocker, and no other target's concern; the stdlib's own
    pipes (subprocess) serve calls the target already warns about."""
    from faktory.emitters.convert import check

    files = _python_files(elf_bytes, **{
        "/app/main.py": "import os, waker, subprocess\nr, w = os.pipe()\n",
        f"{SITE}/waker.py": "import os, signal\ndef install():\n    r, w = os.pipe()\n    signal.set_wakeup_fd(w)\n",
        f"{STDLIB}/subprocess.py": "import os\ndef popen():\n    return os.pipe()\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    notes = [f for f in closure.findings if f.kind == "pipe"]
    assert {f.severity for f in notes} == {"info"} and {str(f.location).split(":")[0] for f in notes} == {
        "/app/main.py", f"{SITE}/waker.py"}  # notes in the analysis, not warnings
    on_unikraft = [f for f in check(closure, "unikraft") if f.kind == "pipe"]
    assert sorted(f.severity for f in on_unikraft) == ["warning", "warning"]
    assert any("fstat of a pipe" in f.message and "waker" in f.message for f in on_unikraft)
    assert not any("stdlib" in f.message for f in on_unikraft)
    assert not [f for f in check(closure, "oci") if f.kind == "pipe" and f.severity != "info"]


def test_contextlib_suppress_import_error_guards_like_try_except(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": ("import contextlib\nfrom contextlib import suppress as quiet\n"
                         "with contextlib.suppress(ImportError):\n    import speedups\n"
                         "with quiet(ModuleNotFoundError, OSError):\n    import absent_extra\n"
                         "with open('/dev/null'):\n    import absent_needed\n"),
        f"{SITE}/speedups.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    unresolved = {f.message.split()[1] for f in closure.findings if f.kind == "unresolved-import"}
    assert unresolved - {"contextlib"} == {"absent_needed"}  # the suppressed ones run without it, as the app says
    assert "speedups" in _modules(closure.graph)  # kept all the same: recall first



def test_a_codec_named_through_a_lookup_wrapper_is_kept(tmp_path, elf_bytes):
    # webencodings: `_UTF16LE = lookup('utf-16le')`, its own lookup over codecs.lookup
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import webenc\n",
        f"{SITE}/webenc.py": "import codecs\ndef lookup(label):\n    return codecs.lookup(label)\n"
                             "_UTF16LE = lookup('utf-16le')\nmissing = lookup('no-such-codec')\n",
        f"{STDLIB}/encodings/aliases.py": ALIASES.replace("}", "    'utf_16le': 'utf_16_le',\n}"),
        f"{STDLIB}/encodings/utf_16_le.py": "", f"{STDLIB}/encodings/koi8_r.py": "",
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert "encodings.utf_16_le" in kept and "encodings.koi8_r" not in kept


def test_entry_points_filtered_by_a_group_constant_keep_their_plugins(tmp_path, elf_bytes):
    """sqlfluff's plugin host walks every entry point and keeps those whose `ep.group` equals `project_name`, a
    constant of another module; a dialect is `import_module(f"{base_module}.{name}")` with `base_module` a
    parameter whose default names the package. A group behind an imported name with no literal is a finding."""
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import lintkit.host\nimport lintkit.dialects\n",
        f"{SITE}/lintkit/__init__.py": "project_name = 'lintkit'\n",
        f"{SITE}/lintkit/host.py": (
            "import importlib.metadata\nfrom lintkit import project_name\nfrom lintkit.other import GROUP\n"
            "def discover():\n"
            "    for dist in importlib.metadata.distributions():\n"
            "        for ep in dist.entry_points:\n"
            "            if ep.group != project_name:\n"
            "                continue\n"
            "            yield ep\n"
            "def others():\n"
            "    return [ep for ep in eps if ep.group == GROUP]\n"
            "def by_param(group):\n"
            "    return [ep for ep in eps if ep.group == group]\n"),
        f"{SITE}/lintkit/other.py": "import os\nGROUP = os.environ['G']\n",
        f"{SITE}/lintkit/dialects.py": (
            "from importlib import import_module\n"
            "def load(label, base_module='lintkit.flavours'):\n"
            "    return import_module(f'{base_module}.{label}')\n"),
        f"{SITE}/lintkit/flavours/__init__.py": "", f"{SITE}/lintkit/flavours/postgres.py": "",
        f"{STDLIB}/importlib/metadata/__init__.py": "", f"{STDLIB}/importlib/__init__.py": "",
        f"{SITE}/lintkit_rules/__init__.py": "",
        f"{SITE}/lintkit-1.0.dist-info/entry_points.txt": "[lintkit]\nrules = lintkit_rules\n",
        f"{SITE}/unused.py": "", f"{SITE}/unused-1.0.dist-info/entry_points.txt": "[other]\nx = unused\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = _modules(closure.graph)
    assert {"lintkit_rules", "lintkit.flavours.postgres"} <= kept and "unused" not in kept
    group = [f for f in closure.findings if f.kind == "computed-entry-point-group"]
    assert [(f.message.split("`")[1], str(f.location)) for f in group] == [("GROUP", f"{SITE}/lintkit/host.py:11")]


def test_a_system_directory_named_on_the_command_line_is_kept_when_small_else_a_finding(tmp_path, elf_bytes):
    # `python3 -m http.server -d /srv`: a small /srv is the site, kept; a big one is a finding, not a silent 404
    site = {f"{STDLIB}/http/__init__.py": "", f"{STDLIB}/http/server.py": "", "/app/": "",
            "/srv/index.html": "<p>hi</p>", "/srv/www/page.html": ""}
    command = ("python3", "-m", "http.server", "-d", "/srv")
    closure = _analyze_root(tmp_path / "small", _python_files(elf_bytes, **site), command)
    assert {"/srv/index.html", "/srv/www/page.html"} <= set(closure.paths())
    assert not [f for f in closure.findings if f.kind == "argument-dir-not-kept"]
    big = dict(site, **{f"/srv/pages/{n}.html": "" for n in range(70)})
    closure = _analyze_root(tmp_path / "big", _python_files(elf_bytes, **big), command)
    found = [(f.kind, str(f.location)) for f in closure.findings if f.kind == "argument-dir-not-kept"]
    assert found == [("argument-dir-not-kept", "/srv")] and "/srv/index.html" not in set(closure.paths())
    closure = _analyze_root(tmp_path / "sub", _python_files(elf_bytes, **big), ("python3", "-m", "http.server",
                                                                               "-d", "/srv/www"))
    assert "/srv/www/page.html" in set(closure.paths())
    assert not [f for f in closure.findings if f.kind == "argument-dir-not-kept"]


def test_a_package_growing_its_own_path_from_its_name_keeps_its_drop_in_modules(tmp_path, elf_bytes):
    # Twisted's twisted.plugins: `__path__.extend(pluginPackagePaths(__name__))`, then getPlugins lists the
    # package's directories and imports what it finds; a pkgutil.extend_path namespace keeps only what is named
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import tool.plugins\nimport ns.used\n",
        f"{SITE}/tool/__init__.py": "def dirs(name):\n    return []\n",
        f"{SITE}/tool/plugins/__init__.py": "from tool import dirs\n__path__.extend(dirs(__name__))\n__all__ = []\n",
        f"{SITE}/tool/plugins/web.py": "", f"{SITE}/tool/plugins/mail.py": "",
        f"{SITE}/tool/other.py": "",
        f"{SITE}/ns/__init__.py": "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
        f"{SITE}/ns/used.py": "", f"{SITE}/ns/unused.py": "",
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert {"tool.plugins.web", "tool.plugins.mail", "ns.used"} <= kept
    assert not {"tool.other", "ns.unused"} & kept


def test_only_path_growth_computed_from_the_package_name_marks_a_drop_in_package():
    from faktory.analyzers.dropins import grown_path_lines
    import ast
    src = ("import os\n__path__.extend(find(__name__))\n__path__ += paths_for(__name__)\n"
           "__path__.append(os.path.join(os.path.dirname(__file__), 'vendor'))\n"
           "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
           "try:\n    __path__.insert(0, here(__name__))\nexcept ImportError:\n    pass\n"
           "def f():\n    __path__.extend(find(__name__))\n")
    assert grown_path_lines(ast.parse(src)) == [2, 3, 7]


def test_a_module_name_built_in_one_branch_of_an_if_keeps_its_package(tmp_path, elf_bytes):
    # Radicale's load_plugin: `if type_ in internal: module = "radicale.%s.%s" % (kind, type_) else: module =
    # type_`, then import_module(module); the `if` holds no import of its own
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import cal.utils\ncal.utils.load_plugin(('none',), 'auth', 'Auth')\n",
        f"{SITE}/cal/__init__.py": "", f"{SITE}/cal/auth/__init__.py": "", f"{SITE}/cal/auth/none.py": "",
        f"{SITE}/cal/utils.py": (
            "from importlib import import_module\n\n"
            "def load_plugin(internal_types, module_name, class_name, type_='none'):\n"
            "    if type_ in internal_types:\n        module = 'cal.%s.%s' % (module_name, type_)\n"
            "    else:\n        module = type_\n"
            "    try:\n        return getattr(import_module(module), class_name)\n"
            "    except Exception as e:\n        raise RuntimeError(module) from e\n"),
    })
    kept = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert "cal.auth.none" in kept


def test_a_wheels_vendored_libraries_count_for_its_distribution(tmp_path, elf_bytes):
    # auditwheel's `opencv_python_headless.libs/`: kept through DT_NEEDED, no module of their own
    from faktory.analyzers.analysis import analyze
    from faktory.analyzers.options import AnalyzeOptions, hint
    from faktory.analyzers.report import owner
    from faktory.image import ImageConfig
    from tests.oracle.dirimage import DirImage
    from tests.test_analyzers_units import _tree

    libs = f"{SITE}/opencv_python_headless.libs"
    files = _python_files(elf_bytes, **{"/app/main.py": "", f"{libs}/libpng16-9ec86663.so.16": b"\x7fELF",
                                        f"{SITE}/stray/data.bin": b"x"})
    include = tuple(hint("include", p, "hint:--include") for p in (f"{libs}/*", f"{SITE}/stray/*"))
    image = DirImage(_tree(tmp_path / "root", files), ImageConfig(cmd=("python3", "/app/main.py"), working_dir="/app"))
    closure = analyze(image, AnalyzeOptions(hints=include))
    assert owner(closure, f"file:{libs}/libpng16-9ec86663.so.16") == "opencv-python-headless"
    assert owner(closure, f"file:{SITE}/stray/data.bin") == "site-packages (unattributed)"
def test_a_launcher_running_subcommand_programs_by_a_computed_name_keeps_them(tmp_path, elf_bytes):
    # `jupyter nbconvert` runs `jupyter-nbconvert`, found on PATH as f"jupyter-{subcommand}": each program of
    # that family is kept, and a Python one has its imports followed; other programs are not
    launcher = ("import os, sys\nfrom shutil import which\n\ndef main():\n    name = f'tool-{sys.argv[1]}'\n"
                "    path = which(name)\n    os.execvp(path, [path, *sys.argv[2:]])\n")
    files = _python_files(elf_bytes, **{
        f"{SITE}/launcher.py": launcher, f"{SITE}/converter.py": "import formats\n", f"{SITE}/formats.py": "",
        "/usr/local/bin/tool": "#!/usr/local/bin/python3\nfrom launcher import main\nmain()\n",
        "/usr/local/bin/tool-convert": "#!/usr/local/bin/python3\nfrom converter import run\nrun()\n",
        "/usr/local/bin/toolbox": elf_bytes, "/usr/bin/tool-helper": elf_bytes, "/app/": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("tool", "convert", "in.txt"))
    paths = set(closure.paths())
    assert {"/usr/local/bin/tool-convert", "/usr/bin/tool-helper"} <= paths and "/usr/local/bin/toolbox" not in paths
    assert {"converter", "formats"} <= _modules(closure.graph)
    found = [(f.severity, str(f.location)) for f in closure.findings if f.kind == "computed-program"]
    assert found == [("info", f"{SITE}/launcher.py:6")]


def test_a_function_the_app_calls_as_it_starts_has_its_imports_followed_eagerly(tmp_path, elf_bytes):
    # IPython's console script runs `start_ipython()`, whose function-level import brings the whole terminal app;
    # below it, a stdlib function called at import (minidom.parseString's `from xml.dom import expatbuilder`)
    # must not count as two levels of laziness
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import sys\nfrom tool import start\nif __name__ == '__main__':\n    sys.exit(start())\n",
        f"{SITE}/tool.py": "def start():\n    from tool_impl import run\n    return run()\n\ndef unused():\n"
                           "    import tool_extra\n",
        f"{SITE}/tool_impl.py": "import minidom\n", f"{SITE}/tool_extra.py": "import other\n",
        f"{STDLIB}/other.py": "def parse(text):\n    import rarely\n",
        f"{STDLIB}/minidom.py": "def parse(text):\n    import expatbuilder\n", f"{STDLIB}/expatbuilder.py": "",
        f"{STDLIB}/rarely.py": "",
    })
    mods = _modules(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph)
    assert {"tool_impl", "minidom", "expatbuilder", "other"} <= mods
    assert "rarely" not in mods  # another function's lazy import stays one level deeper


def test_a_program_named_by_a_constant_of_code_that_starts_processes_is_kept(tmp_path, elf_bytes):
    # GitPython runs `[self.GIT_PYTHON_GIT_EXECUTABLE, …]`, set from `git_exec_name = "git"`: no literal at the call
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import vcs, quiet\nvcs.Git().log()\n",
        f"{SITE}/vcs.py": "import subprocess\n\nclass Git:\n    git_exec_name = 'git'\n    editor_cmd = 'nano'\n"
                          "    def log(self):\n        return subprocess.run([self.git_exec_name, 'log'])\n",
        f"{SITE}/quiet.py": "tool_cmd = 'other'\n",  # starts nothing: its constant is no program it runs
        "/usr/bin/git": elf_bytes, "/usr/bin/other": elf_bytes, "/app/": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    paths = set(closure.paths())
    assert "/usr/bin/git" in paths and "/usr/bin/other" not in paths
    found = [str(f.location) for f in closure.findings if f.kind == "computed-program"]
    assert found == [f"{SITE}/vcs.py:4"]  # nano is not in the image: nothing to keep, nothing to say


def test_a_file_a_library_module_quotes_by_name_in_its_own_directory_is_kept(tmp_path, elf_bytes):
    # virtualenv's activator yields "activate_this.py" and reads it with files(self.__module__) / name: a .py that
    # no import names, which package data leaves out
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import venvtool.activation\n",
        f"{SITE}/venvtool/__init__.py": "", f"{SITE}/venvtool/activation/__init__.py":
            "from importlib.resources import files\n\ndef templates():\n    yield 'activate_this.py'\n"
            "    yield 'activate.h'\n\ndef read(name):\n    return (files(__name__) / name).read_bytes()\n",
        f"{SITE}/venvtool/activation/activate_this.py": "import site\n",
        f"{SITE}/venvtool/activation/activate.h": "/* a template */\n",
        f"{SITE}/venvtool/activation/unnamed.py": "", f"{SITE}/venvtool/other.py": "",
        f"{STDLIB}/site.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    paths = set(closure.paths())
    assert {f"{SITE}/venvtool/activation/activate_this.py", f"{SITE}/venvtool/activation/activate.h"} <= paths
    assert f"{SITE}/venvtool/activation/unnamed.py" not in paths
    assert f"{SITE}/venvtool/other.py" not in paths
    why = _why(closure, f"{SITE}/venvtool/activation/activate_this.py")
    assert "named-by-string" in why and "activation/__init__.py:4" in why


def _why(closure, query: str) -> str:
    return " ".join(str(part) for step in explain(closure, query).steps for part in step if part)


def _wheel(members: dict[str, str | bytes], head: bytes = b"") -> bytes:
    """A zip of `members`; `head` goes first (a zipapp's `#!` line, as zipapp writes it)."""
    import io
    import zipfile

    buf = io.BytesIO()
    buf.write(head)
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_the_stdlib_modules_a_bundled_wheel_imports_are_kept(tmp_path, elf_bytes):
    # virtualenv installs its embedded pip wheel into a new venv and runs it there on the image's stdlib
    wheel = _wheel({"tool/__init__.py": "import optparse\nfrom email import parser\nimport tool.cli\n",
                    "tool/cli.py": "def main():\n    import csv\n    from . import util\n",
                    "tool/util.py": "import not_anywhere\n", "tool-1.0.dist-info/METADATA": "Name: tool\n"})
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import seeder\n",
        f"{SITE}/seeder/__init__.py": "", f"{SITE}/seeder/tool-1.0-py3-none-any.whl": wheel,
        f"{STDLIB}/optparse.py": "", f"{STDLIB}/csv.py": "", f"{STDLIB}/email/__init__.py": "",
        f"{STDLIB}/email/parser.py": "", f"{STDLIB}/unused.py": "", f"{SITE}/tool/__init__.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    mods = _modules(closure.graph)
    assert {"optparse", "csv", "email", "email.parser"} <= mods
    assert "unused" not in mods and "tool" not in mods  # the wheel's own package is installed from it
    assert "bundled-wheel-import" in _why(closure, f"{STDLIB}/optparse.py")


def test_an_unreadable_bundled_wheel_is_a_finding(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import seeder\n",
        f"{SITE}/seeder/__init__.py": "", f"{SITE}/seeder/broken-1.0-py3-none-any.whl": "not a zip",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    assert [f for f in closure.findings if f.kind == "unreadable-wheel"]


def test_a_shell_line_running_a_program_the_image_lacks_says_so(tmp_path, elf_bytes):
    # `virtualenv /tmp/venv && /tmp/venv/bin/pip --version`: the venv's pip is made as the line runs
    files = _python_files(elf_bytes, **{"/app/main.py": "print('made')\n", "/bin/sh": elf_bytes})
    closure = _analyze_root(tmp_path / "root", files, (
        "/bin/sh", "-c", "cd /tmp && python3 /app/main.py && /tmp/venv/bin/pip --version && python3 /app/main.py"))
    chain = [f.message for f in closure.findings if f.kind == "shell-chain"]
    assert any("`/tmp/venv/bin/pip` is not in the image" in m for m in chain), chain
    assert not any("`cd` is not in the image" in m for m in chain)


def test_a_program_keeps_the_helpers_and_data_its_binary_names(tmp_path, elf_bytes):
    # git runs `git-upload-pack` from /usr/lib/git-core, a directory only a string of its binary names, and copies
    # share/git-core/templates (relative to its prefix /usr) into each new repository
    from tests.test_analyzers_units import _extension

    tool = _extension("/usr/lib/tool-core", "tool-upload", "tool-remote", "README", "share/tool/templates",
                      "/etc/toolrc")
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import subprocess\nsubprocess.run(['tool', 'clone'])\n",
        "/usr/bin/tool": tool,
        "/usr/lib/tool-core/tool-upload": ("->", "../../bin/tool"),  # a builtin: a link back to the program
        "/usr/lib/tool-core/tool-remote": elf_bytes, "/usr/lib/tool-core/tool-unnamed": elf_bytes,
        "/usr/lib/tool-core/README": "not a program\n",
        "/usr/share/tool/templates/hooks/sample": "#!/bin/sh\n", "/usr/share/tool/other/file": "x\n",
        "/etc/toolrc": "[core]\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    paths = set(closure.paths())
    assert {"/usr/bin/tool", "/usr/lib/tool-core/tool-upload", "/usr/lib/tool-core/tool-remote",
            "/usr/share/tool/templates/hooks/sample"} <= paths
    assert not {"/usr/lib/tool-core/tool-unnamed", "/usr/lib/tool-core/README", "/usr/share/tool/other/file",
                "/etc/toolrc"} & paths  # a system file it names is the system files' rules' to keep
    assert "helper-program" in _why(closure, "/usr/lib/tool-core/tool-remote")
    assert "program-data" in _why(closure, "/usr/share/tool/templates/hooks/sample")
    assert [str(f.location) for f in closure.findings if f.kind == "helper-program"] == ["/usr/bin/tool"]


def _needing(library: bytes, *names: str) -> bytes:
    """An extension ELF (the host's _blake2) whose one DT_NEEDED, libc.so.6, is renamed to `library`."""
    from tests.test_analyzers_units import _extension

    data = _extension(*names, base="_blake2")
    assert len(library) == len(b"libc.so.6") and data.count(b"\0libc.so.6\0") == 1
    return data.replace(b"\0libc.so.6\0", b"\0" + library + b"\0")


def test_a_zipapp_that_unpacks_itself_keeps_what_its_bundled_code_needs(tmp_path, elf_bytes):
    # shiv and pex: `python app.pyz` runs a bootstrap that extracts the archive's site-packages/ and imports from
    # there; no sys.path entry shows that code. The archive starts with a `#!` line, as zipapp writes it.
    pyz = _wheel({
        "__main__.py": "import _boot\n_boot.run()\n", "_boot.py": "import zipfile\ndef run():\n    import site\n",
        "site-packages/tool/__init__.py": "import csv\nfrom . import _speedups\n",
        f"site-packages/tool/_speedups{EXT}": _needing(b"libq.so.6", "decimal"),
        f"site-packages/tool/_other{EXT}": _needing(b"libz.so.9"),
        "site-packages/tool.libs/libz.so.9": b"carried by the archive",
    }, head=b"#!/usr/bin/env python3\n")
    files = _python_files(elf_bytes, **{
        "/app/tool.pyz": pyz, f"{STDLIB}/zipfile.py": "", f"{STDLIB}/csv.py": "", f"{STDLIB}/decimal.py": "",
        f"{STDLIB}/unused.py": "",
    })
    files["/usr/lib/x86_64-linux-gnu/libq.so.6"] = files["/lib/x86_64-linux-gnu/libc.so.6"]
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/tool.pyz"))
    mods, paths = _modules(closure.graph), set(closure.paths())
    assert {"runpy", "zipfile", "csv", "decimal"} <= mods and "unused" not in mods
    assert "/usr/lib/x86_64-linux-gnu/libq.so.6" in paths
    assert "zipapp-import" in _why(closure, f"{STDLIB}/csv.py")
    assert "/app/tool.pyz!site-packages/tool/__init__.py:1" in _why(closure, f"{STDLIB}/csv.py")
    assert not [f for f in closure.findings if f.kind == "syntax-error" or "tool.pyz" in f.message]


def test_a_library_a_zipapp_needs_that_nothing_carries_is_a_finding(tmp_path, elf_bytes):
    pyz = _wheel({"__main__.py": "", f"site-packages/tool/_speedups{EXT}": _needing(b"libq.so.6")})
    files = _python_files(elf_bytes, **{"/app/tool.pyz": pyz})
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/tool.pyz"))
    missing = [f.message for f in closure.findings if f.kind == "unresolved-library" and "tool.pyz" in f.message]
    assert missing and "libq.so.6" in missing[0] and "_speedups" in missing[0], missing


def test_a_zipapp_whose_members_cannot_be_read_is_unresolved_not_silent(tmp_path, elf_bytes):
    from faktory.analyzers.findings import unresolved

    data = _wheel({"__main__.py": "", "site-packages/tool/__init__.py": "import csv\n"})
    second = data.index(b"PK\x03\x04", 4)  # the second member's local header: its magic broken
    files = _python_files(elf_bytes, **{"/app/tool.pyz": data[:second] + b"XX" + data[second + 2:]})
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/tool.pyz"))
    found = [f for f in unresolved(closure.findings) if f.kind == "unreadable-wheel"]
    assert found and "/app/tool.pyz" in found[0].message, closure.findings
