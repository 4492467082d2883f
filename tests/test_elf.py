"""gdb_rr_dmabuf/elf.py, the bounded ELF primitives under CoreTarget and GoBinary, against pyelftools (ground
truth from outside our code) on real files of all four kinds: 64-bit little-endian Go executables (x86-64
with cgo, arm64), a 32-bit i386 executable (as --32, ld -m elf_i386) and a 64-bit big-endian aarch64 one
(aarch64-linux-gnu-as/ld -EB); and the bounds: damaged counts, offsets and sizes cost what the caps
allow, never what they claim. (Cores: tests/test_target.py, test_fuzz_cores.py, test_core_analysis.py.)
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gdb_rr_dmabuf import elf
from tests.support.toolchains import DEFAULT_GO, build_go

_ASM = '.globl _start\n.text\n_start: nop\n.section .note.test,"a"\n.long 4\n.long 8\n.long 3\n.asciz "GNU"\n' \
       '.long 0x11223344\n.long 0x55667788\n'


def _linked(tmp: Path, name: str, as_cmd, ld_cmd) -> Path:
    if shutil.which(as_cmd[0]) is None or shutil.which(ld_cmd[0]) is None:
        pytest.skip("%s or %s not installed" % (as_cmd[0], ld_cmd[0]))
    src, obj, exe = tmp / (name + ".s"), tmp / (name + ".o"), tmp / name
    src.write_text(_ASM)
    subprocess.run(as_cmd + ["-o", str(obj), str(src)], check=True, timeout=60)
    subprocess.run(ld_cmd + ["--build-id", "-o", str(exe), str(obj)], check=True, timeout=60)
    return exe


FILES = {
    "go-x86-64-cgo": lambda tmp: build_go("demo", DEFAULT_GO),
    "go-arm64": lambda tmp: build_go("gstates", DEFAULT_GO, env={"GOARCH": "arm64"}, cgo=False),
    "i386": lambda tmp: _linked(tmp, "i386", ["as", "--32"], ["ld", "-m", "elf_i386"]),
    "aarch64-big-endian": lambda tmp: _linked(tmp, "be", ["aarch64-linux-gnu-as", "-EB"],
                                              ["aarch64-linux-gnu-ld", "-EB"]),
}


def _nt(n_type, enums) -> int:
    return n_type if isinstance(n_type, int) else enums[n_type]


@pytest.mark.parametrize("kind", sorted(FILES))
def test_headers_tables_names_and_notes_match_pyelftools(kind, tmp_path):
    from elftools.elf.elffile import ELFFile
    from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE, ENUM_NOTE_N_TYPE
    from elftools.elf.notes import iter_notes

    path = FILES[kind](tmp_path)
    data = Path(path).read_bytes()
    with open(path, "rb") as f:
        ef = ELFFile(f)
        h = elf.parse_header(data[:64])
        assert (h.elfclass, h.little_endian) == (ef.elfclass, ef.little_endian)
        assert h.e_type == ENUM_E_TYPE[ef["e_type"]] and h.e_machine == ENUM_E_MACHINE[ef["e_machine"]]
        assert (h.e_entry, h.e_phoff, h.e_shoff, h.e_phentsize, h.e_shentsize) == \
            (ef["e_entry"], ef["e_phoff"], ef["e_shoff"], ef["e_phentsize"], ef["e_shentsize"])
        phnum, shnum, shstrndx = elf.extended_numbers(h, None)
        assert (phnum, shnum, shstrndx) == (ef.num_segments(), ef.num_sections(), ef["e_shstrndx"])

        n = elf.table_fits(h.e_phoff, h.e_phentsize, phnum, 1 << 12, len(data),
                           elf.phdr_struct(h.elfclass, h.little_endian).size)
        ours = list(elf.program_headers(data, h.e_phoff, h.e_phentsize, n, h.elfclass, h.little_endian))
        assert len(ours) == ef.num_segments() > 0
        for (p_type, flags, offset, vaddr, paddr, filesz, memsz, align), seg in zip(ours, ef.iter_segments()):
            want_type = seg["p_type"]
            if isinstance(want_type, str):
                from elftools.elf.enums import ENUM_P_TYPE_BASE
                want_type = ENUM_P_TYPE_BASE.get(want_type, want_type)
            assert (p_type, flags, offset, vaddr, paddr, filesz, memsz, align) == \
                (want_type, seg["p_flags"], seg["p_offset"], seg["p_vaddr"], seg["p_paddr"], seg["p_filesz"],
                 seg["p_memsz"], seg["p_align"])

        n = elf.table_fits(h.e_shoff, h.e_shentsize, shnum, 1 << 16, len(data),
                           elf.shdr_struct(h.elfclass, h.little_endian).size)
        shdrs = list(elf.section_headers(data, h.e_shoff, h.e_shentsize, n, h.elfclass, h.little_endian))
        assert len(shdrs) == ef.num_sections() > 0
        strtab = shdrs[shstrndx]
        seen_notes = 0
        for sh, sec in zip(shdrs, ef.iter_sections()):
            name = elf.string_at(data, strtab[4], strtab[4] + strtab[5], sh[0]).decode()
            assert name == sec.name
            assert elf.SHT_NAMES.get(sh[1], sh[1]) == sec["sh_type"] or sh[1] >= 0x60000000
            assert (sh[2], sh[3], sh[4], sh[5], sh[6], sh[7], sh[8], sh[9]) == \
                (sec["sh_flags"], sec["sh_addr"], sec["sh_offset"], sec["sh_size"], sec["sh_link"], sec["sh_info"],
                 sec["sh_addralign"], sec["sh_entsize"])
            if sh[1] != elf.SHT_NOTE:
                continue
            off, size = sh[4], sh[5]
            ours_n = list(elf.notes(lambda p, k: data[off + p:off + p + k], size, h.little_endian))
            theirs = [(nt["n_name"].encode(), _nt(nt["n_type"], ENUM_NOTE_N_TYPE), bytes(nt["n_descdata"]))
                      for nt in iter_notes(ef, off, size)]
            assert ours_n == theirs and ours_n
            seen_notes += len(ours_n)
        assert seen_notes > 0  # a GNU build id at least (ld --build-id; Go's linker writes one with cgo)


def test_header_errors_say_what_is_wrong():
    good = bytearray(b"\x7fELF\x02\x01\x01" + bytes(57))
    assert elf.parse_header(bytes(good)).elfclass == 64
    for raw, kind in ((b"\x7fEL", "magic"), (b"#!/bin/sh\n" + bytes(60), "magic"), (bytes(good[:63]), "short"),
                      (b"\x7fELF\x01\x01" + bytes(40), "short"), (b"\x7fELF\x05\x01" + bytes(58), "class"),
                      (b"\x7fELF\x02\x07" + bytes(58), "data")):
        with pytest.raises(elf.HeaderError) as e:
            elf.parse_header(raw)
        assert e.value.kind == kind, raw[:8]
    h = elf.parse_header(b"\x7fELF\x01\x02\x01" + bytes(45))  # 32-bit big-endian: 52 bytes are the header
    assert (h.elfclass, h.little_endian) == (32, False)


def test_damaged_counts_and_offsets_cost_what_the_caps_allow():
    size = 1 << 20
    for off in (0, -1, size, size + 1, (1 << 63) + 5, (1 << 64) - 1):
        assert elf.table_fits(off, 64, 0xFFFF, 1 << 16, size, 64) == 0
    assert elf.table_fits(64, 8, 1 << 40, 1 << 16, size, 64) == 0          # entries smaller than the struct
    assert elf.table_fits(64, 64, 1 << 40, 1 << 16, size, 64) == (size - 64) // 64   # what fits...
    assert elf.table_fits(64, 64, 1 << 40, 100, size, 64) == 100           # ...or the cap
    assert elf.clamp((1 << 64) - 1, (1 << 64) - 1, size) == (size, size)
    assert elf.clamp(-5, 10, size) == (0, 10) and elf.clamp(size - 4, 1 << 63, size) == (size - 4, size)


def test_note_walks_stop_at_damage_and_their_bounds():
    reads = []

    def get_from(buf):
        def get(pos, n):
            reads.append(n)
            return buf[pos:pos + n]
        return get

    zeros = bytes(64 << 20)   # a zero-filled segment: one header read, then the walk ends
    assert list(elf.notes(get_from(zeros), len(zeros), True, 1 << 18, 256)) == [elf.BAD_NOTE_NAME]
    assert len(reads) == 1
    # without max_namesz, empty notes are walked, but at most `limit` of them
    assert len(list(elf.notes(get_from(zeros), len(zeros), True, 64))) == 64
    # a desc that claims more than the region: the walk ends, nothing of that size is read
    claim = (4).to_bytes(4, "little") + ((1 << 32) - 1).to_bytes(4, "little") + (1).to_bytes(4, "little") + b"CORE"
    reads.clear()
    assert list(elf.notes(get_from(claim + bytes(100)), len(claim) + 100, True, 10, 256)) == []
    assert max(reads) <= 64
    # a huge name size is read 64 bytes at most
    big = ((1 << 32) - 1).to_bytes(4, "little") + bytes(8) + b"GNU\0" + bytes(200)
    reads.clear()
    assert list(elf.notes(get_from(big), len(big), True, 10)) == [] and max(reads) <= 64


def test_string_table_reads_are_bounded():
    tab = b"\0.text\0.data" + b"x" * 1000
    assert elf.string_at(tab, 0, len(tab), 1) == b".text"
    assert elf.string_at(tab, 0, len(tab), 7, limit=256) == b".data" + b"x" * 251   # no NUL: limit bytes
    assert elf.string_at(tab, 0, 6, 1) == b".text"                                   # cut by the table's end
    assert elf.string_at(tab, 0, len(tab), len(tab)) == b"" and elf.string_at(tab, 0, len(tab), 1 << 40) == b""


# Function symbols (target_ptrace's innermost native frame) -----------------------------------------
def _pyelftools_functions(path):
    """(ET_DYN?, sorted (value, size, name)) of the STT_FUNC symbols with a value of the first SHT_SYMTAB
    and SHT_DYNSYM sections, as pyelftools reads them."""
    from elftools.elf.elffile import ELFFile
    with open(str(path), "rb") as f:
        ef = ELFFile(f)
        out = []
        for want in ("SHT_SYMTAB", "SHT_DYNSYM"):
            sec = next((s for s in ef.iter_sections() if s["sh_type"] == want), None)
            if sec is not None:
                out += [(s["st_value"], s["st_size"], s.name) for s in sec.iter_symbols()
                        if s["st_info"]["type"] == "STT_FUNC" and s["st_value"]]
        return ef["e_type"] == "ET_DYN", sorted(out)


def _pyelftools_lookup(syms, addr):
    """The lookup target_ptrace made over pyelftools' symbols before elf.function_symbols."""
    best = None
    for v, size, name in syms:
        if v <= addr < v + max(size, 1):
            best = name
            if not name.startswith("__GI_"):
                break
    return best


