"""Go build info: real binaries of every release in ALL_GO compared with `go version -m -json` (the
newest toolchain reads them all) and the same release's `go version -m`; hand-made blobs in both
formats for what a std-only fixture cannot have (dependencies, replacements, quoting)."""
from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from gdb_rr_dmabuf.go_runtime.binary import GoBinary
from gdb_rr_dmabuf.go_runtime.buildinfo import (BUILDINFO_MAGIC, Module, go_unquote, make_blob,
                                                parse_modinfo, read_buildinfo, read_raw_buildinfo)
from tests.support.toolchains import ALL_GO, build_go, go_root

NEWEST = ALL_GO[-1]


def go_version_m(exe: Path, version: str, json_out: bool) -> str:
    root = go_root(version)
    env = dict(os.environ, GOROOT=str(root), GOTOOLCHAIN="local", GOFLAGS="")
    return subprocess.run([str(root / "bin" / "go"), "version", "-m"] + (["-json"] if json_out else []) +
                          [str(exe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=True, env=env).stdout


def _mod(d: Optional[dict]) -> Optional[Module]:
    if not d:
        return None
    return Module(path=d.get("Path", ""), version=d.get("Version", ""), sum=d.get("Sum") or None,
                  replace=_mod(d.get("Replace")))


@pytest.mark.slow
def test_matches_go_version_m(inlines_builds):
    version, exes = inlines_builds
    for variant, exe in exes.items():
        bi = GoBinary.open(str(exe)).buildinfo
        assert bi is not None, variant
        want = json.loads(go_version_m(exe, NEWEST, json_out=True))
        assert bi.go_version == want["GoVersion"] == "go" + version
        assert bi.path == want["Path"] == "example.com/fix.inlines"
        assert bi.main == _mod(want.get("Main"))
        assert bi.deps == [_mod(d) for d in want.get("Deps") or []]
        assert bi.settings == {s["Key"]: s.get("Value", "") for s in want["Settings"]}
        # Values Go had to quote in the text form come back unquoted.
        if "stripped" in variant:
            assert bi.settings["-ldflags"].startswith("-s -w")
        assert bi.settings["CGO_ENABLED"] == ("1" if "external" in variant else "0")
        assert bi.settings["-buildmode"] == ("pie" if "pie" in variant else "exe")
        # The same release's own text output agrees on the header line.
        first = go_version_m(exe, version, json_out=False).splitlines()[0]
        assert first.endswith(": " + bi.go_version)
        assert bi.module_for_package("main") == bi.main
        assert bi.module_for_package("example.com/fix.inlines/inl") == bi.main
        assert bi.module_for_package("runtime") is None
        assert bi.module_for_package("example.com/fix.inlinesX") is None


MODINFO = "\n".join([
    "path\texample.com/app/cmd/viewer",
    "mod\texample.com/app\tv1.4.0\th1:main=",
    "dep\tgioui.org\tv0.7.1\th1:gio=",
    "dep\tgioui.org/cpu\tv0.0.0-20220412190645-f1e9e8c3b1f7\th1:cpu=",
    "dep\tgolang.org/x/exp\tv0.0.0-20240506185415-9bf2ced13842\th1:exp=",
    "dep\tgithub.com/go-text/typesetting\tv0.1.1\t",
    "=>\t../typesetting\t(devel)\t",
    "dep\tgolang.org/x/image\tv0.18.0",
    "=>\tgolang.org/x/image\tv0.19.0\th1:img=",
    "build\t-buildmode=exe",
    "build\t-compiler=gc",
    'build\t-ldflags="-s -w -X \\"main.v=1 2\\""',
    'build\t"odd key"=`raw value`',
    "build\tCGO_ENABLED=1",
    "build\tCGO_CFLAGS=",
    "build\tvcs.modified=false",
    "",
])


def test_hand_made_blob_with_deps_and_replace():
    blob = make_blob("go1.22.3", MODINFO)
    assert blob.startswith(BUILDINFO_MAGIC) and blob[15] == 2
    data = b"\0" * 48 + blob + b"\0" * 7  # the magic is found at 16-byte alignment inside a section
    bi = read_buildinfo(data)
    assert bi.go_version == "go1.22.3"
    assert bi.path == "example.com/app/cmd/viewer"
    assert bi.main == Module("example.com/app", "v1.4.0", "h1:main=")
    assert [d.path for d in bi.deps] == ["gioui.org", "gioui.org/cpu", "golang.org/x/exp",
                                         "github.com/go-text/typesetting", "golang.org/x/image"]
    ts = bi.deps[3]
    assert ts.sum is None and ts.replace == Module("../typesetting", "(devel)", None)
    img = bi.deps[4]
    assert img.sum is None and img.replace == Module("golang.org/x/image", "v0.19.0", "h1:img=")
    assert bi.settings["-ldflags"] == '-s -w -X "main.v=1 2"'
    assert bi.settings["odd key"] == "raw value"
    assert bi.settings["CGO_CFLAGS"] == ""
    assert bi.settings["vcs.modified"] == "false"
    # module_for_package: longest module prefix at a '/' boundary.
    assert bi.module_for_package("gioui.org/app") is bi.deps[0]
    assert bi.module_for_package("gioui.org/cpu") is bi.deps[1]
    assert bi.module_for_package("gioui.org/cpuid") is bi.deps[0]  # not a path-boundary match of /cpu
    assert bi.module_for_package("gioui.org") is bi.deps[0]
    assert bi.module_for_package("golang.org/x/exp/shiny/driver") is bi.deps[2]
    assert bi.module_for_package("golang.org/x/image/font").replace.version == "v0.19.0"
    assert bi.module_for_package("example.com/app/internal/x") is bi.main
    assert bi.module_for_package("main") is bi.main
    for std in ("runtime", "internal/abi", "net/http", "vendor/golang.org/x/net/http2", "", "golang.org/x"):
        assert bi.module_for_package(std) is None, std


def test_reader_function_and_misaligned_magic():
    blob = make_blob("go1.24.0", MODINFO)
    base = 0x54F000
    region = b"\xaa" * 16 + blob
    bi = read_buildinfo(lambda a, n: region[a - base:a - base + n], base, len(region))
    assert bi is not None and bi.main.path == "example.com/app"
    # A magic that is not 16-byte aligned is not a blob.
    assert read_buildinfo(b"\0" * 3 + blob) is None
    assert read_buildinfo(b"nothing here" * 10) is None
    # Truncated varint string: unreadable, not a crash.
    assert read_buildinfo(blob[:40]) is None


def test_blob_without_module_info():
    """`go build file.go` outside a module: a version but no module lines."""
    bi = read_buildinfo(make_blob("go1.21.0", ""))
    assert bi.go_version == "go1.21.0" and bi.path == "" and bi.main is None and bi.deps == []
    assert bi.module_for_package("main") is None


def test_pre_118_pointer_format():
    """Before Go 1.18 the header holds pointers to Go string headers (ptr, len)."""
    base = 0x600000
    start = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
    end = bytes.fromhex("f932433186182072008242104116d8f2")
    vers = b"go1.16.15"
    mod = start + b"path\tx.org/cmd\nmod\tx.org\tv1.0.0\th1:x=\n" + end
    mem = bytearray(0x200)
    hdr = BUILDINFO_MAGIC + bytes([8, 0]) + struct.pack("<QQ", base + 0x40, base + 0x50)
    mem[0:32] = hdr
    mem[0x40:0x50] = struct.pack("<QQ", base + 0x80, len(vers))
    mem[0x50:0x60] = struct.pack("<QQ", base + 0xA0, len(mod))
    mem[0x80:0x80 + len(vers)] = vers
    mem[0xA0:0xA0 + len(mod)] = mod

    def read(a, n):
        return bytes(mem[a - base:a - base + n])

    bi = read_buildinfo(read, base, len(mem))
    assert bi.go_version == "go1.16.15"
    assert bi.path == "x.org/cmd" and bi.main == Module("x.org", "v1.0.0", "h1:x=")
    # Big-endian 4-byte pointers (flags bit 0).
    mem2 = bytearray(mem)
    mem2[0:32] = BUILDINFO_MAGIC + bytes([4, 1]) + struct.pack(">II", base + 0x40, base + 0x50) + b"\0" * 8
    mem2[0x40:0x48] = struct.pack(">II", base + 0x80, len(vers))
    mem2[0x50:0x58] = struct.pack(">II", base + 0xA0, len(mod))
    raw = read_raw_buildinfo(lambda a, n: bytes(mem2[a - base:a - base + n]), base, len(mem2))
    assert raw == ("go1.16.15", mod[16:-16].decode())
    # Bytes with their address can follow pointers inside them; without it, no answer (not a wrong one).
    assert read_buildinfo(bytes(mem), base).go_version == "go1.16.15"
    assert read_buildinfo(bytes(mem)) is None


@pytest.mark.parametrize("quoted,want", [
    ('"plain"', "plain"),
    ('"a\\"b"', 'a"b'),
    ('"tab\\there"', "tab\there"),
    ('"\\x41\\102\\u00e9\\U0001F600"', "AB\u00e9\U0001F600"),
    ('"\\xc3\\xa9"', "\u00e9"),  # bytes escapes form UTF-8 together
    ("`raw \\n`", "raw \\n"),
    ('"bad', None),
    ('"bad\\q"', None),
    ('"\\400"', None),
    ("'x'", None),
])
def test_go_unquote(quoted, want):
    assert go_unquote(quoted) == want


def test_parse_modinfo_is_lenient():
    bi = parse_modinfo("go1.23.1", "path\tp\nmod\tp\n=>\tonly-two\tcols\nbuild\t=x\nbuild\tnoequals\ngarbage\n")
    assert bi.path == "p" and bi.main is None and bi.settings == {}
    bi = parse_modinfo("", "go\tgo1.20\npath\tq\n")
    assert bi.go_version == "go1.20" and bi.path == "q"
