"""pclntab decoding checked against the Go toolchain's own readers and the runtime's own view.

Ground truth, per Go release in ALL_GO and per link mode (default, -s -w, PIE, external cgo, and an
unstripped/stripped external PIE pair):
- `go tool addr2line` of the same release (debug/gosym over the same table) for 200 pcs spread over
  the text plus the fixture's functions;
- DWARF .debug_line rows and .debug_frame CFA offsets of the fixture's packages;
- the fixture program itself, which prints runtime.Stack and runtime.CallersFrames at a point under
  three inlined calls (tests/fixtures/go/inlines);
- symbols (runtime.firstmoduledata, runtime.text, go:func.*) for the paths that work without them.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.versions import GoVersion
from gdb_rr_dmabuf.go_runtime import pclntab as P
from gdb_rr_dmabuf.go_runtime import layouts
from gdb_rr_dmabuf.go_runtime.binary import GoBinary, load_bias
from gdb_rr_dmabuf.go_runtime.pclntab import (PcLnTab, find_moduledata, load_pclntab, locate_pclntab,
                                              split_func_name)
from tests.support.pcs import FIX, fixture_funcs, normalized, ours, spread_pcs
from tests.support.toolchains import ALL_GO, BUILD_VARIANTS, CACHE, DEFAULT_GO, build_go, build_variants, go_root

# Stripped variant -> the unstripped build with the same code layout (ground truth by name+offset).
TWINS = {"pie-external-stripped": "pie-external"}


def _build(version: str) -> Dict[str, Path]:
    return build_variants("inlines", version, list(BUILD_VARIANTS))


@pytest.fixture(scope="module", params=ALL_GO)
def gobuild(request):
    version = request.param
    return version, _build(version)


def addr2line(version: str, exe: Path, pcs: List[int]) -> List[Tuple[str, str, int]]:
    """`go tool addr2line` of that release (prebuilt up to Go 1.24; built once into the cache after)."""
    root = go_root(version)
    tool = root / "pkg" / "tool" / "linux_amd64" / "addr2line"
    env = dict(os.environ, GOROOT=str(root), GOTOOLCHAIN="local", GOPROXY="off",
               GOCACHE=str(CACHE / "gocache" / version))
    cmd = [str(tool)] if tool.exists() else [str(root / "bin" / "go"), "tool", "addr2line"]
    proc = subprocess.run(cmd + [str(exe)], input="".join("0x%x\n" % pc for pc in pcs), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True)
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 * len(pcs), proc.stderr
    out = []
    for i in range(len(pcs)):
        name = lines[2 * i]
        file, _, line = lines[2 * i + 1].rpartition(":")
        out.append((name, file, int(line)))
    return out


# ------------------------------------------------------------------------------- addr2line
@pytest.mark.slow
def test_matches_go_tool_addr2line(gobuild):
    version, exes = gobuild
    for variant, exe in exes.items():
        if variant in TWINS:
            continue  # no section, no symbols: addr2line cannot read it (checked via its twin below)
        tab = GoBinary.open(str(exe)).pclntab
        funcs = fixture_funcs(tab)
        assert len(funcs) >= 6, [f.name for f in funcs]
        pcs = spread_pcs(tab)
        for f in funcs:
            pcs += [f.entry, (f.entry + f.end) // 2, f.end - 1]
        want = addr2line(version, exe, pcs)
        mismatches = []
        for pc, w in zip(pcs, want):
            got, exp = ours(tab, pc), normalized(w)
            if got != exp:
                mismatches.append((variant, hex(pc), got, exp))
        assert not mismatches, mismatches[:5]


@pytest.mark.slow
def test_stripped_matches_unstripped_twin(gobuild):
    """The stripped external PIE has no symbols (and before Go 1.26 no .gopclntab section either):
    the table is found by a scan, text start and go:func.* come from moduledata through relocations.
    Same code as its unstripped twin, so every function must decode to the same name, size and
    file:line at each offset. The scan is forced even where the section exists."""
    version, exes = gobuild
    for variant, twin in TWINS.items():
        if variant not in exes:
            continue
        bs, bt = GoBinary.open(str(exes[variant])), GoBinary.open(str(exes[twin]))
        assert not bs.has_symbols and bs.symbol("runtime.text") is None
        t = bt.pclntab
        for s in (bs.pclntab, load_pclntab(bs, use_sections=False)):
            assert (s.nfunc, s.version) == (t.nfunc, t.version)
            assert s.text_start == bt.symbol("runtime.text")
            # go:func.* itself may move (rodata holds the -ldflags text of the build info); the inline
            # trees read through it are compared below and against the running program elsewhere.
            assert s.gofunc is not None and bs.section_at(s.gofunc) is not None
            for i in range(0, t.nfunc, max(1, t.nfunc // 300)):
                ft, fs = t.func_at_index(i), s.func_at_index(i)
                assert (fs.name, fs.end - fs.entry, fs.func_id) == (ft.name, ft.end - ft.entry, ft.func_id)
                for off in range(0, ft.end - ft.entry, max(1, (ft.end - ft.entry) // 5)):
                    assert s.file_line(fs, fs.entry + off) == t.file_line(ft, ft.entry + off), (ft.name, off)
                    assert s.sp_delta(fs, fs.entry + off) == t.sp_delta(ft, ft.entry + off), (ft.name, off)
            outer_s, outer_t = s.lookup(FIX + "/inl.Outer"), t.lookup(FIX + "/inl.Outer")
            fr_s = s.frames_at(outer_s.entry + 0x1d)
            fr_t = t.frames_at(outer_t.entry + 0x1d)
            assert [(f.function, f.file, f.line) for f in fr_s] == [(f.function, f.file, f.line) for f in fr_t]
            assert len(fr_s) >= 2


@pytest.mark.slow
def test_fallbacks_agree_with_symbols(gobuild):
    """Scan for the header, moduledata by pointer search, gofunc by layout: same as the symbols say."""
    version, exes = gobuild
    for variant in ("default", "pie", "external", "pie-external"):
        if variant not in exes:
            continue
        b = GoBinary.open(str(exes[variant]))
        tab = b.pclntab
        assert locate_pclntab(b, use_sections=False, use_symbols=False)[0] == tab.vaddr, variant
        md = find_moduledata(b, tab.vaddr, tab.funcnametab_addr, use_symbols=False)
        assert md is not None and md.addr == b.symbol("runtime.firstmoduledata"), variant
        assert md.text == b.symbol("runtime.text") == tab.text_start, variant
        assert md.minpc == tab.entry_of_index(0)
        gofunc = b.symbol("go:func.*")
        assert md.gofunc(tab.magic, version) == gofunc, variant
        assert md.gofunc(tab.magic, None) == gofunc, variant  # layout guessed without the version


# ------------------------------------------------------------------------------- DWARF
def _dwarf_rows(exe: Path):
    from elftools.elf.elffile import ELFFile
    with open(str(exe), "rb") as fh:
        dw = ELFFile(fh).get_dwarf_info()
        rows = []
        for cu in dw.iter_CUs():
            name = cu.get_top_DIE().attributes["DW_AT_name"].value.decode()
            if not (name.startswith(FIX) or name == "main"):
                continue
            lp = dw.line_program_for_CU(cu)
            v5 = lp.header["version"] >= 5
            files, dirs = lp["file_entry"], lp["include_directory"]
            for e in lp.get_entries():
                st = e.state
                if st is None or st.end_sequence:
                    continue
                fe = files[st.file] if v5 else files[st.file - 1]
                fname = fe.name.decode()
                if not fname.startswith("/"):
                    d = dirs[fe.dir_index] if v5 else (dirs[fe.dir_index - 1] if fe.dir_index else b"")
                    fname = (d.decode() + "/" + fname) if d and d != b"." else fname
                rows.append((st.address, fname, st.line))
        cfa = []
        for fde in (dw.CFI_entries() if dw.has_CFI() else []):
            hdr = getattr(fde, "header", None)
            if hdr is None or "initial_location" not in hdr:
                continue
            cfa.append((hdr["initial_location"], fde))
        return rows, cfa


@pytest.mark.slow
def test_matches_dwarf_lines_and_cfa(gobuild):
    version, exes = gobuild
    for variant in ("default", "pie", "external"):
        if variant not in exes:
            continue
        exe = exes[variant]
        tab = GoBinary.open(str(exe)).pclntab
        rows, fdes = _dwarf_rows(exe)
        assert len(rows) > 50, variant
        bad = [(hex(a), ours(tab, a)[1:], (f, ln)) for a, f, ln in rows if ours(tab, a)[1:] != (f, ln)]
        assert not bad, (variant, bad[:5])
        # CFA = SP + frame size + return address slot: the pcsp table must say the same as .debug_frame.
        checked = 0
        for lo, fde in fdes:
            f = tab.func_for_pc(lo)
            if f is None or not (f.name.startswith(FIX) or f.name.startswith("main.")):
                continue
            for row in fde.get_decoded().table:
                assert row["cfa"].offset == tab.sp_delta(f, row["pc"]) + 8, (variant, f.name, hex(row["pc"]))
                checked += 1
        assert checked >= 10, variant


# ------------------------------------------------------------------------------- inlining
def run_fixture(exe: Path) -> dict:
    out = subprocess.run([str(exe)], stdout=subprocess.PIPE, universal_newlines=True, timeout=60,
                         check=True).stdout
    m = re.search(r"^ENTRY (\S+) 0x([0-9a-f]+)$", out, re.M)
    pcs = [int(x, 16) for x in re.findall(r"^PC 0x([0-9a-f]+)$", out, re.M)]
    frames = [(fn, file, int(line)) for fn, file, line in re.findall(r"^FRAME (\S+) (.+):(\d+)$", out, re.M)]
    stack = out.split("STACK\n", 1)[1].split("END STACK", 1)[0].splitlines()[1:]
    groups: List[Tuple[List[Tuple[str, str, int]], Optional[str], Optional[int]]] = []
    pending: List[Tuple[str, str, int]] = []
    for i in range(0, len(stack) - 1, 2):
        fn = stack[i][:stack[i].rindex("(")]
        loc = re.match(r"\t(.+):(\d+)(?: \+0x([0-9a-f]+))?$", stack[i + 1])
        pending.append((fn, loc.group(1), int(loc.group(2))))
        if loc.group(3):  # a physical frame: +offset of its return address from the entry
            groups.append((pending, fn, int(loc.group(3), 16)))
            pending = []
    return {"entry": (m.group(1), int(m.group(2), 16)), "pcs": pcs, "frames": frames, "groups": groups}


@pytest.mark.slow
def test_inlined_frames_match_runtime(gobuild):
    version, exes = gobuild
    for variant, exe in exes.items():
        b = GoBinary.open(str(exe))
        tab = b.pclntab
        got = run_fixture(exe)
        # runtime.Stack: each physical frame (name, +off) expands to the inlined frames printed above it.
        phys = [g[1] for g in got["groups"]]
        assert phys[:2] == [FIX + "/inl.Leaf", FIX + "/inl.Outer"] and phys[-1] == "main.main", phys
        inlined_seen = 0
        for expected, phys, off in got["groups"]:
            f = tab.lookup(phys)
            assert f is not None, (variant, phys)
            frames = tab.frames_at(f.entry + off, is_return_address=True)
            assert [(fr.function, fr.file, fr.line) for fr in frames] == expected, (variant, phys)
            assert [fr.inlined for fr in frames] == [True] * (len(expected) - 1) + [False]
            assert all(fr.entry == f.entry and fr.pc == f.entry + off for fr in frames)
            # At a call site the frame is fully set up: pcsp there is the function's frame size.
            assert tab.sp_delta(f, f.entry + off - 1) == tab.max_sp_delta(f) > 0, (variant, phys)
            inlined_seen += len(expected) - 1
        assert inlined_seen >= 3, variant  # small, Mid, (*T).Method inside Outer
        # runtime.CallersFrames: one logical frame per pc (Go adds 1 to inlined call pcs), at pc-1.
        name, run_entry = got["entry"]
        bias = run_entry - tab.lookup(name).entry
        if not b.is_pie:
            assert bias == 0
        else:
            assert bias % 4096 == 0
        assert len(got["pcs"]) == len(got["frames"])
        for pc, want in zip(got["pcs"], got["frames"]):
            fr = tab.frames_at(pc - bias, is_return_address=True)[0]
            assert (fr.function, fr.file, fr.line) == want, (variant, hex(pc))


@pytest.mark.slow
def test_funcids(gobuild):
    """Normalized FuncIDs: each runtime function named in cmd/internal/objabi's table carries its ID,
    whether the release's table comes from the Go version or is calibrated from the binary."""
    version, exes = gobuild
    b = GoBinary.open(str(exes["external" if "external" in exes else "default"]))
    tab = b.pclntab
    blind = PcLnTab(b._map, tab._o, tab._size, vaddr=tab.vaddr, text_start=tab.text_start, reader=b,
                    gofunc=tab.gofunc, go_version=None)
    found = 0
    for name, fid in P.FUNCID_BY_NAME.items():
        f = tab.lookup(name)
        if f is None:
            continue
        found += 1
        assert f.func_id == fid, (name, f.raw_func_id)
        assert blind.lookup(name).func_id == fid, name
    assert found >= 15
    for name in ("runtime.goexit", "runtime.mstart", "runtime.rt0_go", "runtime.morestack",
                 "runtime.systemstack", "runtime.asmcgocall", "runtime.sigpanic", "runtime.mcall"):
        assert tab.lookup(name) is not None, name
    assert tab.lookup("runtime.goexit").func_id == P.FUNCID_GOEXIT
    assert tab.lookup("runtime.goexit").is_top_frame
    assert tab.lookup("runtime.mstart").is_top_frame
    assert tab.lookup("runtime.cgocallback").func_id == P.FUNCID_CGOCALLBACK
    assert tab.lookup(FIX + "/inl.Leaf").func_id == P.FUNCID_NORMAL
    # Method value wrappers are FuncIDWrapper in every release.
    wrappers = [n for n in tab.names() if n.endswith("-fm")]
    assert wrappers and all(tab.lookup(n).func_id == P.FUNCID_WRAPPER for n in wrappers[:20])


