"""Bounded ELF primitives shared by the core reader (target_core.CoreTarget) and the executable reader
(go_runtime.binary.GoBinary): the constants of elf.h they use, the ELF header, program and section
header tables, notes and string tables.

Every count, offset and size read from a file is bounded here: by the file's size, by a cap the caller
gives, or both, so a damaged header costs what the caps allow, never what it claims. Callers turn the
outcome into their own one-line UserError. Per-architecture facts (e_machine, R_*_RELATIVE,
NT_ARM_SYSTEM_CALL) live in arch.py. Pure Python: no gdb, no pyelftools.
"""
from __future__ import annotations

import struct
from typing import Callable, Dict, Iterator, NamedTuple, Optional, Tuple

# elf.h -------------------------------------------------------------------------------------------
ELFMAG = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
EHDR64_SIZE, EHDR32_SIZE = 64, 52

ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
ET_NAMES = {0: "ET_NONE", ET_REL: "ET_REL", ET_EXEC: "ET_EXEC", ET_DYN: "ET_DYN", ET_CORE: "ET_CORE"}

PT_LOAD, PT_NOTE, PT_TLS = 1, 4, 7
PN_XNUM = 0xFFFF          # e_phnum: the count is in section header 0's sh_info
SHN_XINDEX = 0xFFFF       # e_shstrndx: the index is in section header 0's sh_link

SHT_SYMTAB, SHT_NOTE, SHT_NOBITS, SHT_DYNSYM = 2, 7, 8, 11
SHT_NAMES = {0: "SHT_NULL", 1: "SHT_PROGBITS", 2: "SHT_SYMTAB", 3: "SHT_STRTAB", 4: "SHT_RELA",
             5: "SHT_HASH", 6: "SHT_DYNAMIC", 7: "SHT_NOTE", 8: "SHT_NOBITS", 9: "SHT_REL",
             11: "SHT_DYNSYM", 14: "SHT_INIT_ARRAY", 15: "SHT_FINI_ARRAY", 16: "SHT_PREINIT_ARRAY",
             17: "SHT_GROUP", 18: "SHT_SYMTAB_SHNDX", 19: "SHT_RELR", 0x6ffffff6: "SHT_GNU_HASH",
             0x6ffffffd: "SHT_GNU_verdef", 0x6ffffffe: "SHT_GNU_verneed", 0x6fffffff: "SHT_GNU_versym"}
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4

# Note types: in "CORE" notes (NT_PRSTATUS, NT_AUXV, NT_FILE), "LINUX" notes (NT_ARM_TLS), "GNU" notes
# (NT_GNU_BUILD_ID) and the Go linker's "Go" note (cmd/link: ELF_NOTE_GOBUILDID_TAG).
NT_PRSTATUS = 1
NT_AUXV = 6
NT_FILE = 0x46494C45
NT_ARM_TLS = 0x401
NT_GNU_BUILD_ID = 3
NT_GO_BUILDID = 4

AT_ENTRY = 9   # auxv (NT_AUXV, /proc/PID/auxv): the entry point; minus e_entry, a PIE's load bias

# R_*_RELATIVE of 32-bit machines we do not debug but whose binaries we still read (ours: arch.py).
R_386_RELATIVE = 8
R_ARM_RELATIVE = 23

# e_machine of machines we do not debug (ours are in arch.py): (elf.h's and pyelftools' name, how a core
# file's message names it, the arch name a binary gets: Go's GOARCH where there is one).
OTHER_MACHINES: Dict[int, Tuple[str, str, str]] = {
    3: ("EM_386", "i386", "i386"),
    8: ("EM_MIPS", "mips", "mips"),
    20: ("EM_PPC", "ppc", "ppc"),
    21: ("EM_PPC64", "ppc64", "ppc64"),
    22: ("EM_S390", "s390", "s390x"),
    40: ("EM_ARM", "arm", "arm"),
    243: ("EM_RISCV", "riscv", "riscv64"),
    258: ("EM_LOONGARCH", "loongarch", "loong64"),
}


