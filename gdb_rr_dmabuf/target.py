"""The one seam between the decoders and a stopped program.

A Target gives memory, registers and a few facts about one selected thread. Decoders only talk to
this protocol, so the same code runs over gdb (commands/gdbtarget.py), over an ELF core file
(CoreTarget below) and over plain bytes in tests (MemoryTarget).

Register names are lower case, as gdb spells them: x86-64 rax..r15, rip, rsp, rbp, orig_rax, fs_base,
gs_base, eflags; aarch64 x0..x30, sp, pc, and tpidr when known. Values are unsigned ints.
"""
from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from .errors import TargetReadError, UserError

ARCH_X86_64 = "x86-64"
ARCH_AARCH64 = "aarch64"
SUPPORTED_ARCHES = (ARCH_X86_64, ARCH_AARCH64)


def normalize_arch(name: str) -> str:
    """Map gdb/ELF architecture spellings onto ours ('x86-64', 'aarch64'); others pass through."""
    n = (name or "").lower()
    if n in ("i386:x86-64", "x86-64", "x86_64", "amd64", "em_x86_64"):
        return ARCH_X86_64
    if n in ("aarch64", "arm64", "em_aarch64") or n.startswith("aarch64"):
        return ARCH_AARCH64
    return n


@dataclass
class NativeFrame:
    """One frame from a native unwinder (gdb's), innermost first."""
    pc: int
    function: Optional[str] = None
    objfile: Optional[str] = None  # shared object or executable path
    sp: Optional[int] = None
    file: Optional[str] = None
    line: Optional[int] = None


class Target:
    """Base class: subclasses override read() and registers(); the rest has defaults."""

    arch: str = ARCH_X86_64
    tid: Optional[int] = None
    pid: Optional[int] = None  # set only when /proc/<pid> on this machine is the target
    executable: Optional[str] = None
    kind: str = "unknown"  # 'live', 'remote', 'core', 'memory'

    @property
    def ptr_size(self) -> int:
        return 8

    @property
    def little_endian(self) -> bool:
        return True

    def read(self, addr: int, size: int) -> bytes:
        raise NotImplementedError

    def registers(self) -> Dict[str, int]:
        raise NotImplementedError

    def native_frames(self, limit: int = 64, stop: Optional[Callable[[int], bool]] = None) -> List[NativeFrame]:
        """Native backtrace of the selected thread, innermost first; [] when not available.
        stop(pc) -> True ends the walk after that frame (go-callers stops at the first Go frame: past it
        gdb's unwinder runs through asmcgocall into the system stack, slowly and into garbage)."""
        return []

    def fd_link(self, fd: int) -> Optional[str]:
        """What an fd of the target refers to (readlink of /proc/PID/fd/N), or None."""
        if self.pid is None or fd is None or fd < 0:
            return None
        try:
            return os.readlink("/proc/%d/fd/%d" % (self.pid, fd))
        except OSError:
            return None

    def fd_links(self) -> Dict[int, str]:
        """All fds of the process with their links; {} when not known."""
        if self.pid is None:
            return {}
        out: Dict[int, str] = {}
        try:
            names = os.listdir("/proc/%d/fd" % self.pid)
        except OSError:
            return {}
        for n in names:
            try:
                out[int(n)] = os.readlink("/proc/%d/fd/%s" % (self.pid, n))
            except (OSError, ValueError):
                pass
        return out

    def auxv(self) -> Dict[int, int]:
        """The process's auxiliary vector (AT_* -> value); {} when not known. AT_ENTRY (9) gives the
        load bias of a PIE executable: auxv[9] - ELF e_entry."""
        if self.pid is None:
            return {}
        try:
            with open("/proc/%d/auxv" % self.pid, "rb") as f:
                return parse_auxv(f.read())
        except OSError:
            return {}

    def environ(self) -> Optional[Dict[str, str]]:
        """The process environment, when readable from /proc."""
        if self.pid is None:
            return None
        try:
            with open("/proc/%d/environ" % self.pid, "rb") as f:
                raw = f.read()
        except OSError:
            return None
        env = {}
        for item in raw.split(b"\0"):
            if b"=" in item:
                k, v = item.split(b"=", 1)
                env[k.decode(errors="replace")] = v.decode(errors="replace")
        return env

    # Convenience readers -------------------------------------------------------------------------
    def read_u32(self, addr: int) -> int:
        return struct.unpack("<I", self.read(addr, 4))[0]

    def read_u64(self, addr: int) -> int:
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def read_ptr(self, addr: int) -> int:
        return self.read_u64(addr)

    def read_cstring(self, addr: int, limit: int = 256) -> bytes:
        """Bytes up to a NUL (excluded), at most `limit`; reads page-wise so a short string near
        the end of a mapping still works."""
        out = b""
        while len(out) < limit:
            chunk = min(limit - len(out), 0x1000 - ((addr + len(out)) & 0xFFF))
            try:
                data = self.read(addr + len(out), chunk)
            except UserError:
                if chunk == 1:
                    raise
                data = self.read(addr + len(out), 1)  # a region ending before the chunk: go bytewise
            nul = data.find(b"\0")
            if nul >= 0:
                return out + data[:nul]
            out += data
        return out

    def can_read(self, addr: int, size: int = 1) -> bool:
        try:
            self.read(addr, size)
            return True
        except UserError:
            return False


