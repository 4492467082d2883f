"""Fuzz: damaged Go executables (real fixture builds: cgo with symbols, stripped, PIE, arm64), their
pclntab and their build info. Mutations (tests/support/fuzz.py) hit the ELF header, the section and
program header tables, the pclntab (header, function table, records, pc-value tables), the build info
and runtime.firstmoduledata: bit flips, bytes, 2/4/8-byte fields set to extremes (sizes and offsets
near 2**63 included), truncation. Property: a result or one clear UserError line within the cap.

"changed quietly" counts inputs whose answers (function, file and line at sample pcs; Go version)
differ from the intact binary's while no error was raised: damage that decodes to something plausible.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from hypothesis import given, strategies as st

from gdb_rr_dmabuf.callers import open_go_binary
from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.go_runtime import buildinfo as B
from gdb_rr_dmabuf.go_runtime.binary import GoBinary, load_bias
from gdb_rr_dmabuf.go_runtime.layouts import layout_for
from gdb_rr_dmabuf.target_memory import MemoryTarget
from tests.support import fuzz
from tests.support.fuzz import check, settings_for
from tests.support.toolchains import DEFAULT_GO, build_go

BUILDS = {
    "cgo": lambda: build_go("demo", DEFAULT_GO),
    "stripped": lambda: build_go("inlines", DEFAULT_GO, stripped=True),
    "pie": lambda: build_go("inlines", DEFAULT_GO, pie=True),
    "arm64": lambda: build_go("gstates", DEFAULT_GO, env={"GOARCH": "arm64"}, cgo=False),
}


class Base:
    """An intact binary: its bytes, the regions worth damaging, sample pcs and their answers."""

    def __init__(self, name: str, path: Path):
        self.name = name
        self.path = path
        self.data = path.read_bytes()
        b = GoBinary(str(path))
        tab = b.pclntab
        self.arch = b.arch
        e_phoff, e_shoff = struct.unpack_from("<QQ", self.data, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", self.data, 54)
        off = b._file_offset(tab.vaddr, 8)  # .gopclntab, or .data.rel.ro.gopclntab for PIE
        size = tab._size
        regions = {"elf header": (0, 64), "section headers": (e_shoff, shnum * shentsize),
                   "program headers": (e_phoff, phnum * phentsize)}
        pcl = [(off, 8 + 8 * 8), (off + tab._pcln_off, min(8 * tab.nfunc, 1 << 14)),
               (off + tab._pcln_off + 8 * tab.nfunc, min(size - tab._pcln_off, 1 << 16)),
               (off + tab._pctab_off, min(tab._pcln_off - tab._pctab_off, 1 << 16)),
               (off, size)]
        regions["pclntab"] = pcl[0]
        bi = b.section(".go.buildinfo")
        if bi is not None:
            regions["build info"] = (bi.offset, min(bi.size, 512))
        md = b.symbol("runtime.firstmoduledata")
        if md is None:
            from gdb_rr_dmabuf.go_runtime.pclntab import find_moduledata
            m = find_moduledata(b, tab.vaddr, tab.funcnametab_addr, use_symbols=False)
            md = m.addr if m is not None else None
        if md is not None and b._file_offset(md, 8) is not None:
            regions["moduledata"] = (b._file_offset(md, 8), 60 * 8)
        for nm in (".symtab", ".strtab", ".rela.dyn", ".note.go.buildid"):
            s = b.section(nm)
            if s is not None and s.size:
                regions[nm] = (s.offset, min(s.size, 1 << 14))
        self.regions = regions
        self.pclntab_regions = pcl
        step = max(1, tab.nfunc // 24)
        self.pcs = [tab.entry_of_index(i) + 1 for i in range(0, tab.nfunc, step)][:24]
        self.answer = exercise(str(path), self.pcs)


def exercise(path: str, pcs: List[int]) -> Tuple:
    """What go-callers asks of an executable, summarised for comparison."""
    GoBinary.clear_cache()
    b = open_go_binary(MemoryTarget(arch=GoBinary(path).arch, executable=path))
    layout_for(b.go_version, b.arch)
    bi = b.buildinfo
    if bi is not None:
        bi.module_for_package("main")
        bi.module_for_package("example.com/x/y")
    load_bias(b, {9: b.entry + 0x555555554000})
    b.symbol("runtime.tlsg")
    b.symbol("main.main")
    b.tls
    tab = b.pclntab
    out = []
    for pc in pcs:
        frs = tab.frames_at(pc)
        f = tab.func_for_pc(pc)
        if f is not None:
            tab.sp_delta(f, pc)
            tab.max_sp_delta(f)
        out.append(tuple((fr.function, fr.file, fr.line, fr.inlined) for fr in frs))
    tab.lookup("runtime.goexit")
    return (b.go_version, tuple(out))


_BASES: Dict[str, Base] = {}


def base(name: str) -> Base:
    if name not in _BASES:
        _BASES[name] = Base(name, BUILDS[name]())
    return _BASES[name]


from tests.support.fuzz import figures_saved_after_module  # noqa: E402,F401  (writes the figures)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzzbin")


def _run(target: str, b: Base, work: Path, muts) -> None:
    p = work / ("%s.bin" % b.name)
    fuzz.patch_file(p, None, b.data, muts)
    out = check(target, lambda: exercise(str(p), b.pcs), what="%s %s" % (b.name, str(muts)[:160]))
    if out.kind == "result" and out.value != b.answer:
        fuzz.note_changed_quietly(target)


def _binary_test(name: str, n: int):
    @settings_for(n)
    @given(data=st.data())
    def test(work, data):
        b = base(name)
        muts = data.draw(fuzz.mutations(list(b.regions.values()), max_ops=3))
        _run("ELF binaries", b, work, muts)
    test.__name__ = "test_elf_%s" % name
    return test


test_elf_cgo = _binary_test("cgo", 150)
test_elf_stripped = _binary_test("stripped", 120)
test_elf_pie = _binary_test("pie", 120)
test_elf_arm64 = _binary_test("arm64", 80)


@settings_for(300)
@given(data=st.data())
def test_pclntab(work, data):
    b = base(data.draw(st.sampled_from(["cgo", "stripped", "arm64"])))
    muts = data.draw(fuzz.mutations(b.pclntab_regions, max_ops=3, truncate=False))
    _run("pclntab", b, work, muts)


def test_extremes_measured_in_issue(work):
    """Section and segment sizes and offsets near 2**63 (OverflowError in _find_symbol and
    find_moduledata before), a truncated file, counts of 0xffff, and the pc quantum of the other arch."""
    b = base("cgo")
    d = b.data
    e_phoff, e_shoff = struct.unpack_from("<QQ", d, 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", d, 54)
    cases = []
    for i in range(shnum):
        for field, width in ((24, 8), (32, 8)):  # sh_offset, sh_size
            for v in ((1 << 63) - 1, 1 << 63, (1 << 64) - 1, len(d)):
                cases.append([("int", e_shoff + i * shentsize + field, (width, v))])
    for i in range(phnum):
        for field in (8, 32, 40):  # p_offset, p_filesz, p_memsz
            cases.append([("int", e_phoff + i * phentsize + field, (8, (1 << 63) + 5))])
    cases += [[("int", 60, (2, 0xFFFF))], [("int", 56, (2, 0xFFFF))], [("int", 60, (2, 0))],
              [("cut", len(d) // 2, 0)], [("cut", 100, 0)], [("cut", 64, 0)],
              [("byte", b.pclntab_regions[0][0] + 6, 4)], [("byte", b.pclntab_regions[0][0] + 7, 4)]]
    for muts in cases:
        _run("ELF binaries", b, work, muts)
    p = work / "quantum.bin"
    fuzz.patch_file(p, None, d, [("byte", b.pclntab_regions[0][0] + 6, 4)])
    out = check("ELF binaries", lambda: exercise(str(p), b.pcs))
    assert out.kind == "user_error" and "quantum" in str(out.error), out.value


# --------------------------------------------------------------------------------------- build info
def _blobs() -> List[bytes]:
    out = []
    for name in ("cgo", "pie"):
        b = GoBinary(str(base(name).path))
        s = b.section(".go.buildinfo")
        out.append(bytes(b._data[s.offset:s.offset + s.size]))
    out.append(B.make_blob("go1.23.4", "path\tx\nmod\tx\t(devel)\t\ndep\ty\tv1.0.0\th1:abc=\n=>\tz\tv2\t\n"
                           "build\t\"k\\x\"=\"v\\u00e9\"\nbuild\tCGO_ENABLED=1\n"))
    return out


_BLOBS: List[bytes] = []


@settings_for(400)
@given(i=st.integers(0, 2), data=st.data())
def test_build_info_blob(i, data):
    if not _BLOBS:
        _BLOBS.extend(_blobs())
    blob = _BLOBS[i]
    muts = data.draw(fuzz.mutations([(0, 64), (0, len(blob))], max_ops=3))
    bad = fuzz.apply(blob, muts)

    def run():
        bi = B.read_buildinfo(bad)
        reader = lambda a, n: bad[a - 0x1000:a - 0x1000 + n]  # noqa: E731 - pre-1.18 pointer form
        B.read_buildinfo(reader, 0x1000, len(bad))
        if bi is not None:
            bi.module_for_package("x/y")
            layout_for(bi.go_version, "x86-64")
        return bi

    check("build info", run, what=str(muts)[:160])


mod_lines = st.lists(st.one_of(
    st.tuples(st.sampled_from(["path", "mod", "dep", "=>", "build", "go", ""]),
              st.lists(st.text(max_size=12), max_size=4)).map(lambda t: t[0] + "\t" + "\t".join(t[1])),
    st.text(max_size=40)), max_size=12).map("\n".join)


@settings_for(300)
@given(text=mod_lines, quoted=st.text(max_size=30))
def test_build_info_text(text, quoted):
    def run():
        B.parse_modinfo("go1.23.4", text)
        B.go_unquote('"' + quoted + '"')
        B.go_unquote("`" + quoted + "`")
        return B.parse_modinfo("", text)

    check("build info", run, what=repr(text[:100]))
