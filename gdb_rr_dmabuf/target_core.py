"""CoreTarget: the Target backend over an ELF core file (gdb's gcore or the kernel's), read with the
bounded ELF primitives of elf.py."""
from __future__ import annotations

import bisect
import os
import stat
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from . import elf
from .arch import arch_of, by_elf_machine
from .errors import TargetReadError, UserError
from .target import Target, parse_auxv

# struct elf_prstatus (64-bit): si_signo, si_code, si_errno (3 x int), pr_cursig (short, padded),
# pr_sigpend, pr_sighold (2 x ulong), pr_pid, pr_ppid, pr_pgrp, pr_sid (4 x int), 4 timevals (64 bytes),
# then pr_reg.
_PRSTATUS_PID_OFF = 32
_PRSTATUS_REG_OFF = 112

# Bounds that hold whatever counts a damaged core claims: the work done opening a core never depends
# on the size of the file, only on these. Real cores stay far below them (Linux's default
# vm.max_map_count is 65530 mappings, Go's default thread limit 10000 threads, ~6 notes a thread).
MAX_CORE_SEGMENTS = 1 << 20
MAX_NOTE_BYTES = 64 << 20
MAX_NOTES = 1 << 18
MAX_CORE_READ = 1 << 28  # one read() of target memory


@dataclass
class CoreThread:
    tid: int
    regs: Dict[str, int]


@dataclass
class _Segment:
    vaddr: int
    memsz: int
    offset: int  # in the core file
    filesz: int  # bytes present in the core; the rest up to memsz is in a mapped file (see CoreTarget)


@dataclass
class _FileMap:
    start: int
    end: int
    offset: int  # in bytes
    path: str


def _bad_core(path: str, why: str) -> UserError:
    return UserError("%s is a damaged core file (%s)" % (path, why),
                     "write the core again (gdb's gcore, or the kernel's core dump) and check it is complete")