@pytest.mark.slow
def test_each_release_writes_the_format_layouts_gives_it(gobuild):
    """The pclntab every toolchain writes (each build variant) has the magic of the format layouts.py assigns
    to its release, and the reader took that format's record layouts."""
    version, exes = gobuild
    fmt = layouts.pclntab_format_of(version)
    for variant, exe in exes.items():
        tab = GoBinary.open(str(exe)).pclntab
        assert (tab.magic, tab.version, tab.format) == (fmt.magic, fmt.go, fmt), (version, variant)


@pytest.mark.slow
def test_sp_delta_and_entry_basics(gobuild):
    version, exes = gobuild
    tab = GoBinary.open(str(exes["default"])).pclntab
    for f in fixture_funcs(tab):
        assert tab.sp_delta(f, f.entry) == 0, f.name  # nothing pushed yet at the entry
        assert tab.func_for_pc(f.entry).name == f.name
        assert tab.func_for_pc(f.end - 1).entry == f.entry
    leaf = tab.lookup(FIX + "/inl.Leaf")
    assert leaf.start_line is not None and leaf.start_line > 0
    assert tab.max_sp_delta(leaf) > 0
    assert tab.func_for_pc(tab.text_start - 1) is None
    assert tab.func_for_pc(tab.text_end) is None
    assert tab.frames_at(tab.text_end + 1) == []