def _symbol_files(tmp: Path):
    from tests.support.toolchains import build_c
    files = [build_c("restart_once.c"), build_c("strace_split.c", flags=("-O2", "-s"), name="strace_split-O2s"),
             build_go("demo", DEFAULT_GO), build_go("demo", DEFAULT_GO, stripped=True, pie=True),
             _linked(tmp, "i386", ["as", "--32"], ["ld", "-m", "elf_i386"])]
    for lib in ("libc.so.6", "libstdc++.so.6", "libz.so.1", "libm.so.6"):
        p = Path("/usr/lib/x86_64-linux-gnu") / lib
        if p.exists():
            files.append(p.resolve())
    return files


def test_function_symbols_and_lookups_match_pyelftools(tmp_path):
    """Every function symbol of C fixtures (with symbols, and -O2 -s), Go executables (static, and PIE
    stripped), an i386 one and the system's libc, libstdc++, libz and libm equals pyelftools' (value, size,
    name); and the name of sampled addresses (each symbol's first, last and next byte, and a stride over
    the text) equals what the pyelftools-based lookup gave. (Every ELF under .cache/build, .cache/debian and
    /usr/lib/x86_64-linux-gnu agreed when this was written: README, "Dependencies".)"""
    import mmap
    import random
    rng = random.Random(7)
    total = 0
    for path in _symbol_files(tmp_path):
        pie, want = _pyelftools_functions(path)
        with open(str(path), "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            got = elf.function_symbols(m)
        assert got.pie == pie and sorted(got) == want, path
        total += len(want)
        if not want:
            continue
        addrs = set()
        for v, s, _ in rng.sample(want, min(200, len(want))):
            addrs.update((v - 1, v, v + max(s, 1) - 1, v + max(s, 1)))
        addrs.update(range(want[0][0], want[-1][0] + 1, max(1, (want[-1][0] - want[0][0]) // 200)))
        for a in sorted(addrs):
            assert got.name_at(a) == _pyelftools_lookup(want, a), (path, hex(a))
    assert total > 10000


def _elf64_with_symtab(nsyms: int, strtab: bytes, sym_entsize: int = 24, link: int = 2, sym_size=None) -> bytes:
    """A minimal ELF64 little-endian file: sections [null, .symtab, .strtab]; nsyms function symbols at
    0x1000 + 16 * i, size 16, every name at offset 1 of strtab; the symbol table's header says sym_entsize,
    link and sym_size (default: the truth)."""
    import struct
    syms = bytes(24) + b"".join(struct.pack("<IBBHQQ", 1, 0x12, 0, 1, 0x1000 + 16 * i, 16) for i in range(nsyms))
    sym_off = 64
    str_off = sym_off + len(syms)
    sh_off = str_off + len(strtab)
    shdr = struct.Struct("<IIQQQQIIQQ")
    shdrs = bytes(64) + shdr.pack(0, elf.SHT_SYMTAB, 0, 0, sym_off, len(syms) if sym_size is None else sym_size,
                                  link, 1, 8, sym_entsize) \
        + shdr.pack(0, elf.SHT_STRTAB, 0, 0, str_off, len(strtab), 0, 0, 1, 0)
    head = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHIQQQIHHHHHH", elf.ET_DYN, 62, 1, 0, 0, sh_off, 0,
                                                               64, 0, 0, 64, 3, 0)
    return head + syms + strtab + shdrs


def test_function_symbols_damage_is_one_error_and_costs_what_the_caps_allow():
    good = _elf64_with_symtab(3, b"\0f\0")
    fs = elf.function_symbols(good)
    assert list(fs) == [(0x1000, 16, "f"), (0x1010, 16, "f"), (0x1020, 16, "f")] and fs.pie
    assert fs.name_at(0x101f) == "f" and fs.name_at(0x1030) is None and fs.name_at(0xfff) is None
    for raw, says in (
            (_elf64_with_symtab(3, b"\0f\0", sym_entsize=8), "has entries of 8 bytes; an ELF64 symbol takes 24"),
            (_elf64_with_symtab(3, b"\0f\0", sym_size=1 << 63), "runs past the end of the file"),
            (_elf64_with_symtab(3, b"\0f\0", link=7), "links to section 7, which is not a string table"),
            (_elf64_with_symtab(3, b"\0f\0", link=1), "links to section 1, which is not a string table"),
            (good[:-64], "runs past the end of the file")):
        with pytest.raises(elf.SymbolsError) as e:
            elf.function_symbols(raw)
        assert says in str(e.value) and "\n" not in str(e.value), str(e.value)
    with pytest.raises(elf.HeaderError):
        elf.function_symbols(good[:40])
    # A name without its NUL (a damaged string table) is read MAX_SYMBOL_NAME bytes at most ...
    long_name = _elf64_with_symtab(2, b"\0" + b"x" * (1 << 20))
    assert [len(n) for _v, _s, n in elf.function_symbols(long_name)] == [elf.MAX_SYMBOL_NAME] * 2
    # at most max_symbols entries are read (entry 0 is the null symbol) ...
    assert len(elf.function_symbols(long_name, max_symbols=2)) == 1
    # ... and a lookup reads the names of at most MAX_COVERING symbols, whatever the table holds.
    fs = elf.FunctionSymbols(False, [(0, 1 << 64, 0, 1)] * 100000, [b"\0" + b"y" * (1 << 20)])
    assert len(fs.covering(5)) == elf.MAX_COVERING
    # extended numbering: a section count of 2**64 - 1 in section header 0 is refused, not walked
    import struct
    huge = bytearray(good)
    sh_off = struct.unpack_from("<Q", huge, 40)[0]
    struct.pack_into("<H", huge, 60, 0)                      # e_shnum 0: the count is sh0's sh_size
    struct.pack_into("<Q", huge, sh_off + 32, (1 << 64) - 1)
    with pytest.raises(elf.SymbolsError) as e:
        elf.function_symbols(bytes(huge))
    assert "sections claimed" in str(e.value)
    no_sections = bytearray(good)
    struct.pack_into("<Q", no_sections, 40, 0)                # e_shoff 0: no section header table
    assert len(elf.function_symbols(bytes(no_sections))) == 0
