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
