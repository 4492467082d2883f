"""The one seam between the decoders and a stopped program.

A Target gives memory, registers and a few facts about one selected thread. Decoders only talk to
this protocol, so the same code runs over gdb (commands/gdbtarget.py), over an ELF core file
(target_core.CoreTarget), over a thread `check` holds stopped (target_ptrace.PtraceTarget) and over plain
bytes in tests (target_memory.MemoryTarget): one module per backend.

Register names are lower case, as gdb spells them: x86-64 rax..r15, rip, rsp, rbp, orig_rax, fs_base,
gs_base, eflags; aarch64 x0..x30, sp, pc, and tpidr when known. Values are unsigned ints.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence

from .errors import UserError

from .arch import SUPPORTED_ARCHES, X86_64, AARCH64, arch_of, by_elf_machine, normalize_arch  # noqa: F401

if TYPE_CHECKING:  # for the annotations only: no import at run time
    from .fdrecover import EntryRecord, FrameRegs

ARCH_X86_64 = X86_64.name
ARCH_AARCH64 = AARCH64.name


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
    """Base class: subclasses override read() and registers(); the rest has defaults.

    Every optional capability is declared here with the default that means "not supported", so callers
    call it directly and never probe: a backend overrides what it has. Optional ones:
      program             the path where the program runs (a remote stub's own name for it): None
      warnings            what the target itself found damaged (a core's notes): ()
      native_frames()     gdb's native backtrace: []
      fd_link(s), auxv(), environ()   from /proc/<pid> when pid is set: None / {} otherwise
      syscall_stop_kind() 'entry'/'exit' when a stop hook saw this very stop: None
      entry_record()      the stop hook's record of this thread's syscall entry: None
      fd_frames()         fdrecover.FrameRegs of the innermost frames (aarch64 fd recovery): []
    """

    arch: str = ARCH_X86_64
    tid: Optional[int] = None
    pid: Optional[int] = None  # set only when /proc/<pid> on this machine is the target
    executable: Optional[str] = None
    program: Optional[str] = None  # where it runs, when that differs from or adds to executable
    kind: str = "unknown"  # 'live', 'remote', 'core', 'memory'
    warnings: Sequence[str] = ()  # what the target found damaged, for the reports' warnings

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

    def syscall_stop_kind(self) -> Optional[str]:
        """'entry' or 'exit' when a stop hook saw this very stop as a syscall catchpoint stop; None when
        the target cannot tell (then the registers decide)."""
        return None

    def entry_record(self) -> Optional["EntryRecord"]:
        """The stop hook's record of the selected thread's syscall entry (fdrecover.EntryRecord), or None."""
        return None

    def fd_frames(self, limit: int = 5) -> List["FrameRegs"]:
        """fdrecover.FrameRegs of the innermost frames, for the aarch64 fd recovery; [] when not available."""
        return []

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


def parse_auxv(raw: bytes, limit: int = 1024) -> Dict[int, int]:
    """64-bit auxv bytes (pairs of u64, ending with AT_NULL) -> dict; at most `limit` entries (a real
    auxv has about 30)."""
    out: Dict[int, int] = {}
    for i in range(0, min(len(raw), 16 * limit) - 15, 16):
        key, val = struct.unpack_from("<QQ", raw, i)
        if key == 0:
            break
        out[key] = val
    return out
