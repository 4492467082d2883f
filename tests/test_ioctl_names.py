"""_IOC decoding, request parsing and the generated name tables."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.ioctl import decode_ioc, names_for, narrow_by_link, parse_request, value_of
from gdb_rr_dmabuf.ioctl import _names_aarch64, _names_x86_64
from gdb_rr_dmabuf.ioctl.ioc import ioc, mask_size
from tests.support.toolchains import REPO, build_c


def test_decode_export_sync_file():
    d = decode_ioc(0xC0086202)
    assert (d.value, d.dir, d.dir_name, d.type, d.type_char, d.nr, d.size) == (
        0xC0086202, 3, "read/write", 0x62, "b", 2, 8)


def test_decode_takes_value_mod_2_32():
    assert decode_ioc(0xFFFFFFFFC0086202) == decode_ioc(0xC0086202)
    assert decode_ioc(-1073192446).value == 0xC0086202  # the int as a signed register


@pytest.mark.parametrize("value,dir_name,tchar,nr,size", [
    (0x40086200, "write", "b", 0, 8),
    (0xC0184800, "read/write", "H", 0, 24),
    (0x40187542, "write", "u", 0x42, 24),
    (0xC0383E04, "read/write", ">", 4, 56),
    (0x80045430, "read", "T", 0x30, 4),   # TIOCGPTN
    (0x00005401, "none", "T", 1, 0),      # TCGETS (not _IOC encoded, still splits)
    (0x00000001, "none", "\\x00", 1, 0),  # FIBMAP: type 0 is not printable
    (0xC020AE00 | 0x9F, "read/write", "\\xae", 0x9F, 0x20),
])
def test_decode_fields(value, dir_name, tchar, nr, size):
    d = decode_ioc(value)
    assert (d.dir_name, d.type_char, d.nr, d.size) == (dir_name, tchar, nr, size)
    assert ioc(d.dir, d.type, d.nr, d.size) == value


def test_mask_size():
    assert mask_size(0xC01864C1) == mask_size(0xC01064C1) == 0xC00064C1


@pytest.mark.parametrize("text,value", [
    ("0xc0086202", 0xC0086202),
    ("0XC0086202", 0xC0086202),
    ("  0xc0086202 ", 0xC0086202),
    ("3221774850", 0xC0086202),
    ("-1073192446", 0xC0086202),
    ("0xffffffffc0086202", 0xC0086202),
    ("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", 0xC0086202),
    ("dma_buf_ioctl_sync", 0x40086200),
    ("DMA_HEAP_IOCTL_ALLOC", 0xC0184800),
    ("SYNC_IOC_SET_DEADLINE", 0x40103E05),  # newer than the headers, from NEWER
])
def test_parse_request(text, value):
    assert parse_request(text) == value


@pytest.mark.parametrize("text", ["", "0xzz", "NOT_AN_IOCTL_NAME", "0x1c0086202", "0xffffffff40086200",
                                  "12 34", "ioctl(0x1)", "-0x80000001"])
def test_parse_request_errors_are_one_line(text):
    with pytest.raises(UserError) as ei:
        parse_request(text)
    msg = str(ei.value)
    assert "\n" not in msg and msg


def test_collisions_and_variants():
    assert sorted(names_for(0x40086203)) == ["BINDER_SET_IDLE_TIMEOUT", "DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]
    assert sorted(names_for(0x40086201)) == ["DMA_BUF_SET_NAME", "DMA_BUF_SET_NAME_B"]
    assert names_for(0x40046201) == ["DMA_BUF_SET_NAME_A"]
    assert names_for(0xFFFFFFFFC0086202) == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]
    assert names_for(0x4008FFFF) == []
    assert names_for(0xC01864C1) == ["DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD"]  # 6.16 24-byte form
    assert value_of("DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD") == 0xC01064C1  # the headers' (16-byte) number
    assert value_of("NO_SUCH_IOCTL") is None


@pytest.mark.parametrize("link,expect", [
    ("anon_inode:dmabuf", ["DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]),
    ("/dmabuf:lp_dma_buf", ["DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]),
    ("/dmabuf:", ["DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]),
    ("/dev/binderfs/binder", ["BINDER_SET_IDLE_TIMEOUT"]),
    ("/dev/binder", ["BINDER_SET_IDLE_TIMEOUT"]),
    ("/dev/dri/renderD128", ["BINDER_SET_IDLE_TIMEOUT", "DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]),  # nothing fits
    ("/memfd:lp_dma_buf (deleted)", ["BINDER_SET_IDLE_TIMEOUT", "DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]),
    (None, ["BINDER_SET_IDLE_TIMEOUT", "DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]),
])
def test_narrow_by_link(link, expect):
    assert sorted(narrow_by_link(names_for(0x40086203), link)) == expect


def test_narrow_by_link_other_families():
    assert narrow_by_link(["SYNC_IOC_MERGE", "X_Y"], "anon_inode:sync_file") == ["SYNC_IOC_MERGE"]
    assert narrow_by_link(["DRM_IOCTL_A", "X_Y"], "/dev/dri/card0") == ["DRM_IOCTL_A"]
    assert narrow_by_link(["UDMABUF_CREATE", "X_Y"], "/dev/udmabuf") == ["UDMABUF_CREATE"]
    assert narrow_by_link(["DMA_HEAP_IOCTL_ALLOC", "X_Y"], "/dev/dma_heap/system") == ["DMA_HEAP_IOCTL_ALLOC"]


def test_tables_are_big_and_per_arch():
    for mod in (_names_x86_64, _names_aarch64):
        n = sum(len(v) for v in mod.NAMES.values())
        assert n > 2200
        shared = sum(1 for v in mod.NAMES.values() if len(v) > 1)
        assert 30 < shared < 200
    # aarch64 numbers come from its own headers and compiler: KVM_GET_REGS has arm64's struct kvm_regs
    # (864 bytes) there and x86's (144 bytes) here; the dma-buf family is the same on both.
    assert decode_ioc(value_of("KVM_GET_REGS", "aarch64")).size == 864
    assert decode_ioc(value_of("KVM_GET_REGS", "x86-64")).size == 144
    for name in ("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", "DMA_HEAP_IOCTL_ALLOC", "SYNC_IOC_FILE_INFO",
                 "DRM_IOCTL_PRIME_HANDLE_TO_FD", "UDMABUF_CREATE_LIST"):
        assert value_of(name, "aarch64") == value_of(name, "x86-64") is not None
    assert sorted(names_for(0x40086203, "arm64")) == ["BINDER_SET_IDLE_TIMEOUT", "DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]


def test_table_against_the_compiler():
    exe = build_c("ioctl_names_sample.c")
    out = subprocess.run([str(exe)], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    pairs = [line.split() for line in out.splitlines()]
    assert len(pairs) == 21
    for name, value in pairs:
        assert name in names_for(int(value, 16)), name
        assert value_of(name) == int(value, 16), name


def test_generator_scan(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen_ioctl_names", str(REPO / "tools" / "gen_ioctl_names.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    h = tmp_path / "x.h"
    h.write_text("#define A_IOC 'x'\n#define FOO _IOW(A_IOC, 1, int)\n#define BAR \\\n  _IOWR(A_IOC, 2, \\\n"
                 "  struct bar)\n#define FN(x) _IO(A_IOC, x)\n/* #define C _IO(1,2) */\n#define D DRM_IOWR(0x40, int)\n"
                 "#define E 5\n#define FOO _IO(1,1)\n")
    assert gen.scan_header(h) == ["FOO", "BAR", "D"]
    assert {(v, n) for v, n, _w in gen.NEWER_THAN_HEADERS} == {
        (0x40103E05, "SYNC_IOC_SET_DEADLINE"), (0xC01864C1, "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD"),
        (0xC01864C2, "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE")}


def test_committed_modules_name_their_sources():
    for mod in (_names_x86_64, _names_aarch64):
        assert re.search(r"linux-libc-dev\S* 6\.1\.\S+, libdrm-dev 2\.4\.", mod.HEADERS)
        assert "GENERATED" in mod.__doc__


@pytest.mark.parametrize("arch", ["x86-64", "aarch64"])
def test_committed_tables_are_what_the_generator_makes(arch):
    """Rerun tools/gen_ioctl_names.py (about 10 s per arch) when this machine has the same header packages."""
    import importlib.util
    import shutil
    spec = importlib.util.spec_from_file_location("gen_ioctl_names", str(REPO / "tools" / "gen_ioctl_names.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    cfg = gen.ARCHES[arch]
    mod = _names_x86_64 if arch == "x86-64" else _names_aarch64
    installed = "%s %s, libdrm-dev %s" % (cfg["package"], gen._pkg_version(cfg["package"]), gen._pkg_version("libdrm-dev"))
    if shutil.which(cfg["cc"]) is None or installed != mod.HEADERS:
        pytest.skip("headers here (%s) differ from the committed table's (%s)" % (installed, mod.HEADERS))
    by_value, _by_name, _n = gen.generate(arch)
    assert {v: tuple(n) for v, n in by_value.items()} == mod.NAMES