# ------------------------------------------------------------------------------- names
@pytest.mark.parametrize("name,want", [
    ("gioui.org/app.(*window).NewContext", ("gioui.org/app", "(*window).NewContext")),
    ("main.main", ("main", "main")),
    ("main.main.func1", ("main", "main.func1")),
    ("runtime.(*mheap).alloc", ("runtime", "(*mheap).alloc")),
    ("example.com/fix.inlines/inl.Map[go.shape.int,go.shape.string]",
     ("example.com/fix.inlines/inl", "Map[go.shape.int,go.shape.string]")),
    ("example.com/m/p.(*T[go.shape.*uint8]).M.func2", ("example.com/m/p", "(*T[go.shape.*uint8]).M.func2")),
    ("example.com/p.F[example.com/q.T].func1", ("example.com/p", "F[example.com/q.T].func1")),
    ("gopkg.in/yaml%2ev3.(*parser).parse", ("gopkg.in/yaml.v3", "(*parser).parse")),
    ("type:.eq.main.T", ("", "type:.eq.main.T")),
    ("type:.eq.[2]interface {}", ("", "type:.eq.[2]interface {}")),
    ("type..eq.main.T", ("", "type..eq.main.T")),
    ("go:buildid", ("", "go:buildid")),
    ("go.buildid", ("", "go.buildid")),
    ("_cgo_topofstack", ("", "_cgo_topofstack")),
    ("", ("", "")),
])
def test_split_func_name(name, want):
    assert split_func_name(name) == want