class CoreTarget(Target):
    """An ELF core file (gdb's gcore or the kernel's), read with struct within fixed bounds.

    Memory comes from the PT_LOAD segments; bytes the core leaves out (read-only file mappings that
    gcore skips) are read from the mapped files named in the NT_FILE note, when they exist here as
    regular files. A damaged core gives one UserError line, or, when the damage only cuts data off (a
    truncated file, a segment past its end), a target with that memory unreadable and a line in
    `warnings`. Opening a core reads its headers and notes only, never more than the MAX_* bounds.
    """

    kind = "core"

    def __init__(self, path: str, executable: Optional[str] = None, thread_index: int = 0):
        self.path = path
        self._fh = None
        self.warnings: List[str] = []
        try:
            st = os.stat(path)
        except OSError as e:
            raise UserError("cannot open core file %s (%s)" % (path, e.strerror), "check the path")
        if not stat.S_ISREG(st.st_mode):
            raise UserError("%s is not a regular file" % path, "give a core file written by gcore or the kernel")
        self._file_size = st.st_size
        self.threads: List[CoreThread] = []
        self._segments: List[_Segment] = []
        self._files: List[_FileMap] = []
        self._auxv: Dict[int, int] = {}
        try:
            f = open(path, "rb")
        except OSError as e:
            raise UserError("cannot open core file %s (%s)" % (path, e.strerror), "check the path")
        with f:
            self._parse(f)
        self._segments.sort(key=lambda s: s.vaddr)
        self._starts = [s.vaddr for s in self._segments]
        self._files.sort(key=lambda m: m.start)
        self._file_starts = [m.start for m in self._files]
        if not self.threads:
            raise UserError("core file %s has no thread registers" % path, "write it with gdb's gcore")
        if not 0 <= thread_index < len(self.threads):
            raise UserError("core file has %d threads, no thread %d" % (len(self.threads), thread_index + 1))
        self._thread = self.threads[thread_index]
        self.tid = self._thread.tid
        self._mapped_ok: Dict[str, int] = {}
        self.executable = executable or self._guess_executable()

    # ------------------------------------------------------------------------------------ parsing
    def _parse(self, f) -> None:
        """Segments and notes, from the program header table."""
        path = self.path
        table, e_phnum, e_phentsize = self._program_headers(f)
        note_budget = MAX_NOTE_BYTES
        notes: List[Tuple[int, int]] = []
        cut = 0
        for p_type, _flags, offset, vaddr, _pa, filesz, memsz, _align in elf.program_headers(
                table, 0, e_phentsize, e_phnum, 64, True):
            if p_type == elf.PT_LOAD:
                # Not read now: a Go program's core is often gigabytes of reserved arenas.
                present = filesz
                if offset >= self._file_size:
                    present = 0
                elif offset + filesz > self._file_size:
                    present = self._file_size - offset
                if present < filesz:
                    cut += 1
                self._segments.append(_Segment(vaddr, memsz, offset, min(present, memsz)))
            elif p_type == elf.PT_NOTE:
                if offset >= self._file_size or not filesz:
                    continue
                n = min(filesz, self._file_size - offset, note_budget)
                note_budget -= n
                if n:
                    notes.append((offset, n))
        if cut:
            self.warnings.append("core file %s: %d memory segment%s cut off (truncated file?): that memory "
                                 "reads as unavailable" % (path, cut, "" if cut == 1 else "s"))
        count = 0
        for offset, n in notes:
            # Read a window at a time, so a damaged segment costs what its notes say, not its size.
            # Every note Linux or gdb writes has a short name ("CORE", "LINUX"): a name size of 0 or
            # over 256 means the rest of the segment is damaged or zero-filled.
            for name, ntype, desc in elf.notes(elf.Window(f, offset, n).get, n, True, MAX_NOTES - count, 256):
                if name is None:
                    self.warnings.append("a note without a name in the core: the notes after it are ignored")
                    break
                count += 1
                self._note(name, ntype, desc)
            if count >= MAX_NOTES:
                self.warnings.append("core file %s: more than %d notes; the rest is ignored" % (path, MAX_NOTES))
                break

    def _program_headers(self, f) -> Tuple[bytes, int, int]:
        """Check the ELF header (a 64-bit little-endian core of an arch we read) and read the program
        header table within the bounds: (its bytes, entry count, entry size)."""
        path = self.path
        raw = f.read(64)
        try:
            h = elf.parse_header(raw)
        except elf.HeaderError as e:
            if e.kind == "magic":
                raise UserError("%s is not an ELF file" % path, "give a core file written by gcore or the kernel")
            h = None  # cut off, or an EI_CLASS / EI_DATA that is not ELF's: said below
        if len(raw) < 64:
            raise _bad_core(path, "the ELF header is cut off")
        if raw[4] != elf.ELFCLASS64:
            raise UserError("%s is a 32-bit ELF file" % path, "gdb-rr-dmabuf reads 64-bit x86-64 and aarch64 cores")
        if raw[5] != elf.ELFDATA2LSB or h is None:
            raise UserError("%s is a big-endian ELF file" % path,
                            "gdb-rr-dmabuf reads little-endian x86-64 and aarch64 cores")
        if h.e_type != elf.ET_CORE:
            raise UserError("%s is not a core file (ELF type %s)" % (path, elf.ET_NAMES.get(h.e_type, h.e_type)),
                            "give a core file written by gcore or the kernel")
        a = by_elf_machine(h.e_machine)
        if a is None:
            other = elf.OTHER_MACHINES.get(h.e_machine)
            raise UserError("core file architecture %s is not supported"
                            % (other[1] if other else "EM %d" % h.e_machine),
                            "gdb-rr-dmabuf reads x86-64 and aarch64 targets")
        self.arch = a.name
        phdr = elf.phdr_struct(64, True)
        e_phnum, e_phentsize, e_phoff = h.e_phnum, h.e_phentsize, h.e_phoff
        if e_phnum == elf.PN_XNUM:  # more than 65534 segments: the count is in section header 0's sh_info
            shdr = elf.shdr_struct(64, True)
            if not elf.table_fits(h.e_shoff, h.e_shentsize, 1, 1, self._file_size, shdr.size):
                raise _bad_core(path, "PN_XNUM program header count without a section header 0")
            f.seek(h.e_shoff)
            e_phnum = elf.extended_numbers(h, shdr.unpack(f.read(shdr.size)))[0]
        if e_phnum == 0:
            raise _bad_core(path, "no program headers")
        if e_phentsize < phdr.size:
            raise _bad_core(path, "program header size %d, want %d" % (e_phentsize, phdr.size))
        if e_phnum > MAX_CORE_SEGMENTS:
            raise _bad_core(path, "%d program headers, more than the %d this reader accepts"
                            % (e_phnum, MAX_CORE_SEGMENTS))
        if e_phoff >= self._file_size or e_phoff + e_phnum * e_phentsize > self._file_size:
            raise _bad_core(path, "the program headers (%d at offset 0x%x) go past the end of the file"
                            % (e_phnum, e_phoff))
        f.seek(e_phoff)
        table = f.read(e_phnum * e_phentsize)
        if len(table) < e_phnum * e_phentsize:
            raise _bad_core(path, "the program headers are cut off")
        return table, e_phnum, e_phentsize

    def _note(self, name: bytes, ntype: int, desc: bytes) -> None:
        if ntype == elf.NT_PRSTATUS and name == b"CORE":
            names = arch_of(self.arch).gregs
            if len(desc) < _PRSTATUS_REG_OFF + 8 * len(names):
                self.warnings.append("a thread's registers (NT_PRSTATUS) are cut off: thread left out")
                return
            pid = struct.unpack_from("<i", desc, _PRSTATUS_PID_OFF)[0]
            vals = struct.unpack_from("<%dQ" % len(names), desc, _PRSTATUS_REG_OFF)
            self.threads.append(CoreThread(pid, dict(zip(names, vals))))
        elif ntype == elf.NT_ARM_TLS and name == b"LINUX" and self.threads:
            # aarch64 thread pointer (tpidr_el0) of the thread whose NT_PRSTATUS came just before.
            if len(desc) >= 8:
                self.threads[-1].regs["tpidr"] = struct.unpack_from("<Q", desc, 0)[0]
        elif ntype == elf.NT_AUXV and name == b"CORE":
            self._auxv = parse_auxv(desc)
        elif ntype == elf.NT_FILE and name == b"CORE":
            self._nt_file(desc)

    def _nt_file(self, desc: bytes) -> None:
        """NT_FILE: count, page_size, count x (start, end, page offset), then count NUL-ended names.
        The count is capped by what the note can hold, so a damaged one costs its size at most."""
        if len(desc) < 16:
            return
        count, page = struct.unpack_from("<QQ", desc, 0)
        fits = (len(desc) - 16) // 24
        n = min(count, fits)
        names = desc[16 + 24 * n:].split(b"\0", n)
        if count > fits or len(names) < n:
            self.warnings.append("the core's list of mapped files (NT_FILE) is damaged: files read from it "
                                 "may be wrong")
        for i, (start, end, pgoff) in enumerate(struct.iter_unpack("<QQQ", desc[16:16 + 24 * n])):
            if i >= len(names):
                break
            if end > start:
                self._files.append(_FileMap(start, end, pgoff * page, names[i].decode("utf-8", "replace")))

    def _guess_executable(self) -> Optional[str]:
        # The first file mapping is normally the executable (only the first few are looked at).
        for fm in self._files[:16]:
            if self._mapped_size(fm.path) > 0:
                return fm.path
        return None

    # ------------------------------------------------------------------------------------ access
    def select_thread(self, tid: int) -> None:
        for t in self.threads:
            if t.tid == tid:
                self._thread = t
                self.tid = tid
                return
        raise UserError("core file has no thread %d" % tid,
                        "threads: " + ", ".join(str(t.tid) for t in self.threads[:32])
                        + (", ..." if len(self.threads) > 32 else ""))

    def registers(self) -> Dict[str, int]:
        return dict(self._thread.regs)

    def auxv(self) -> Dict[int, int]:
        return dict(self._auxv)

    def read(self, addr: int, size: int) -> bytes:
        if size < 0 or size > MAX_CORE_READ or addr < 0:
            raise TargetReadError(addr, max(size, 0), "size out of range")
        out = bytearray()
        cur = addr
        end = addr + size
        while cur < end:
            piece = self._read_some(cur, end - cur)
            if not piece:
                raise TargetReadError(addr, size, "not in the core file")
            out += piece
            cur += len(piece)
        return bytes(out)

    def _read_some(self, addr: int, size: int) -> bytes:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            seg = self._segments[i]
            off = addr - seg.vaddr
            if off < seg.memsz:
                n = min(size, seg.memsz - off)
                if off < seg.filesz:
                    n = min(n, seg.filesz - off)
                    return self._core_bytes(seg.offset + off, n)
                # Beyond filesz: gcore leaves out unchanged file-backed pages.
                return self._read_file(addr, n)
        return self._read_file(addr, size)

    def _core_bytes(self, offset: int, n: int) -> bytes:
        if offset >= self._file_size:
            return b""
        if self._fh is None:
            self._fh = open(self.path, "rb")
        self._fh.seek(offset)
        return self._fh.read(min(n, self._file_size - offset))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _mapped_size(self, path: str) -> int:
        """Size of a mapped file when it is a regular file here (never a FIFO or device: reading one
        could block or never end), else -1."""
        size = self._mapped_ok.get(path)
        if size is None:
            try:
                st = os.stat(path)
                size = st.st_size if stat.S_ISREG(st.st_mode) else -1
            except (OSError, ValueError):  # ValueError: a NUL byte in the name
                size = -1
            if len(self._mapped_ok) < 4096:
                self._mapped_ok[path] = size
        return size

    def _read_file(self, addr: int, size: int) -> bytes:
        i = bisect.bisect_right(self._file_starts, addr) - 1
        if i < 0:
            return b""
        fm = self._files[i]
        if not fm.start <= addr < fm.end:
            return b""
        n = min(size, fm.end - addr)
        pos = fm.offset + addr - fm.start
        fsize = self._mapped_size(fm.path)
        if pos >= fsize:
            return b""
        try:
            with open(fm.path, "rb") as f:
                f.seek(pos)
                return f.read(min(n, fsize - pos))
        except (OSError, ValueError, OverflowError):
            return b""
