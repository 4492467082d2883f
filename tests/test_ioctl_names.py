"""_IOC decoding, request parsing and the generated name tables."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.ioctl import decode_ioc, names_for, narrow_by_link, parse_request, value_of
from gdb_rr_dmabuf.ioctl import names as names_mod
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
    # 0x5402 is TCSETS and OSS's SNDCTL_TMR_START: a terminal says which, a sequencer the other
    assert names_for(0x5402) == ["SNDCTL_TMR_START", "TCSETS"]
    assert narrow_by_link(names_for(0x5402), "/dev/pts/3") == ["TCSETS"]
    assert narrow_by_link(names_for(0x5402), "/dev/ttyS0") == ["TCSETS"]
    assert narrow_by_link(names_for(0x5402), "/dev/sequencer") == ["SNDCTL_TMR_START"]
    assert narrow_by_link(names_for(0x5402), "socket:[1234]") == ["SNDCTL_TMR_START", "TCSETS"]


def _data_pairs(arch):
    """(name, number) pairs of one arch, read from the committed data file (shared part + arch's part)."""
    return {(name, value) for value, name, _sid, _hdr in names_mod._entries(arch)}


def test_tables_are_big_and_per_arch():
    for arch in ("x86-64", "aarch64"):
        pairs = _data_pairs(arch)
        assert len(pairs) > 3800, (arch, len(pairs))
        by_value = {}
        for name, value in pairs:
            by_value.setdefault(value, set()).add(name)
        shared = sum(1 for v in by_value.values() if len(v) > 1)
        assert 50 < shared < 600, (arch, shared)
    # aarch64 numbers come from its own headers and compiler: KVM_GET_REGS has arm64's struct kvm_regs
    # (864 bytes) there and x86's (144 bytes) here; the dma-buf family is the same on both.
    assert decode_ioc(value_of("KVM_GET_REGS", "aarch64")).size == 864
    assert decode_ioc(value_of("KVM_GET_REGS", "x86-64")).size == 144
    for name in ("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", "DMA_HEAP_IOCTL_ALLOC", "SYNC_IOC_FILE_INFO",
                 "DRM_IOCTL_PRIME_HANDLE_TO_FD", "UDMABUF_CREATE_LIST", "TCGETS", "BC_TRANSACTION"):
        assert value_of(name, "aarch64") == value_of(name, "x86-64") is not None
    assert sorted(names_for(0x40086203, "arm64")) == ["BINDER_SET_IDLE_TIMEOUT", "DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]
    # arch-only parts exist and hold what differs: x86's KVM_GET_REGS is not an aarch64 number
    assert "KVM_GET_REGS" not in names_for(value_of("KVM_GET_REGS", "x86-64"), "aarch64")
    assert names_for(0x5401, "unknown-arch") == names_for(0x5401, "x86-64")


@pytest.mark.parametrize("value,name", [
    (0x5401, "TCGETS"), (0x541B, "FIONREAD"), (0x5421, "FIONBIO"), (0x5413, "TIOCGWINSZ"),
    (0x8912, "SIOCGIFCONF"), (0x5603, "VT_GETSTATE"), (0x5309, "CDROMEJECT"), (0x4B44, "KDGKBMODE"),
    (0x0301, "HDIO_GETGEO"), (0x2285, "SG_IO"), (0x4600, "FBIOGET_VSCREENINFO"), (0x4C00, "LOOP_SET_FD"),
    (0x5000, "SNDCTL_DSP_RESET"), (0x40406300, "BC_TRANSACTION"), (0x80407203, "BR_REPLY"),
])
def test_plain_numbers_oss_and_enums(value, name):
    assert name in names_for(value)
    assert name in names_for(value, "aarch64")


def test_newer_headers_and_both_sizes():
    # linux 6.16 grew struct drm_syncobj_handle (16 -> 24 bytes): both numbers are known; value_of keeps
    # Debian 12's (older) number, values_of gives both.
    assert names_for(0xC01864C1) == names_for(0xC01064C1) == ["DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD"]
    assert names_mod.values_of("DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD") == [0xC01064C1, 0xC01864C1]
    assert value_of("SYNC_IOC_SET_DEADLINE") == 0x40103E05  # 6.8, not in Debian 12's headers
    # names only headers newer than Debian 12's have (the issue's examples: ublk, xe, iommufd, pidfd)
    for name in ("UBLK_U_CMD_ADD_DEV", "DRM_IOCTL_XE_DEVICE_QUERY", "IOMMU_IOAS_ALLOC", "PIDFD_GET_INFO"):
        v = value_of(name)
        assert v is not None and name in names_for(v), name
    srcs = {n: (src, hdr) for n, src, hdr in names_mod.sources_for(value_of("IOMMU_IOAS_ALLOC"))}
    assert "sid" in srcs["IOMMU_IOAS_ALLOC"][0] and srcs["IOMMU_IOAS_ALLOC"][1] == "linux/iommufd.h"


def test_nvidia_escapes():
    # rr stubs 0xc020462a, NVIDIA's RM control escape with its 32-byte NVOS54_PARAMETERS
    # (rr src/record_syscall.cc); the number is _IOC(_IOC_READ|_IOC_WRITE, 'F', 0x2a, 32).
    assert "NV_ESC_RM_CONTROL" in names_for(0xC020462A)
    assert "NV_ESC_RM_CONTROL" in names_for(0xC020462A, "aarch64")
    for name in ("NV_ESC_RM_ALLOC", "NV_ESC_RM_FREE", "NV_ESC_REGISTER_FD", "NV_ESC_CHECK_VERSION_STR"):
        for v in names_mod.values_of(name):
            d = decode_ioc(v)
            assert (d.dir, d.type_char) == (3, "F"), name
    assert len(names_mod.values_of("NV_ESC_RM_ALLOC")) == 2  # NVOS21_PARAMETERS and NVOS64_PARAMETERS
    src = [s for n, s, _h in names_mod.sources_for(0xC020462A) if n == "NV_ESC_RM_CONTROL"][0]
    assert "NVIDIA open-gpu-kernel-modules" in src
    assert narrow_by_link(names_for(0xC020462A) + ["X_Y"], "/dev/nvidiactl") == ["NV_ESC_RM_CONTROL"]


def test_table_against_the_compiler():
    """Ground truth from gcc and this machine's (Debian 12) headers, for every kind of definition."""
    exe = build_c("ioctl_names_sample.c")
    out = subprocess.run([str(exe)], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    pairs = [line.split() for line in out.splitlines()]
    assert len(pairs) == 52
    for name, value in pairs:
        assert name in names_for(int(value, 16)), name
        assert value_of(name) == int(value, 16), name


def _gen():
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen_ioctl_names", str(REPO / "tools" / "gen_ioctl_names.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def test_generator_scan(tmp_path):
    gen = _gen()
    h = tmp_path / "x.h"
    h.write_text("#define A_IOC 'x'\n#define FOO _IOW(A_IOC, 1, int)\n#define BAR \\\n  _IOWR(A_IOC, 2, \\\n"
                 "  struct bar)\n#define FN(x) _IO(A_IOC, x)\n/* #define C _IO(1,2) */\n#define D DRM_IOWR(0x40, int)\n"
                 "#define E 5\n#define FOO _IO(1,1)\n#define G FN(3)\n#define OSS _SIOR('P', 1, int)\n"
                 "#define ALIAS FOO\n#define NOTALIAS E\n"
                 "enum x_cmds {\n\tX_ONE = _IOW('c', 0, int),\n\tX_TWO = _IO('c', 1),\n\tX_PLAIN = 3,\n};\n")
    assert gen.scan_header(h) == ["FOO", "BAR", "D", "G", "OSS", "X_ONE", "X_TWO", "ALIAS"]
    p = tmp_path / "ioctls.h"
    p.write_text("#define TCGETS\t0x5401\n#define NOT_A_REQUEST 0x1234\n#define FIOQSIZE 0x5460\n#define BIG 0x54011\n")
    assert gen.scan_header(p, "asm-generic/ioctls.h") == ["TCGETS", "FIOQSIZE"]
    assert gen.scan_header(p, "linux/other.h") == []


def test_generator_reads_strace_entries():
    gen = _gen()
    line = '{ "linux/x.h", "X_Y", _IOC_READ|_IOC_WRITE, 0x6202, 0x08 },'
    m = gen._STRACE_ENTRY.match(line)
    assert m and m.group(2) == "X_Y"
    assert gen._strace_int("(0x12 << 8) | 125") == 0x127D
    with pytest.raises(ValueError):
        gen._strace_int("__import__('os')")


def test_committed_data_names_its_sources():
    head = Path(names_mod.DATA).read_text().split("\n[all]\n")[0]
    assert "GENERATED by tools/gen_ioctl_names.py" in head
    assert re.search(r"^source new linux-libc-dev \S+ \(Debian sid\)", head, re.M)
    assert re.search(r"^source old .*linux-libc-dev 6\.1\.", head, re.M)
    assert re.search(r"^source strace strace commit \w+", head, re.M)
    assert re.search(r"^source nvidia NVIDIA open-gpu-kernel-modules", head, re.M)
    # one file for both arches, no per-arch Python modules any more
    assert not list((REPO / "gdb_rr_dmabuf" / "ioctl").glob("_names_*.py"))


def _strace_tables(src: Path, arch: str):
    """(name, number) of every entry of strace's tables for personality 0 of arch, read here without the
    generator: src/linux/64/ioctls_inc.h (what src/linux/<arch>/ioctls_inc0.h includes),
    src/linux/<arch>/ioctls_arch0.h and src/ioctls_zfs.h, the files strace's ioctlsort reads. Columns:
    header, name, _IOC direction, type << 8 | nr, size."""
    files = ["src/linux/64/ioctls_inc.h", "src/linux/%s/ioctls_arch0.h" % arch, "src/ioctls_zfs.h"]
    git = (src / "objects").is_dir() and (src / "HEAD").is_file()
    entry = re.compile(r'^\{ "[^"]+", "(\w+)", ([\w|]+), ([^,]+), ([^,]+) \},$')
    out = set()
    for rel in files:
        if git:
            text = subprocess.run(["git", "--git-dir", str(src), "show", "HEAD:" + rel], stdout=subprocess.PIPE,
                                  universal_newlines=True, check=True).stdout
        else:
            text = (src / rel).read_text()
        n = 0
        for line in text.splitlines():
            m = entry.match(line.strip())
            if not m:
                assert not line.startswith("{"), line
                continue
            name, d, tnr, size = m.groups()
            dirv = sum({"0": 0, "_IOC_NONE": 0, "_IOC_WRITE": 1, "_IOC_READ": 2}[x] for x in d.split("|"))
            tnr_v = int(tnr, 0) if "<<" not in tnr else eval(tnr, {"__builtins__": {}})  # (0x12 << 8) | 125
            out.add((name, ((dirv << 30) | (int(size, 0) << 16) | tnr_v) & 0xFFFFFFFF))
            n += 1
        assert n > 50, rel
    return out


@pytest.mark.parametrize("arch,strace_arch", [("x86-64", "x86_64"), ("aarch64", "aarch64")])
def test_every_strace_pair_is_named(arch, strace_arch):
    """Every (name, number) strace has for the arch is in our table. STRACE_SRC: a strace git dir or
    source tree (e.g. a `git clone https://github.com/strace/strace`)."""
    src = os.environ.get("STRACE_SRC")
    if not src:
        pytest.skip("set STRACE_SRC to a strace checkout (git dir or source tree) to check our names against its tables")
    theirs = _strace_tables(Path(src), strace_arch)
    assert len(theirs) > 3000
    missing = sorted((n, v) for n, v in theirs if n not in names_for(v, arch))
    covered = len(theirs) - len(missing)
    # Where our compiled sid headers and strace's tables have the same name, the numbers agree unless
    # the checkout is from another kernel release (both are from linux 7.2 for the committed data).
    theirs_by_name = {n: v for n, v in theirs}
    ours_new = {}
    for value, name, sid, _hdr in names_mod._entries(arch):
        if sid == "new":
            ours_new.setdefault(name, set()).add(value)
    differ = sorted(n for n, vs in ours_new.items() if n in theirs_by_name and theirs_by_name[n] not in vs)
    print("strace %s: %d of %d (name, number) pairs named (%.1f%%); %d names from both sid's headers and "
          "strace, %d with another number there%s" % (
              strace_arch, covered, len(theirs), 100.0 * covered / len(theirs),
              sum(1 for n in ours_new if n in theirs_by_name), len(differ), (": " + " ".join(differ[:10])) if differ else ""))
    assert not missing, "%d of %d strace pairs missing, e.g. %s" % (
        len(missing), len(theirs), ", ".join("%s=%#x" % p for p in missing[:20]))


def test_committed_data_is_what_the_generator_makes():
    """Recompile a few headers of every kind (symbolic, plain numbers, OSS, enums, DRM) with the
    generator and compare with the committed groups; needs the unpacked packages of
    `tools/gen_ioctl_names.py fetch` (skipped otherwise), a few seconds."""
    import shutil
    gen = _gen()
    head = Path(names_mod.DATA).read_text().split("\n[all]\n")[0]
    new, cross = gen.CACHE / "new", gen.CACHE / "cross"
    label = re.search(r"^source new (.*)$", head, re.M).group(1)
    if not (new / "PACKAGES").is_file() or not shutil.which("gcc"):
        pytest.skip("no unpacked header packages in %s (tools/gen_ioctl_names.py fetch)" % new)
    trees = [t for t in gen.make_trees(new, cross, ["x86-64"]) if t.key == "new"]
    if trees[0].label != label:
        pytest.skip("unpacked headers (%s) differ from the committed data's (%s)" % (trees[0].label, label))
    committed = {}
    for value, name, sid, hdr in names_mod._entries("x86-64"):
        committed.setdefault((sid, hdr), set()).add((name, value))
    import tempfile
    for inc in ("linux/dma-buf.h", "asm-generic/ioctls.h", "linux/soundcard.h", "linux/android/binder.h",
                "drm/xe_drm.h", "linux/sockios.h"):
        path = [base / inc[len(prefix) + 1:] for prefix, base in trees[0].scan_roots if inc.startswith(prefix + "/")][0]
        with tempfile.TemporaryDirectory() as d:
            vals, _bad = gen.compile_header(trees[0], inc, gen.scan_header(path, inc), Path(d))
        assert vals, inc
        ours = {(n, v) for n, v in vals.items()}
        assert committed.get(("new", inc), set()) <= ours, inc
        # what the generator makes now is in the data (credited to this group or an earlier one)
        assert all(n in names_for(v) for n, v in ours), inc


@pytest.mark.parametrize("arch", ["x86-64", "aarch64"])
def test_text_search_lookups_agree_with_a_full_parse(arch):
    """names_for/values_of search the file's text; a full parse of the same file gives the same answers."""
    by_value, by_name = {}, {}
    for value, name, _sid, _hdr in names_mod._entries(arch):
        by_value.setdefault(value, set()).add(name)
        by_name.setdefault(name, set()).add(value)
    for value, names in by_value.items():
        assert names_for(value, arch) == sorted(names), hex(value)
    for name, values in by_name.items():
        assert sorted(names_mod.values_of(name, arch)) == sorted(values), name
    for bad in ("", "drm.h", "x86-64", "@", "linux/dma-buf.h", "0xc0086202", "A B", "DMA_BUF_IOCTL_SYNC\n"):
        assert value_of(bad, arch) is None, bad


def test_aarch64_table_against_the_cross_compiler(tmp_path):
    """The sample's requests for aarch64, from the aarch64 cross compiler (unpacked by
    `tools/gen_ioctl_names.py fetch`; skipped without it) and Debian 12's arm64 headers: the numbers
    are read from the assembly gcc writes (nothing is linked or run)."""
    cross = REPO / ".cache" / "ioctl-names" / "cross"
    gccs = sorted((cross / "usr" / "bin").glob("aarch64-linux-gnu-gcc-[0-9]*"))
    gccs = [g for g in gccs if re.search(r"gcc-\d+$", g.name)]
    if not gccs:
        pytest.skip("no aarch64 cross compiler in %s (tools/gen_ioctl_names.py fetch)" % cross)
    ver = gccs[0].name.rsplit("-", 1)[1]
    sample = (REPO / "tests" / "fixtures" / "c" / "ioctl_names_sample.c").read_text()
    names = re.findall(r"^\s*P\((\w+)\);", sample, re.M)
    includes = "".join(l + "\n" for l in sample.splitlines() if l.startswith("#include"))
    (tmp_path / "libdrm").symlink_to("/usr/include/libdrm")
    c = tmp_path / "a.c"
    c.write_text(includes + "const unsigned int v_[] = {\n" + "".join("(unsigned)(%s),\n" % n for n in names) + "};\n")
    s = tmp_path / "a.s"
    subprocess.run([str(gccs[0]), "-nostdinc", "-isystem", str(cross / "usr/lib/gcc-cross/aarch64-linux-gnu" / ver / "include"),
                    "-isystem", str(cross / "usr/aarch64-linux-gnu/include"), "-isystem", str(tmp_path),
                    "-S", "-O0", "-w", "-o", str(s), str(c)], check=True)
    vals = [int(x, 0) & 0xFFFFFFFF for x in re.findall(r"^\s*\.word\s+(-?\w+)", s.read_text(), re.M)]
    assert len(vals) == len(names) == 52
    for name, value in zip(names, vals):
        assert name in names_for(value, "aarch64"), (name, hex(value))
        assert value_of(name, "aarch64") == value, name
    assert dict(zip(names, vals))["KVM_GET_REGS"] != value_of("KVM_GET_REGS", "x86-64")


def test_size_argument_macros_match_the_headers(tmp_path):
    """Requests whose size is a macro argument (HIDIOCGFEATURE(len), EVIOCGBIT(ev, len) ...): the list in
    names.py is every function-like _IOC define of those headers, and gcc's numbers get those names."""
    import re
    import subprocess
    from gdb_rr_dmabuf.ioctl import names as N
    found = set()
    for hdr in sorted({h for *_x, h in N._SIZED}):
        text = open("/usr/include/" + hdr).read()
        found |= set(re.findall(r"^#define\s+(\w+)\((?:ev,\s*)?len\)\s+_IOC\(", text, re.M))
    assert found == {n for n, *_x in N._SIZED}
    calls = [("HIDIOCGFEATURE(64)", "HIDIOCGFEATURE(64)"), ("HIDIOCSFEATURE(9)", "HIDIOCSFEATURE(9)"),
             ("HIDIOCGRAWNAME(256)", "HIDIOCGRAWNAME(256)"), ("EVIOCGNAME(255)", "EVIOCGNAME(255)"),
             ("EVIOCGBIT(0, 4)", "EVIOCGBIT(0, 4)"), ("EVIOCGBIT(3, 64)", "EVIOCGBIT(3, 64)"),
             ("EVIOCGKEY(96)", "EVIOCGKEY(96)"), ("JSIOCGNAME(128)", "JSIOCGNAME(128)")]
    src = tmp_path / "sized.c"
    src.write_text("#include <stdio.h>\n#include <linux/hidraw.h>\n#include <linux/input.h>\n"
                   "#include <linux/joystick.h>\nint main(void){\n" +
                   "".join('printf("%%lu\\n", (unsigned long)(%s));\n' % c for c, _n in calls) + "return 0;}\n")
    exe = tmp_path / "sized"
    subprocess.run(["gcc", "-o", str(exe), str(src)], check=True)
    values = [int(x) for x in subprocess.run([str(exe)], stdout=subprocess.PIPE, check=True,
                                             universal_newlines=True).stdout.split()]
    for (c, name), v in zip(calls, values):
        assert name in N.names_for(v), (c, hex(v), N.names_for(v))
    assert N.names_for(0xC0404807) == ["HIDIOCGFEATURE(64)"]  # rr issue #3804's line