def test_split_real_names():
    tab = GoBinary.open(str(build_go("inlines", DEFAULT_GO))).pclntab
    names = fixture_funcs(tab)
    by = {f.name: split_func_name(f.name) for f in names}
    assert by[FIX + "/dot%2ev2.Twice"] == (FIX + "/dot.v2", "Twice")
    outer = tab.lookup(FIX + "/inl.Outer")
    inlined = {fr.function: split_func_name(fr.function) for fr in tab.frames_at(outer.entry + 0x1d)}
    assert inlined[FIX + "/inl.(*T).Method"] == (FIX + "/inl", "(*T).Method")
    generic = [n for n in by if "/inl.Map[" in n]
    assert generic and all(by[n][0] == FIX + "/inl" for n in generic)
    assert by["main.main.func1"] == ("main", "main.func1")
    assert all(pkg for pkg, _ in by.values())


def test_go_minor_and_tables():
    # pclntab.go_minor is gone: the release is read by the one parser, versions.GoVersion (tests/test_versions.py)
    assert GoVersion.parse("go1.23.4").minor == 23
    assert GoVersion.parse("go1.21rc2").minor == 21
    assert GoVersion.parse("devel go1.27-abcdef Tue").minor == 27
    assert GoVersion.parse("weird") is None and P.funcid_table("weird") is None
    # Values as in each release's internal/abi/symtab.go (read from the toolchains' sources).
    for version in ALL_GO:
        src = (go_root(version) / "src" / "internal" / "abi" / "symtab.go").read_text()
        block = src[src.index("FuncIDNormal FuncID = iota"):]
        block = block[:block.index(")")]
        names = re.findall(r"^\s*FuncID(?:_(\w+)|(Wrapper)|(Normal))", block, re.M)
        names = [a or ("wrapper" if b else "normal") for a, b, c in names]
        assert P.funcid_table(version) == names, version


