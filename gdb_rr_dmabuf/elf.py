"""Bounded ELF primitives shared by the core reader (target_core.CoreTarget) and the executable reader
(go_runtime.binary.GoBinary): the constants of elf.h they use, the ELF header, program and section
header tables, notes and string tables; and the function symbol tables that name check's innermost
native frame (target_ptrace).

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


# Function symbols --------------------------------------------------------------------------------
SHT_STRTAB = 3
STT_FUNC = 2
MAX_SYMBOLS = 1 << 22        # entries read at most per file (libxul, the largest we know, has ~500k)
MAX_SECTIONS_READ = 1 << 18  # section headers (linkers' -ffunction-sections objects reach ~100k)
MAX_SYMBOL_NAME = 4096       # bytes of one name read at most (C++ names reach ~2k)
MAX_COVERING = 256           # symbols covering one address whose names are read at most
# Elf64_Sym: name info other shndx value size; Elf32_Sym: name value size info other shndx.
_SYM_FORMATS = {64: "IBBHQQ", 32: "IIIBBH"}


class SymbolsError(ValueError):
    """Why a file's symbol tables cannot be read: one line naming the damage."""


class FunctionSymbols:
    """The STT_FUNC symbols with a value of a file's SHT_SYMTAB and SHT_DYNSYM tables: (value, size) and
    where the name is; a name is read (bounded) only when asked for, so a lookup costs the symbols
    compared, never the string tables' size. Values are link-time addresses (`pie`: ET_DYN, so relative
    to the load base)."""

    def __init__(self, pie: bool, entries: list, strtabs: list):
        self.pie = pie
        self._entries = entries     # (value, size, index into strtabs, name offset), sorted
        self._strtabs = strtabs     # the string tables' bytes

    def __len__(self) -> int:
        return len(self._entries)

    def _name(self, table: int, off: int) -> str:
        tab = self._strtabs[table]
        return string_at(tab, 0, len(tab), off, MAX_SYMBOL_NAME).decode("utf-8", "replace")

    def __iter__(self) -> Iterator[Tuple[int, int, str]]:
        """Every symbol as (value, size, name), in (value, size) order."""
        for value, size, table, off in self._entries:
            yield value, size, self._name(table, off)

    def covering(self, addr: int) -> list:
        """The symbols whose [value, value + max(size, 1)) holds addr, as (value, size, name) sorted, at
        most MAX_COVERING of them (the first by value)."""
        hits = []
        for value, size, table, off in self._entries:
            if value > addr:
                break                       # sorted by value: no later symbol starts at or below addr
            if addr < value + max(size, 1):
                hits.append((value, size, table, off))
                if len(hits) >= MAX_COVERING:
                    break
        return sorted((v, s, self._name(t, o)) for v, s, t, o in hits)

    def name_at(self, addr: int) -> Optional[str]:
        """The function holding addr: of the symbols covering it, in (value, size, name) order, the first
        whose name is not a glibc internal alias (__GI_*), else the last one; None when none covers it."""
        best = None
        for _v, _s, name in self.covering(addr):
            best = name
            if not name.startswith("__GI_"):
                break
        return best


def function_symbols(buf, max_symbols: int = MAX_SYMBOLS) -> FunctionSymbols:
    """The function symbols of the ELF file in buf (bytes or mmap: len, slicing, find): the first
    SHT_SYMTAB and the first SHT_DYNSYM, in that order. Reads at most max_symbols entries and copies
    only the tables it reads. HeaderError for a damaged ELF header; SymbolsError (one line) when the
    section header table, a symbol table or its string table lies outside the file or is malformed. A
    file without sections or symbol tables has no symbols (no error)."""
    flen = len(buf)
    h = parse_header(bytes(buf[:EHDR64_SIZE]))
    cls, little = h.elfclass, h.little_endian
    shsize = shdr_struct(cls, little).size
    if h.e_shoff == 0:
        return FunctionSymbols(h.e_type == ET_DYN, [], [])
    if h.e_shentsize < shsize or h.e_shoff + shsize > flen:
        raise SymbolsError("the section header table (offset %d, entries of %d bytes) is not inside the file "
                           "(%d bytes)" % (h.e_shoff, h.e_shentsize, flen))
    sh0 = next(section_headers(buf, h.e_shoff, h.e_shentsize, 1, cls, little))
    _phnum, shnum, _shstrndx = extended_numbers(h, sh0)
    if shnum > MAX_SECTIONS_READ:
        raise SymbolsError("%d sections claimed, more than the %d read" % (shnum, MAX_SECTIONS_READ))
    if h.e_shoff + shnum * h.e_shentsize > flen:
        raise SymbolsError("the section header table (%d entries at offset %d) runs past the end of the file "
                           "(%d bytes)" % (shnum, h.e_shoff, flen))
    shdrs = list(section_headers(buf, h.e_shoff, h.e_shentsize, shnum, cls, little))
    tables = []
    for want in (SHT_SYMTAB, SHT_DYNSYM):
        for i, sh in enumerate(shdrs):
            if sh[1] == want:
                tables.append((i, sh))
                break
    sym = struct.Struct(("<" if little else ">") + _SYM_FORMATS[cls])
    entries: list = []
    strtabs: list = []
    budget = max_symbols
    for i, (_name, _type, _flags, _addr, offset, size, link, _info, _align, entsize) in tables:
        what = "section %d (%s)" % (i, SHT_NAMES[_type])
        if entsize < sym.size:
            raise SymbolsError("%s has entries of %d bytes; an ELF%d symbol takes %d" % (what, entsize, cls,
                                                                                        sym.size))
        if offset + size > flen:
            raise SymbolsError("%s (%d bytes at offset %d) runs past the end of the file (%d bytes)"
                               % (what, size, offset, flen))
        if not 0 < link < shnum or shdrs[link][1] != SHT_STRTAB:
            raise SymbolsError("%s links to section %d, which is not a string table" % (what, link))
        s_off, s_size = shdrs[link][4], shdrs[link][5]
        if s_off + s_size > flen:
            raise SymbolsError("the string table of %s (%d bytes at offset %d) runs past the end of the file "
                               "(%d bytes)" % (what, s_size, s_off, flen))
        count = min(size // entsize, budget)
        budget -= count
        raw = bytes(buf[offset:offset + count * entsize])
        if entsize == sym.size:
            rows = sym.iter_unpack(raw)
        else:
            rows = (sym.unpack_from(raw, k * entsize) for k in range(count))
        t = len(strtabs)
        if cls == 64:
            entries.extend((value, sz, t, name) for name, info, _o, _x, value, sz in rows
                           if info & 0xF == STT_FUNC and value)
        else:
            entries.extend((value, sz, t, name) for name, value, sz, info, _o, _x in rows
                           if info & 0xF == STT_FUNC and value)
        strtabs.append(bytes(buf[s_off:s_off + s_size]))
    entries.sort()
    return FunctionSymbols(h.e_type == ET_DYN, entries, strtabs)