AT_ENTRY = 9


def parse_auxv(raw: bytes) -> Dict[int, int]:
    """64-bit auxv bytes (pairs of u64, ending with AT_NULL) -> dict."""
    out: Dict[int, int] = {}
    for i in range(0, len(raw) - 15, 16):
        key, val = struct.unpack_from("<QQ", raw, i)
        if key == 0:
            break
        out[key] = val
    return out


class MemoryTarget(Target):
    """A target made of byte ranges and a register dict, for tests and for `--request` decoding."""

    kind = "memory"

    def __init__(self, regions: Optional[Dict[int, bytes]] = None, regs: Optional[Dict[str, int]] = None,
                 arch: str = ARCH_X86_64, tid: Optional[int] = None, executable: Optional[str] = None,
                 frames: Optional[List[NativeFrame]] = None, links: Optional[Dict[int, str]] = None,
                 auxv: Optional[Dict[int, int]] = None):
        self._starts: List[int] = []
        self._regions: List[Tuple[int, bytes]] = []
        for start, data in sorted((regions or {}).items()):
            self._starts.append(start)
            self._regions.append((start, bytes(data)))
        self._regs = dict(regs or {})
        self.arch = arch
        self.tid = tid
        self.executable = executable
        self._frames = list(frames or [])
        self._links = dict(links or {})
        self._auxv = dict(auxv or {})
        self.reads = 0  # number of read() calls, for tests of block reading

    def read(self, addr: int, size: int) -> bytes:
        self.reads += 1
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            start, data = self._regions[i]
            off = addr - start
            if 0 <= off and off + size <= len(data):
                return data[off:off + size]
        raise TargetReadError(addr, size)

    def registers(self) -> Dict[str, int]:
        return dict(self._regs)

    def native_frames(self, limit: int = 64, stop: Optional[Callable[[int], bool]] = None) -> List[NativeFrame]:
        out: List[NativeFrame] = []
        for f in self._frames[:limit]:
            out.append(f)
            if stop is not None and stop(f.pc):
                break
        return out

    def fd_link(self, fd: int) -> Optional[str]:
        return self._links.get(fd)

    def fd_links(self) -> Dict[int, str]:
        return dict(self._links)

    def auxv(self) -> Dict[int, int]:
        return dict(self._auxv)


# --------------------------------------------------------------------------------------------------
# Core files

_X86_64_PRSTATUS_REGS = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
    "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
)
_AARCH64_PRSTATUS_REGS = tuple("x%d" % i for i in range(31)) + ("sp", "pc", "pstate")

# struct elf_prstatus (64-bit): si_signo, si_code, si_errno (3 x int), pr_cursig (short, padded),
# pr_sigpend, pr_sighold (2 x ulong), pr_pid, pr_ppid, pr_pgrp, pr_sid (4 x int), 4 timevals (64 bytes),
# then pr_reg.
_PRSTATUS_PID_OFF = 32
_PRSTATUS_REG_OFF = 112


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