# The ELF header ----------------------------------------------------------------------------------
class Header(NamedTuple):
    elfclass: int          # 32 or 64
    little_endian: bool
    e_type: int
    e_machine: int
    e_entry: int
    e_phoff: int
    e_shoff: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int


class HeaderError(ValueError):
    """Why bytes are not a usable ELF header: `kind` is 'magic', 'short', 'class' or 'data'."""

    def __init__(self, kind: str, value: int = 0):
        super().__init__("%s %d" % (kind, value))
        self.kind = kind
        self.value = value


def parse_header(raw: bytes) -> Header:
    """The ELF header at the start of raw (read at least 64 bytes). HeaderError when the magic, the
    length, EI_CLASS or EI_DATA is wrong; the other fields are the caller's to check."""
    if len(raw) < 4 or raw[:4] != ELFMAG:
        raise HeaderError("magic")
    if len(raw) < (EHDR32_SIZE if raw[4] == ELFCLASS32 else EHDR64_SIZE):
        raise HeaderError("short", len(raw))
    if raw[4] not in (ELFCLASS32, ELFCLASS64):
        raise HeaderError("class", raw[4])
    if raw[5] not in (ELFDATA2LSB, ELFDATA2MSB):
        raise HeaderError("data", raw[5])
    little = raw[5] == ELFDATA2LSB
    e = "<" if little else ">"
    if raw[4] == ELFCLASS64:
        f = struct.unpack_from(e + "HHIQQQIHHHHHH", raw, 16)
    else:
        f = struct.unpack_from(e + "HHIIIIIHHHHHH", raw, 16)
    e_type, e_machine, _version, entry, phoff, shoff, _flags, _ehsize, phentsize, phnum, shentsize, shnum, \
        shstrndx = f
    return Header(64 if raw[4] == ELFCLASS64 else 32, little, e_type, e_machine, entry, phoff, shoff,
                  phentsize, phnum, shentsize, shnum, shstrndx)


# Header tables -----------------------------------------------------------------------------------
_STRUCTS: Dict[Tuple[str, int, bool], struct.Struct] = {}
# Elf64_Phdr: type flags offset vaddr paddr filesz memsz align; Elf32_Phdr: type offset vaddr paddr filesz
# memsz flags align (program_headers puts both in the 64-bit order). Elf64_Shdr and Elf32_Shdr: name type
# flags addr offset size link info align entsize.
_FORMATS = {"phdr": ("IIQQQQQQ", "IIIIIIII"), "shdr": ("IIQQQQIIQQ", "IIIIIIIIII")}


def _table_struct(kind: str, elfclass: int, little_endian: bool) -> struct.Struct:
    key = (kind, elfclass, little_endian)
    s = _STRUCTS.get(key)
    if s is None:
        fmt64, fmt32 = _FORMATS[kind]
        s = _STRUCTS[key] = struct.Struct(("<" if little_endian else ">") + (fmt64 if elfclass == 64 else fmt32))
    return s


def phdr_struct(elfclass: int, little_endian: bool) -> struct.Struct:
    return _table_struct("phdr", elfclass, little_endian)


def shdr_struct(elfclass: int, little_endian: bool) -> struct.Struct:
    return _table_struct("shdr", elfclass, little_endian)


