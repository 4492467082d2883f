"""Facts about an executable read from its ELF file: sections, symbols, PT_TLS, build ids.

GoBinary is the one entry point the Go decoders use. It parses the ELF headers once (the ELF header,
the section and program header tables, with elf.py's bounded readers; no pyelftools), maps the file
read-only and answers everything else (symbols, static data, relocations) from that mapping with
struct, so opening even a large binary costs milliseconds. The Go-specific parts
(build info, pclntab) are built lazily on first use.

Addresses are link-time addresses throughout; load_bias() turns them into run-time ones for PIE.
"""
from __future__ import annotations

import bisect
import mmap
import os
import struct
import threading
from typing import Any, Dict, List, Optional, Tuple

from ..errors import UserError
from .. import elf
from ..arch import arch_of, by_elf_machine, normalize_arch

MAX_SECTIONS = 1 << 16  # section headers read at most (Go binaries have about 40)
MAX_SEGMENTS = 1 << 12  # program headers read at most (executables have about 10)
MAX_RELOCATIONS = 1 << 22


class _Section:
    __slots__ = ("name", "addr", "size", "offset", "type", "flags", "nobits")

    def __init__(self, name: str, addr: int, size: int, offset: int, sh_type: str, flags: int):
        self.name = name
        self.addr = addr
        self.size = size
        self.offset = offset
        self.type = sh_type
        self.flags = flags
        self.nobits = sh_type == "SHT_NOBITS"

    def __repr__(self) -> str:
        return "<section %s 0x%x+0x%x>" % (self.name, self.addr, self.size)


class _Segment:
    __slots__ = ("vaddr", "memsz", "filesz", "offset", "flags")

    def __init__(self, vaddr: int, memsz: int, filesz: int, offset: int, flags: int):
        self.vaddr = vaddr
        self.memsz = memsz
        self.filesz = filesz
        self.offset = offset
        self.flags = flags


_CACHE: Dict[Tuple[str, int, int], "GoBinary"] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 16


