"""GoBinary: ELF facts compared with binutils (readelf, nm) and the Go toolchain (go tool buildid),
on the inlines fixture built by every Go release in ALL_GO in four link modes; one-line errors."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.go_runtime.binary import GoBinary, load_bias
from tests.support.toolchains import DEFAULT_GO, build_c, build_go, go_root

HAVE_BINUTILS = shutil.which("readelf") is not None and shutil.which("nm") is not None


def run(*cmd: str, env=None) -> str:
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=True, env=env).stdout


def readelf_facts(exe: Path) -> dict:
    hdr = run("readelf", "-hW", str(exe))
    notes = run("readelf", "-nW", str(exe))
    segs = run("readelf", "-lW", str(exe))
    facts = {
        "entry": int(re.search(r"Entry point address:\s+0x([0-9a-f]+)", hdr).group(1), 16),
        "pie": "DYN" in re.search(r"Type:\s+(\S+)", hdr).group(1),
        "machine": re.search(r"Machine:\s+(.+)", hdr).group(1).strip(),
    }
    m = re.search(r"Build ID: ([0-9a-f]+)", notes)
    facts["build_id"] = m.group(1) if m else None
    m = re.search(r"^\s+TLS\s+0x[0-9a-f]+ 0x([0-9a-f]+) 0x[0-9a-f]+ 0x[0-9a-f]+ 0x([0-9a-f]+) \S+\s+0x([0-9a-f]+)",
                  segs, re.M)
    facts["tls"] = tuple(int(x, 16) for x in m.groups()) if m else None
    return facts


def nm_symbols(exe: Path, dynamic: bool = False) -> Dict[str, int]:
    out = subprocess.run(["nm"] + (["-D"] if dynamic else []) + [str(exe)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True).stdout
    syms = {}
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]+) (\S) (.+)$", line)
        if m and m.group(2) not in "Uwv":
            syms.setdefault(m.group(3), int(m.group(1), 16))
    return syms


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_BINUTILS, reason="needs readelf and nm")
def test_elf_facts_match_binutils(inlines_builds):
    version, exes = inlines_builds
    for variant, exe in exes.items():
        b = GoBinary.open(str(exe))
        r = readelf_facts(exe)
        assert b.arch == "x86-64" and "X86-64" in r["machine"]
        assert b.entry == r["entry"], variant
        assert b.is_pie == r["pie"] == ("pie" in variant), variant
        assert b.build_id == r["build_id"], variant
        assert b.tls == r["tls"], variant
        assert b.is_go
        env = dict(os.environ, GOROOT=str(go_root(version)))
        tool = go_root(version) / "pkg" / "tool" / "linux_amd64" / "buildid"
        cmd = [str(tool)] if tool.exists() else [str(go_root(version) / "bin" / "go"), "tool", "buildid"]
        assert b.go_build_id == run(*(cmd + [str(exe)]), env=env).strip(), variant


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_BINUTILS, reason="needs readelf and nm")
def test_symbols_match_nm(inlines_builds):
    version, exes = inlines_builds
    for variant, exe in exes.items():
        b = GoBinary.open(str(exe))
        syms = nm_symbols(exe)
        if "stripped" in variant:
            assert not syms and not b.has_symbols
            assert b.symbol("main.main") is None and b.symbol("runtime.text") is None
        else:
            for name in ("main.main", "runtime.text", "runtime.firstmoduledata", "runtime.goexit.abi0",
                         "example.com/fix.inlines/dot%2ev2.Twice", "runtime.buildVersion"):
                assert b.symbol(name) == syms.get(name), (variant, name)
            assert b.symbol("main.main") is not None
            # The pclntab agrees with the symbol table about where functions start.
            assert b.pclntab.lookup("main.main").entry == syms["main.main"]
        assert b.symbol("no.such.symbol") is None
        if "external" in variant:
            dyn = nm_symbols(exe, dynamic=True)
            if "crosscall2" in dyn:  # exported by cgo; in .dynsym even when stripped
                assert b.symbol("crosscall2") == dyn["crosscall2"], variant


@pytest.mark.slow
def test_static_data_and_versions(inlines_builds):
    version, exes = inlines_builds
    for variant, exe in exes.items():
        b = GoBinary.open(str(exe))
        assert b.go_version == "go" + version
        if "stripped" not in variant:
            assert b.runtime_build_version() == "go" + version  # through runtime.buildVersion's pointer
        bi = b.section(".go.buildinfo")
        assert bi is not None
        assert b.read_static(bi.addr, 14) == b"\xff Go buildinf:"
        with open(str(exe), "rb") as fh:
            fh.seek(bi.offset)
            assert b.read_static(bi.addr, bi.size) == fh.read(bi.size)
        # moduledata.text through the pointer reader (RELATIVE relocations for PIE).
        tab = b.pclntab
        if b.symbol("runtime.firstmoduledata"):
            assert b.read_ptr_static(b.symbol("runtime.firstmoduledata") + 22 * 8) == tab.text_start
            assert b.read_ptr_static(b.symbol("runtime.firstmoduledata")) == tab.vaddr
        top = max(seg.vaddr + seg.memsz for seg in b.segments)
        with pytest.raises(UserError) as ei:
            b.read_static(top + 0x1000, 8)  # above every segment
        assert "not file-backed" in str(ei.value)
        bss = b.section(".bss")
        if bss is not None:
            with pytest.raises(UserError):
                b.read_static(bss.addr + bss.size - 8, 8)  # not file-backed


@pytest.mark.slow
def test_load_bias_matches_running_program(inlines_builds):
    """The fixture prints a function's run-time entry; ld.so prints the same process' auxv
    (LD_SHOW_AUXV=1, dynamically linked builds). load_bias(auxv) must map the link-time entry of
    that function onto the run-time one; static builds run at their link-time addresses."""
    version, exes = inlines_builds
    for variant, exe in exes.items():
        b = GoBinary.open(str(exe))
        out = subprocess.run([str(exe)], stdout=subprocess.PIPE, universal_newlines=True, check=True,
                             env=dict(os.environ, LD_SHOW_AUXV="1")).stdout
        name, entry = re.search(r"^ENTRY (\S+) 0x([0-9a-f]+)$", out, re.M).groups()
        auxv = {9: int(m, 16) for m in re.findall(r"^AT_ENTRY:\s+0x([0-9a-f]+)$", out, re.M)}
        bias = int(entry, 16) - b.pclntab.lookup(name).entry
        if b.is_pie:
            assert auxv, variant  # PIE always has an interpreter here
            assert bias > 0 and bias % 4096 == 0
        assert load_bias(b, auxv) == bias, variant


def test_cache_and_reopen(tmp_path):
    exe = build_go("inlines", DEFAULT_GO)
    a = GoBinary.open(str(exe))
    assert GoBinary.open(str(exe)) is a
    link = tmp_path / "link"
    link.symlink_to(exe)
    assert GoBinary.open(str(link)) is a  # cached by real path
    copy = tmp_path / "copy"
    shutil.copyfile(str(exe), str(copy))
    c = GoBinary.open(str(copy))
    assert c is not a
    os.utime(str(copy), ns=(0, 10**9))
    assert GoBinary.open(str(copy)) is not c  # mtime changed: a fresh parse


def _one_line(e: BaseException) -> str:
    s = str(e)
    assert s and "\n" not in s and "Traceback" not in s
    return s


def test_errors_are_one_line(tmp_path):
    with pytest.raises(UserError) as ei:
        GoBinary.open(str(tmp_path / "missing"))
    assert "cannot open" in _one_line(ei.value)
    text = tmp_path / "script.sh"
    text.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(UserError) as ei:
        GoBinary.open(str(text))
    assert "not an ELF file" in _one_line(ei.value)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(UserError) as ei:
        GoBinary.open(str(empty))
    assert "not an ELF file" in _one_line(ei.value)
    with pytest.raises(UserError) as ei:
        GoBinary.open(str(tmp_path))  # a directory
    _one_line(ei.value)
    bad = tmp_path / "badelf"
    bad.write_bytes(b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 9 + b"\xff" * 100)
    with pytest.raises(UserError) as ei:
        GoBinary.open(str(bad))
    assert "ELF" in _one_line(ei.value)
    with pytest.raises(UserError):
        GoBinary.open("")


def test_damaged_elf_header_says_what(tmp_path):
    """The ELF header is read by elf.py: a bad EI_CLASS / EI_DATA or a cut-off header is one line naming it."""
    good = build_go("inlines", DEFAULT_GO).read_bytes()
    for name, data, said in (("class", good[:4] + b"\x03" + good[5:], "EI_CLASS 3: neither 32- nor 64-bit"),
                             ("data", good[:5] + b"\x00" + good[6:], "EI_DATA 0: neither little- nor big-endian"),
                             ("short", good[:40], "the ELF header is cut off: 40 bytes")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(UserError) as ei:
            GoBinary(str(path))
        assert _one_line(ei.value) == "%s is not a readable ELF file (%s): point at an intact executable" % (
            path, said), name


def test_go_binary_needs_no_pyelftools():
    """Opening an executable and reading its build info and pclntab import nothing of pyelftools (which is
    blocked here), as the start of go-callers does not."""
    exe = build_go("inlines", DEFAULT_GO)
    probe = ("import sys; sys.modules['elftools'] = None\n"
             "from gdb_rr_dmabuf.go_runtime.binary import GoBinary\n"
             "b = GoBinary(%r); print(b.arch, b.go_version, b.pclntab.nfunc > 0, b.symbol('runtime.text') > 0)\n"
             "print(sorted(m for m in sys.modules if m.startswith('elftools.')))" % str(exe))
    out = subprocess.run([sys.executable, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, cwd=str(Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["x86-64 go%s True True" % DEFAULT_GO, "[]"], out.stdout


def test_not_go_programs():
    for path in ("/bin/true", str(build_c_fixture())):
        b = GoBinary.open(path)
        assert not b.is_go
        assert b.buildinfo is None and b.go_version is None
        assert b.arch == "x86-64"
        with pytest.raises(UserError) as ei:
            b.pclntab
        assert "has no Go pclntab" in _one_line(ei.value)


def build_c_fixture() -> Path:
    srcs = sorted((Path(__file__).parent / "fixtures" / "c").glob("*.c"))
    if not srcs or shutil.which("gcc") is None:
        return Path("/bin/true")
    try:
        return build_c(srcs[0].name)
    except RuntimeError:
        return Path("/bin/true")


def test_c_program_facts():
    """A gcc-built PIE: build id and entry as readelf says, symbols from .symtab."""
    exe = build_c_fixture()
    if str(exe) == "/bin/true" or not HAVE_BINUTILS:
        pytest.skip("no C fixture or binutils")
    b = GoBinary.open(str(exe))
    r = readelf_facts(exe)
    assert (b.entry, b.is_pie, b.build_id, b.tls) == (r["entry"], r["pie"], r["build_id"], r["tls"])
    syms = nm_symbols(exe)
    assert b.symbol("main") == syms["main"]