def table_fits(off: int, entsize: int, count: int, cap: int, file_size: int, min_entsize: int) -> int:
    """How many entries of a header table fit in the file: at most count and cap, 0 when the entry size
    is too small or the table starts outside the file."""
    if entsize < min_entsize or off <= 0 or off >= file_size:
        return 0
    return max(0, min(count, cap, (file_size - off) // entsize))


def program_headers(buf, off: int, entsize: int, count: int, elfclass: int,
                    little_endian: bool) -> Iterator[tuple]:
    """count program headers from buf at off (the caller bounds count with table_fits), each as
    (type, flags, offset, vaddr, paddr, filesz, memsz, align) whatever the class."""
    s = phdr_struct(elfclass, little_endian)
    if elfclass == 64:
        if entsize == s.size:
            yield from s.iter_unpack(buf[off:off + count * entsize])
            return
        for i in range(count):
            yield s.unpack_from(buf, off + i * entsize)
        return
    for i in range(count):
        p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align = s.unpack_from(
            buf, off + i * entsize)
        yield p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align


def section_headers(buf, off: int, entsize: int, count: int, elfclass: int,
                    little_endian: bool) -> Iterator[tuple]:
    """count section headers from buf at off (bounded by the caller with table_fits), each as
    (name, type, flags, addr, offset, size, link, info, align, entsize)."""
    s = shdr_struct(elfclass, little_endian)
    for i in range(count):
        yield s.unpack_from(buf, off + i * entsize)


def extended_numbers(h: Header, sh0: Optional[tuple]) -> Tuple[int, int, int]:
    """(phnum, shnum, shstrndx) with ELF's extended numbering resolved from section header 0 (when the
    caller could read it): more than 0xfeff sections, PN_XNUM program headers, SHN_XINDEX."""
    phnum, shnum, shstrndx = h.e_phnum, h.e_shnum, h.e_shstrndx
    if sh0 is not None:
        if shnum == 0:
            shnum = sh0[5]       # sh_size
        if phnum == PN_XNUM:
            phnum = sh0[7]       # sh_info
        if shstrndx == SHN_XINDEX:
            shstrndx = sh0[6]    # sh_link
    return phnum, shnum, shstrndx


def clamp(offset: int, size: int, file_size: int) -> Tuple[int, int]:
    """[lo, hi) of the file bytes an (offset, size) pair from a header can mean: inside the file."""
    lo = min(max(0, offset), file_size)
    return lo, min(file_size, lo + max(0, size))


# Notes and strings -------------------------------------------------------------------------------
BAD_NOTE_NAME: Tuple[None, int, bytes] = (None, 0, b"")


def notes(get: Callable[[int, int], bytes], end: int, little_endian: bool = True, limit: int = 64,
          max_namesz: Optional[int] = None) -> Iterator[Tuple[Optional[bytes], int, bytes]]:
    """The notes in bytes [0, end) of a region read with get(pos, n): (name, type, desc), at most `limit`.
    The name is read up to its first NUL, 64 bytes at most. A note whose desc goes past `end` ends the
    walk. With max_namesz, a name size of 0 or above it yields BAD_NOTE_NAME once and ends the walk: a
    zero-filled or damaged region, whose walk would otherwise cost its size."""
    fmt = struct.Struct("<III" if little_endian else ">III")
    pos = 0
    n = 0
    while pos + 12 <= end and n < limit:
        namesz, descsz, ntype = fmt.unpack(get(pos, 12))
        if max_namesz is not None and not 0 < namesz <= max_namesz:
            yield BAD_NOTE_NAME
            return
        pos += 12
        name = get(pos, min(namesz, 64)).split(b"\0", 1)[0]
        pos += (namesz + 3) & ~3
        if pos + descsz > end:
            return
        desc = get(pos, descsz)
        pos += (descsz + 3) & ~3
        n += 1
        yield name, ntype, desc


def string_at(buf, lo: int, hi: int, off: int, limit: int = 256) -> bytes:
    """The NUL-ended string at off in the string table buf[lo:hi], at most `limit` bytes; b"" when off
    is outside. buf has find() and slicing (bytes, mmap)."""
    start = lo + off
    if off < 0 or start >= hi:
        return b""
    stop = min(hi, start + limit)
    end = buf.find(b"\0", start, stop)
    return bytes(buf[start:end if end >= 0 else stop])


class Window:
    """Bytes [0, size) of a file region read through a 1 MiB window (larger when one read asks more),
    so walking a region costs what is read of it, not its size."""

    def __init__(self, f, base: int, size: int):
        self.f = f
        self.base = base
        self.size = size
        self.lo = 0
        self.buf = b""

    def get(self, pos: int, n: int) -> bytes:
        if pos < self.lo or pos + n > self.lo + len(self.buf):
            self.f.seek(self.base + pos)
            self.buf = self.f.read(max(0, min(max(n, 1 << 20), self.size - pos)))
            self.lo = pos
        return self.buf[pos - self.lo:pos - self.lo + n]