class CoreTarget(Target):
    """An ELF core file (gdb's gcore or the kernel's) read with pyelftools.

    Memory comes from the PT_LOAD segments; bytes the core leaves out (read-only file mappings that
    gcore skips) are read from the mapped files named in the NT_FILE note, when they exist here.
    """

    kind = "core"

    def __init__(self, path: str, executable: Optional[str] = None, thread_index: int = 0):
        try:
            from elftools.elf.elffile import ELFFile
        except ImportError:  # pragma: no cover - the venv has it
            raise UserError("pyelftools is not installed", "run tools/bootstrap.sh or pip install pyelftools")
        self.path = path
        self._fh = None
        try:
            f = open(path, "rb")
        except OSError as e:
            raise UserError("cannot open core file %s (%s)" % (path, e.strerror), "check the path")
        with f:
            try:
                elf = ELFFile(f)
            except Exception:
                raise UserError("%s is not an ELF file" % path, "give a core file written by gcore or the kernel")
            if elf.header["e_type"] != "ET_CORE":
                raise UserError("%s is not a core file (ELF type %s)" % (path, elf.header["e_type"]),
                                "give a core file written by gcore or the kernel")
            self.arch = normalize_arch(elf.header["e_machine"])
            if self.arch not in SUPPORTED_ARCHES:
                raise UserError("core file architecture %s is not supported" % elf.header["e_machine"],
                                "gdb-rr-dmabuf reads x86-64 and aarch64 targets")
            self.threads: List[CoreThread] = []
            self._segments: List[_Segment] = []
            self._files: List[_FileMap] = []
            self._auxv: Dict[int, int] = {}
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_LOAD":
                    # Not read now: a Go program's core is often gigabytes of reserved arenas.
                    self._segments.append(_Segment(seg["p_vaddr"], seg["p_memsz"], seg["p_offset"], seg["p_filesz"]))
                elif seg["p_type"] == "PT_NOTE":
                    for note in seg.iter_notes():
                        self._note(note)
        self._segments.sort(key=lambda s: s.vaddr)
        self._starts = [s.vaddr for s in self._segments]
        if not self.threads:
            raise UserError("core file %s has no thread registers" % path, "write it with gdb's gcore")
        if not 0 <= thread_index < len(self.threads):
            raise UserError("core file has %d threads, no thread %d" % (len(self.threads), thread_index + 1))
        self._thread = self.threads[thread_index]
        self.tid = self._thread.tid
        self.executable = executable or self._guess_executable()
        self._file_cache: Dict[str, Optional[object]] = {}

    def _note(self, note) -> None:
        t = note["n_type"]
        if t == "NT_PRSTATUS":
            desc = note["n_desc"]
            raw = desc if isinstance(desc, bytes) else None
            if raw is None:
                # pyelftools parses prstatus into a container only for some arches; use the raw bytes.
                raw = note.get("n_descdata")
            if raw is None:
                return
            names = _X86_64_PRSTATUS_REGS if self.arch == ARCH_X86_64 else _AARCH64_PRSTATUS_REGS
            pid = struct.unpack_from("<i", raw, _PRSTATUS_PID_OFF)[0]
            vals = struct.unpack_from("<%dQ" % len(names), raw, _PRSTATUS_REG_OFF)
            self.threads.append(CoreThread(pid, dict(zip(names, vals))))
        elif t in (0x401, "NT_ARM_TLS") and self.threads:
            # aarch64 thread pointer (tpidr_el0) of the thread whose NT_PRSTATUS came just before.
            desc = note["n_desc"]
            raw = desc if isinstance(desc, bytes) else note.get("n_descdata")
            if isinstance(raw, bytes) and len(raw) >= 8:
                self.threads[-1].regs["tpidr"] = struct.unpack_from("<Q", raw, 0)[0]
        elif t == "NT_AUXV":
            desc = note["n_desc"]
            raw = desc if isinstance(desc, bytes) else note.get("n_descdata")
            if isinstance(raw, bytes):
                self._auxv = parse_auxv(raw)
            else:
                try:
                    for entry in desc["auxv"]:
                        t_ = entry["a_type"]
                        key = t_ if isinstance(t_, int) else {"AT_ENTRY": 9}.get(t_, None)
                        if key is not None:
                            self._auxv[key] = entry["a_val"]
                except (KeyError, TypeError):
                    pass
        elif t == "NT_FILE":
            desc = note["n_desc"]
            try:
                page = desc["page_size"]
                for entry, name in zip(desc["Elf_Nt_File_Entry"], desc["filename"]):
                    nm = name.decode(errors="replace") if isinstance(name, bytes) else name
                    self._files.append(_FileMap(entry["vm_start"], entry["vm_end"], entry["page_offset"] * page, nm))
            except (KeyError, TypeError):
                pass

    def _guess_executable(self) -> Optional[str]:
        # The first file mapping is normally the executable.
        for fm in self._files:
            if os.path.isfile(fm.path):
                return fm.path
        return None

    def select_thread(self, tid: int) -> None:
        for t in self.threads:
            if t.tid == tid:
                self._thread = t
                self.tid = tid
                return
        raise UserError("core file has no thread %d" % tid, "threads: " + ", ".join(str(t.tid) for t in self.threads))

    def registers(self) -> Dict[str, int]:
        return dict(self._thread.regs)

    def auxv(self) -> Dict[int, int]:
        return dict(self._auxv)

    def read(self, addr: int, size: int) -> bytes:
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
                fromfile = self._read_file(addr, n)
                if fromfile:
                    return fromfile
                return b""
        return self._read_file(addr, size)

    def _core_bytes(self, offset: int, n: int) -> bytes:
        if self._fh is None:
            self._fh = open(self.path, "rb")
        self._fh.seek(offset)
        return self._fh.read(n)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _read_file(self, addr: int, size: int) -> bytes:
        for fm in self._files:
            if fm.start <= addr < fm.end:
                n = min(size, fm.end - addr)
                try:
                    with open(fm.path, "rb") as f:
                        f.seek(fm.offset + addr - fm.start)
                        return f.read(n)
                except OSError:
                    return b""
        return b""