# ------------------------------------------------------------------------------- errors
def _copy(src: Path, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copyfile(str(src), str(dst))
    return dst


def _patch(path: Path, offset: int, data: bytes) -> None:
    with open(str(path), "r+b") as f:
        f.seek(offset)
        f.write(data)


def _one_line(e: UserError) -> str:
    s = str(e)
    assert "\n" not in s and "Traceback" not in s
    return s


def test_not_go_elf():
    b = GoBinary.open("/bin/true")
    assert not b.is_go
    assert b.buildinfo is None and b.go_version is None
    with pytest.raises(UserError) as ei:
        b.pclntab
    assert "has no Go pclntab" in _one_line(ei.value)


def test_corrupted_pclntab(tmp_path):
    exe = build_go("inlines", DEFAULT_GO)
    sec = GoBinary.open(str(exe)).section(".gopclntab")
    cases = {
        "badmagic": (0, b"\x00\x00\x00\x00", "bad magic"),
        "old": (0, struct.pack("<I", 0xFFFFFFFB), "older than 1.18"),
        "old116": (0, struct.pack("<I", 0xFFFFFFFA), "older than 1.18"),
        "ptrsize": (7, b"\x03", "corrupt"),
        "nfunc": (8, struct.pack("<Q", 0), "corrupt"),
        "offsets": (8 + 7 * 8, struct.pack("<Q", 1 << 40), "corrupt"),  # pclnOffset past the end
    }
    for name, (off, data, expect) in cases.items():
        bad = _copy(exe, tmp_path, name)
        _patch(bad, sec.offset + off, data)
        b = GoBinary.open(str(bad))
        with pytest.raises(UserError) as ei:
            b.pclntab
        msg = _one_line(ei.value)
        assert expect in msg, (name, msg)
        assert name in msg  # names the file
        with pytest.raises(UserError):  # the error is remembered, not recomputed into something else
            b.pclntab
    # Unsorted function table.
    bad = _copy(exe, tmp_path, "unsorted")
    tab = GoBinary.open(str(exe)).pclntab
    ftab_off = sec.offset + tab._pcln_off
    _patch(bad, ftab_off + 8 * (tab.nfunc // 2), struct.pack("<I", 0xFFFFFFF0))
    with pytest.raises(UserError) as ei:
        GoBinary.open(str(bad)).pclntab
    assert "not sorted" in _one_line(ei.value)
    # Truncated file: the section headers at the end are gone.
    cut = _copy(exe, tmp_path, "truncated")
    with open(str(cut), "r+b") as f:
        f.truncate(sec.offset + sec.size // 2)
    with pytest.raises(UserError) as ei:
        GoBinary.open(str(cut)).pclntab
    _one_line(ei.value)


def test_truncated_table_inside_region():
    """A header whose tables run past the bytes we have is refused, never read out of bounds."""
    exe = build_go("inlines", DEFAULT_GO)
    b = GoBinary.open(str(exe))
    sec = b.section(".gopclntab")
    with pytest.raises(UserError) as ei:
        PcLnTab(b._map, sec.offset, 4096, vaddr=sec.addr, name="cut")
    assert "corrupt" in _one_line(ei.value)
    tab = PcLnTab(b._map, sec.offset, sec.size, vaddr=sec.addr)  # no reader: no inline expansion
    f = tab.lookup(FIX + "/inl.Outer")
    assert len(tab.frames_at(f.entry + 0x1d)) == 1


# ------------------------------------------------------------------------------- big binary
def test_compile_binary_fast_and_right():
    """The toolchain's compile (~16k functions in 1.23): lazy open, fast lookups, same as addr2line."""
    version = DEFAULT_GO
    exe = go_root(version) / "pkg" / "tool" / "linux_amd64" / "compile"
    GoBinary.clear_cache()
    t0 = time.perf_counter()
    b = GoBinary.open(str(exe))
    tab = b.pclntab
    f = tab.func_for_pc(tab.text_start + (tab.text_end - tab.text_start) // 3)
    t1 = time.perf_counter()
    assert tab.nfunc > 10000 and f is not None
    assert t1 - t0 < 2.0, t1 - t0
    pcs = spread_pcs(tab, 300)
    t0 = time.perf_counter()
    got = [ours(tab, pc) for pc in pcs]
    per = (time.perf_counter() - t0) / len(pcs)
    assert per < 0.005, per
    want = addr2line(version, exe, pcs)
    assert got == [normalized(w) for w in want]
    main = tab.lookup("main.main")
    assert main is not None and main.name == "main.main"


def test_load_bias():
    class Fake:
        is_pie = True
        entry = 0x1000

    assert load_bias(Fake(), {9: 0x555555555000}) == 0x555555554000
    assert load_bias(Fake(), {}) == 0
    Fake.is_pie = False
    assert load_bias(Fake(), {9: 0x401000}) == 0


# ------------------------------------------------------------------------------- aarch64
ARM64_GO = sorted({ALL_GO[0], DEFAULT_GO, ALL_GO[-1]}, key=ALL_GO.index)


@pytest.mark.slow
@pytest.mark.parametrize("version", ARM64_GO)
def test_arm64_cross_builds(version):
    """GOARCH=arm64 builds (pc quantum 4, R_AARCH64_RELATIVE for PIE), checked like the amd64 ones
    without running them: addr2line, DWARF lines, CFA (= SP + frame size: no pushed return
    address), fallbacks, and the inline chain at the call of Leaf, whose source positions the amd64
    build of the same release reported at run time."""
    amd64 = run_fixture(build_go("inlines", version))
    expected = next(g[0] for g in amd64["groups"] if g[1] == FIX + "/inl.Outer")
    for pie in (False, True):
        exe = build_go("inlines", version, pie=pie, env={"GOARCH": "arm64"})
        b = GoBinary.open(str(exe))
        tab = b.pclntab
        assert (b.arch, b.is_pie, tab.quantum, tab.ptr_size) == ("aarch64", pie, 4, 8)
        pcs = spread_pcs(tab)
        assert [ours(tab, pc) for pc in pcs] == [normalized(w) for w in addr2line(version, exe, pcs)]
        rows, fdes = _dwarf_rows(exe)
        assert rows and all(ours(tab, a)[1:] == (f, ln) for a, f, ln in rows)
        checked = 0
        for lo, fde in fdes:
            f = tab.func_for_pc(lo)
            if f is not None and f.name.startswith(FIX):
                for row in fde.get_decoded().table:
                    assert row["cfa"].offset == tab.sp_delta(f, row["pc"]), (f.name, hex(row["pc"]))
                    checked += 1
        assert checked >= 5
        md = find_moduledata(b, tab.vaddr, tab.funcnametab_addr, use_symbols=False)
        assert md is not None and md.addr == b.symbol("runtime.firstmoduledata")
        assert md.text == tab.text_start == b.symbol("runtime.text")
        assert md.gofunc(tab.magic, None) == tab.gofunc == b.symbol("go:func.*")
        if pie:
            assert b.relocations()  # the moduledata pointers above came through them
        outer = tab.lookup(FIX + "/inl.Outer")
        chains = [[(fr.function, fr.file, fr.line) for fr in tab.frames_at(pc, is_return_address=False)]
                  for pc in range(outer.entry, outer.end, 4)]
        assert expected in chains, chains


# ------------------------------------------------------------------------------- pc quantum per arch
def _min_lc(arch_go: str, goarch: str) -> int:
    m = re.search(r'Name:\s*"%s",.*?MinLC:\s*(\d+)' % goarch, arch_go, re.S)
    assert m, goarch
    return int(m.group(1))


def test_pc_quantum_checked_against_the_machine(tmp_path):
    """The pcHeader's minLC must be the one Go's linker writes for the ELF machine (ground truth: the
    toolchain's own cmd/internal/sys/arch.go, MinLC of ArchAMD64 and ArchARM64). A pclntab with the
    other arch's quantum is refused in one line instead of decoding every table to wrong pcs."""
    arch_go = (go_root(DEFAULT_GO) / "src" / "cmd" / "internal" / "sys" / "arch.go").read_text()
    want = {"x86-64": _min_lc(arch_go, "amd64"), "aarch64": _min_lc(arch_go, "arm64")}
    assert P.PC_QUANTUM == want == {"x86-64": 1, "aarch64": 4}
    for env in (None, {"GOARCH": "arm64"}):
        exe = build_go("inlines", DEFAULT_GO, env=env)
        b = GoBinary.open(str(exe))
        tab = b.pclntab
        assert tab.quantum == want[b.arch]
        hdr = b._file_offset(tab.vaddr, 8)
        for q in (1, 2, 4):
            if q == want[b.arch]:
                continue
            bad = _copy(exe, tmp_path, "q%d-%s" % (q, b.arch))
            _patch(bad, hdr + 6, bytes([q]))
            with pytest.raises(UserError) as ei:
                GoBinary.open(str(bad)).pclntab
            msg = _one_line(ei.value)
            assert "quantum %d" % q in msg and b.arch in msg, msg