class GoBinary:
    """One executable (or shared object) on disk. Use GoBinary.open(path): it is cached."""

    path: str
    arch: str
    is_pie: bool
    entry: int
    ptr_size: int
    little_endian: bool
    build_id: Optional[str]
    go_build_id: Optional[str]
    tls: Optional[Tuple[int, int, int]]

    @classmethod
    def open(cls, path: str) -> "GoBinary":
        """The GoBinary for path, cached per (realpath, mtime, size).

        UserError (one line) when the file is missing, unreadable or not ELF. A non-Go ELF file is
        not an error here: check is_go."""
        if not path:
            raise UserError("no executable path given", "pass the program's path (gdb: file PROGRAM)")
        real = os.path.realpath(path)
        try:
            st = os.stat(real)
        except OSError as e:
            raise UserError("cannot open %s: %s" % (path, e.strerror or e),
                            "check the path of the executable")
        key = (real, int(st.st_mtime_ns), st.st_size)
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                return hit
        binary = cls(real, _display=path)
        with _CACHE_LOCK:
            for k in [k for k in _CACHE if k[0] == real]:
                del _CACHE[k]  # an older version of the same file
            while len(_CACHE) >= _CACHE_MAX:
                del _CACHE[next(iter(_CACHE))]
            _CACHE[key] = binary
        return binary

    @classmethod
    def clear_cache(cls) -> None:
        with _CACHE_LOCK:
            _CACHE.clear()

    def __init__(self, path: str, _display: Optional[str] = None):
        self.path = path
        shown = _display or path
        try:
            with open(path, "rb") as f:
                head = f.read(64)
                if head[:4] != b"\x7fELF":
                    raise UserError("%s is not an ELF file" % shown,
                                    "point at the program's executable, not a script or a core file")
                size = os.fstat(f.fileno()).st_size
                self._map: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except OSError as e:
            raise UserError("cannot read %s: %s" % (shown, e.strerror or e), "check the file's permissions")
        self._data = memoryview(self._map)
        try:
            self._parse_headers(shown)
        except elf.HeaderError as e:  # the ELF header is damaged
            raise UserError("%s is not a readable ELF file (%s)" % (
                shown, _HEADER_DAMAGE.get(e.kind, e.kind + " %d") % e.value), "point at an intact executable")
        except struct.error as e:
            raise UserError("%s is not a readable ELF file (%s)" % (shown, str(e).splitlines()[0] if str(e) else
                                                                      type(e).__name__),
                            "point at an intact executable")
        self._symcache: Dict[str, Optional[int]] = {}
        self._relocs: Optional[Dict[int, int]] = None
        self._buildinfo_done = False
        self._buildinfo = None
        self._pclntab = None
        self._pclntab_error: Optional[UserError] = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------------------------- headers
    def _parse_headers(self, shown: str) -> None:
        """The ELF header, then section and program headers, in bounded loops (at most
        MAX_SECTIONS/MAX_SEGMENTS, never past the file), with every file extent clamped to the file:
        damaged counts, offsets or sizes (up to 2**64) cost nothing and reach no slice or mmap.find out
        of range."""
        h = elf.parse_header(bytes(self._data[:64]))  # HeaderError: magic, length, EI_CLASS, EI_DATA
        self.elfclass = h.elfclass
        self.ptr_size = 8 if h.elfclass == 64 else 4
        self.little_endian = h.little_endian
        self._end = "<" if h.little_endian else ">"
        self._ptrfmt = self._end + ("Q" if self.ptr_size == 8 else "I")
        machine = h.e_machine
        self.machine = machine  # the number (e_machine)
        a = by_elf_machine(machine)
        other = elf.OTHER_MACHINES.get(machine)
        self.arch = a.name if a is not None else normalize_arch(other[2]) if other is not None else "EM %d" % machine
        self.elf_type = elf.ET_NAMES.get(h.e_type, "%d" % h.e_type)
        if self.elf_type == "ET_CORE":
            raise UserError("%s is a core file, not an executable" % shown,
                            "point at the program's executable (a core is loaded with gdb's `core FILE`)")
        if self.elf_type not in ("ET_EXEC", "ET_DYN", "ET_REL"):
            raise UserError("%s is not an executable (ELF type %s)" % (shown, self.elf_type),
                            "point at the program's executable")
        self.is_pie = self.elf_type == "ET_DYN"
        self.entry = h.e_entry
        cls, little = h.elfclass, h.little_endian
        shsize = elf.shdr_struct(cls, little).size
        sh0 = None
        if elf.table_fits(h.e_shoff, h.e_shentsize, 1, MAX_SECTIONS, len(self._data), shsize):
            sh0 = next(elf.section_headers(self._data, h.e_shoff, h.e_shentsize, 1, cls, little))
        phnum, shnum, shstrndx = elf.extended_numbers(h, sh0)
        self._read_sections(h, shnum, shstrndx)
        self._read_segments(h, phnum)
        # File-backed allocated sections, sorted, for read_static and scans.
        self._alloc = sorted((s for s in self.sections if s.flags & elf.SHF_ALLOC and not s.nobits and s.size),
                             key=lambda s: s.addr)
        self._alloc_starts = [s.addr for s in self._alloc]

    def _read_sections(self, h: elf.Header, shnum: int, shstrndx: int) -> None:
        """Sections (names, extents clamped to the file), symbol tables, build ids from SHT_NOTE."""
        d, flen, cls, little = self._data, len(self._data), h.elfclass, h.little_endian
        shoff, shentsize = h.e_shoff, h.e_shentsize
        n = elf.table_fits(shoff, shentsize, shnum, MAX_SECTIONS, flen, elf.shdr_struct(cls, little).size)
        raw = list(elf.section_headers(d, shoff, shentsize, n, cls, little))
        strtab = None
        if 0 < shstrndx < len(raw):
            sh = raw[shstrndx]
            lo, hi = elf.clamp(sh[4], sh[5], flen) if sh[1] != elf.SHT_NOBITS else (0, 0)
            if hi > lo:
                strtab = (lo, hi)
        self.sections: List[_Section] = []
        self._by_name: Dict[str, _Section] = {}
        symtab = dynsym = None
        self.build_id = None
        self.go_build_id = None
        ent_default = 24 if self.ptr_size == 8 else 16
        for name_off, sh_type, flags, addr, offset, size, link, _info, _align, entsize in raw:
            name = self._name(strtab, name_off)
            tname = elf.SHT_NAMES.get(sh_type, "SHT_%#x" % sh_type)
            if sh_type != elf.SHT_NOBITS:
                lo, hi = elf.clamp(offset, size, flen)
                offset, size = lo, hi - lo
            s = _Section(name, int(addr), int(size), int(offset), tname, int(flags))
            self.sections.append(s)
            self._by_name.setdefault(s.name, s)
            if sh_type == elf.SHT_SYMTAB:
                symtab = (s, int(link), int(entsize) if ent_default <= entsize <= 4096 else ent_default)
            elif sh_type == elf.SHT_DYNSYM:
                dynsym = (s, int(link), int(entsize) if ent_default <= entsize <= 4096 else ent_default)
            elif sh_type == elf.SHT_NOTE:
                self._scan_notes(s.offset, s.size)
        self._symtabs = []
        for entry in (symtab, dynsym):
            if entry is None:
                continue
            sec, link, entsize = entry
            if 0 <= link < len(self.sections) and not self.sections[link].nobits:
                self._symtabs.append((sec, self.sections[link], entsize))

    def _read_segments(self, h: elf.Header, phnum: int) -> None:
        """PT_LOAD segments (file extents clamped), PT_TLS, and build ids from PT_NOTE when the
        sections gave none."""
        flen, cls, little = len(self._data), h.elfclass, h.little_endian
        self.segments: List[_Segment] = []
        self.tls = None
        notes_from_segments = self.build_id is None and self.go_build_id is None
        n = elf.table_fits(h.e_phoff, h.e_phentsize, phnum, MAX_SEGMENTS, flen, elf.phdr_struct(cls, little).size)
        for p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, p_memsz, p_align in elf.program_headers(
                self._data, h.e_phoff, h.e_phentsize, n, cls, little):
            if p_type == elf.PT_LOAD:
                lo, hi = elf.clamp(p_offset, p_filesz, flen)
                self.segments.append(_Segment(int(p_vaddr), int(p_memsz), min(hi - lo, int(p_memsz)), lo,
                                              int(p_flags)))
            elif p_type == elf.PT_TLS:
                self.tls = (int(p_vaddr), int(p_memsz), int(p_align))
            elif p_type == elf.PT_NOTE and notes_from_segments:
                lo, hi = elf.clamp(p_offset, p_filesz, flen)
                self._scan_notes(lo, hi - lo)
        self.segments.sort(key=lambda s: s.vaddr)
        self._seg_starts = [s.vaddr for s in self.segments]

    def _name(self, strtab: Optional[Tuple[int, int]], off: int) -> str:
        """A section name from the section name table, at most 256 bytes ('' when out of range)."""
        if strtab is None:
            return ""
        return elf.string_at(self._map, strtab[0], strtab[1], off).decode("utf-8", "replace")

    def _scan_notes(self, offset: int, size: int) -> None:
        """Read GNU build-id and Go build id notes from raw note bytes (bounded by the region)."""
        d = self._data
        end = min(len(d), offset + size) - offset
        for name, ntype, desc in elf.notes(lambda pos, n: bytes(d[offset + pos:offset + pos + n]), end,
                                           self.little_endian, 64):
            if name == b"GNU" and ntype == elf.NT_GNU_BUILD_ID and self.build_id is None:
                self.build_id = desc.hex()
            elif name == b"Go" and ntype == elf.NT_GO_BUILDID and self.go_build_id is None:
                self.go_build_id = desc.rstrip(b"\0").decode("utf-8", "replace")

    # ----------------------------------------------------------------------------------- access
    def section(self, name: str) -> Optional[_Section]:
        """The first section with this name, or None."""
        return self._by_name.get(name)

    def section_data(self, name: str) -> Optional[memoryview]:
        s = self._by_name.get(name)
        if s is None or s.nobits:
            return None
        return self._data[s.offset:s.offset + s.size]

    def section_at(self, vaddr: int) -> Optional[_Section]:
        """The allocated, file-backed section holding vaddr."""
        i = bisect.bisect_right(self._alloc_starts, vaddr) - 1
        if i >= 0:
            s = self._alloc[i]
            if s.addr <= vaddr < s.addr + s.size:
                return s
        return None

    def _file_offset(self, vaddr: int, size: int) -> Optional[int]:
        """File offset of [vaddr, vaddr+size) when all of it is file-backed in one PT_LOAD segment."""
        i = bisect.bisect_right(self._seg_starts, vaddr) - 1
        if i >= 0:
            seg = self.segments[i]
            if seg.vaddr <= vaddr and vaddr + size <= seg.vaddr + seg.filesz:
                return seg.offset + (vaddr - seg.vaddr)
        if not self.segments:  # relocatable objects: fall back to sections
            s = self.section_at(vaddr)
            if s is not None and vaddr + size <= s.addr + s.size:
                return s.offset + (vaddr - s.addr)
        return None

    def file_view(self, vaddr: int, size: int) -> Optional[memoryview]:
        """Zero-copy view of file-backed bytes at a link-time address, or None."""
        off = self._file_offset(vaddr, size)
        if off is None or off + size > len(self._data):
            return None
        return self._data[off:off + size]

    def file_backed_extent(self, vaddr: int) -> int:
        """How many file-backed bytes follow vaddr inside its PT_LOAD segment (0 if none)."""
        i = bisect.bisect_right(self._seg_starts, vaddr) - 1
        if i >= 0:
            seg = self.segments[i]
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return seg.vaddr + seg.filesz - vaddr
        return 0

    def read_static(self, vaddr: int, size: int) -> bytes:
        """File-backed bytes at a link-time address. UserError when not all of it is in the file
        (e.g. .bss: read that from the running program instead)."""
        if size < 0:
            raise UserError("negative read size %d" % size)
        v = self.file_view(vaddr, size)
        if v is None:
            raise UserError("0x%x+%d is not file-backed data in %s" % (vaddr, size, os.path.basename(self.path)),
                            "read it from the running program instead")
        return bytes(v)

    def read_ptr_static(self, vaddr: int) -> int:
        """A pointer-sized word at a link-time address, as the dynamic loader would leave it relative
        to the load base: R_*_RELATIVE relocations win over the bytes in the file."""
        rel = self.relocations().get(vaddr)
        if rel is not None:
            return rel
        return struct.unpack(self._ptrfmt, self.read_static(vaddr, self.ptr_size))[0]

    def unpack_ptr(self, buf: Any, off: int = 0) -> int:
        return struct.unpack_from(self._ptrfmt, buf, off)[0]

    def relocations(self) -> Dict[int, int]:
        """{link-time address: addend} of the RELATIVE dynamic relocations (lazy; {} when none)."""
        if self._relocs is not None:
            return self._relocs
        relocs: Dict[int, int] = {}
        a = arch_of(self.arch)
        others = {"i386": elf.R_386_RELATIVE, "arm": elf.R_ARM_RELATIVE}
        want = a.elf_relative_reloc if a is not None else others.get(self.arch)
        if want is not None and self.is_pie:
            for s in self.sections:
                if s.type != "SHT_RELA" or s.nobits or not s.size:
                    continue
                if not s.flags & elf.SHF_ALLOC:
                    continue
                data = self._data[s.offset:s.offset + s.size]
                if len(relocs) >= MAX_RELOCATIONS:
                    break
                if self.ptr_size == 8:
                    fmt = self._end + "QQq"
                    n = min(len(data) // 24, MAX_RELOCATIONS)
                    for off, info, addend in struct.iter_unpack(fmt, data[:n * 24]):
                        if info & 0xffffffff == want:
                            relocs[off] = addend & 0xffffffffffffffff
                else:
                    fmt = self._end + "IIi"
                    n = min(len(data) // 12, MAX_RELOCATIONS)
                    for off, info, addend in struct.iter_unpack(fmt, data[:n * 12]):
                        if info & 0xff == want:
                            relocs[off] = addend & 0xffffffff
        self._relocs = relocs
        return relocs

    # ----------------------------------------------------------------------------------- symbols
    def symbol(self, name: str) -> Optional[int]:
        """Value of a defined symbol: .symtab first, then .dynsym. None when stripped or absent."""
        if name in self._symcache:
            return self._symcache[name]
        value = None
        want = name.encode("utf-8", "surrogateescape")
        for sec, strsec, entsize in self._symtabs:
            value = self._find_symbol(sec, strsec, entsize, want)
            if value is not None:
                break
        if len(self._symcache) > 4096:
            self._symcache.clear()
        self._symcache[name] = value
        return value

    def _find_symbol(self, sec: _Section, strsec: _Section, entsize: int, want: bytes) -> Optional[int]:
        d = self._data
        # String table offsets at which the wanted name starts (as a whole string or a suffix of one:
        # linkers share tails of strings, so the offset may point into a longer string). Searched in
        # the mapped file, without copying the table.
        offsets = set()
        s_lo, s_hi = strsec.offset, strsec.offset + strsec.size
        pat = want + b"\0"
        pos = self._map.find(pat, s_lo, s_hi)
        guard = 0
        while pos >= 0 and guard < 1024:
            offsets.add(pos - s_lo)
            pos = self._map.find(pat, pos + 1, s_hi)
            guard += 1
        if not offsets:
            return None
        # Find the entries naming those offsets with the C-speed search of the mapped file, not a
        # Python loop over every symbol (58k symbols cost 60 ms a lookup that way).
        if self.ptr_size == 8:
            fmt = struct.Struct(self._end + "IBBHQQ")
        else:
            fmt = struct.Struct(self._end + "IIIBBH")
        lo, hi = sec.offset, sec.offset + sec.size
        for off in sorted(offsets):
            needle = struct.pack(self._end + "I", off)
            pos = self._map.find(needle, lo, hi)
            hits = 0
            while pos >= 0 and hits < 1 << 16:
                hits += 1
                if (pos - lo) % entsize == 0 and pos + fmt.size <= hi:
                    if self.ptr_size == 8:
                        _n, _info, _o, st_shndx, st_value, _s = fmt.unpack_from(d, pos)
                    else:
                        _n, st_value, _s, _info, _o, st_shndx = fmt.unpack_from(d, pos)
                    if st_shndx != 0:
                        return st_value
                pos = self._map.find(needle, pos + 1, hi)
        return None

    @property
    def has_symbols(self) -> bool:
        return any(sec.name == ".symtab" for sec, _, _ in self._symtabs)

    # ----------------------------------------------------------------------------------- Go parts
    @property
    def buildinfo(self):
        """The Go build info (BuildInfo) or None when absent or unreadable."""
        with self._lock:
            if not self._buildinfo_done:
                self._buildinfo_done = True
                self._buildinfo = self._read_buildinfo()
            return self._buildinfo

    def _read_buildinfo(self):
        from .buildinfo import BUILDINFO_MAGIC, read_buildinfo

        sec = self._by_name.get(".go.buildinfo")
        try:
            if sec is not None and not sec.nobits:
                return read_buildinfo(self.read_static, sec.addr, sec.size, read_ptr=self.read_ptr_static)
            # No section: the linker puts the blob at the start of the writable data; search a bounded
            # window of each writable section (as debug/buildinfo does with the data segment).
            for s in self._alloc:
                if s.flags & elf.SHF_WRITE:
                    window = self._data[s.offset:s.offset + min(s.size, 1 << 16)]
                    if bytes(window).find(BUILDINFO_MAGIC) >= 0:
                        return read_buildinfo(self.read_static, s.addr, min(s.size, 1 << 16),
                                              read_ptr=self.read_ptr_static)
        except UserError:
            return None
        return None

    @property
    def go_version(self) -> Optional[str]:
        """'go1.23.4' from the build info, else from runtime.buildVersion; None if unknown."""
        bi = self.buildinfo
        if bi is not None and bi.go_version:
            return bi.go_version
        return self.runtime_build_version()

    def runtime_build_version(self) -> Optional[str]:
        """The string variable runtime.buildVersion as linked (needs the symbol table)."""
        addr = self.symbol("runtime.buildVersion")
        if addr is None:
            return None
        try:
            ptr = self.read_ptr_static(addr)
            n = self.unpack_ptr(self.read_static(addr + self.ptr_size, self.ptr_size))
            if 0 < n < 128:
                s = self.read_static(ptr, n).decode("utf-8", "replace")
                if s.startswith("go") or s.startswith("devel"):
                    return s
        except UserError:
            return None
        return None

    @property
    def pclntab(self):
        """The parsed Go pclntab (PcLnTab). UserError when absent or corrupt."""
        with self._lock:
            if self._pclntab is None:
                if self._pclntab_error is not None:
                    raise self._pclntab_error
                from .pclntab import load_pclntab
                try:
                    self._pclntab = load_pclntab(self)
                except UserError as e:
                    self._pclntab_error = e
                    raise
            return self._pclntab

    @property
    def is_go(self) -> bool:
        """True when the file has a Go pclntab or Go build info."""
        if self._by_name.get(".gopclntab") is not None or self._by_name.get(".go.buildinfo") is not None:
            return True
        if self.buildinfo is not None:
            return True
        try:
            self.pclntab
            return True
        except UserError:
            return False

    def writable_sections(self) -> List[_Section]:
        return [s for s in self._alloc if s.flags & elf.SHF_WRITE]

    def readonly_data_sections(self) -> List[_Section]:
        return [s for s in self._alloc if not s.flags & (elf.SHF_WRITE | elf.SHF_EXECINSTR)]

    def is_text(self, vaddr: int) -> bool:
        s = self.section_at(vaddr)
        return s is not None and bool(s.flags & elf.SHF_EXECINSTR)

    def __repr__(self) -> str:
        return "<GoBinary %s %s%s>" % (self.path, self.arch, " pie" if self.is_pie else "")


# elf.HeaderError's kinds (the magic is checked before), in words; %d is its value.
_HEADER_DAMAGE = {"short": "the ELF header is cut off: %d bytes", "class": "EI_CLASS %d: neither 32- nor 64-bit",
                  "data": "EI_DATA %d: neither little- nor big-endian"}


def load_bias(binary: GoBinary, auxv: Dict[int, int]) -> int:
    """Run-time minus link-time address of the executable: auxv[AT_ENTRY] - e_entry for PIE, else 0."""
    if not binary.is_pie:
        return 0
    at_entry = (auxv or {}).get(elf.AT_ENTRY)
    if not at_entry:
        return 0
    return at_entry - binary.entry
