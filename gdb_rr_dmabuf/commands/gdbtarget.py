"""Target over gdb: registers and memory of the selected thread, read-only.

Works the same on a native process, a remote stub (gdbserver, rr's emergency gdbserver) and a core
file. /proc is used only when the process runs on this machine (native, or a remote stub on this host
whose pid exists here with the same executable: rr's case, where the tracee is still alive).
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional

import gdb  # type: ignore

from ..errors import NoProcessError, TargetReadError, UserError
from ..target import NativeFrame, Target, normalize_arch

X86_64_REGS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
               "r13", "r14", "r15", "rip", "eflags", "orig_rax", "fs_base", "gs_base")
AARCH64_REGS = tuple("x%d" % i for i in range(31)) + ("sp", "pc", "cpsr", "tpidr")

_MASK64 = (1 << 64) - 1


def _connection_kind(inferior) -> str:
    conn = getattr(inferior, "connection", None)  # gdb >= 12? fall back to `info target`
    ctype = getattr(conn, "type", None) if conn is not None else None
    if ctype:
        if ctype == "native":
            return "live"
        if ctype == "core":
            return "core"
        if "remote" in ctype:
            return "remote"
        return ctype
    try:
        info = gdb.execute("info target", to_string=True)
    except gdb.error:
        return "unknown"
    if "core dump" in info or "core file" in info:
        return "core"
    if "Remote" in info or "remote" in info:
        return "remote"
    return "live"


class GdbTarget(Target):
    def __init__(self, thread_num: Optional[int] = None):
        inferior = gdb.selected_inferior()
        thread = gdb.selected_thread()
        if thread is None or not inferior.is_valid() or inferior.pid == 0:
            raise NoProcessError()
        if thread_num is not None:
            match = [t for t in inferior.threads() if t.num == thread_num]
            if not match:
                raise UserError("no thread %d" % thread_num, "see `info threads` for the thread numbers")
            thread = match[0]
        self.inferior = inferior
        self.thread = thread
        self.kind = _connection_kind(inferior)
        self.tid = thread.ptid[1] or thread.ptid[0]
        prog = inferior.progspace.filename if inferior.progspace is not None else None
        self.executable = prog
        self._regs: Optional[Dict[str, int]] = None
        self._frames: Optional[List[NativeFrame]] = None
        self._frames_key = None
        with _on_thread(thread):
            try:
                frame = gdb.newest_frame()
                self.arch = normalize_arch(frame.architecture().name())
            except gdb.error:
                raise UserError("the selected thread has no registers", "is the process running? stop it first")
        self.pid = None
        if self.kind == "live":
            self.pid = inferior.pid
        elif self.kind == "remote":
            self.pid = self._local_pid(inferior.pid, prog)

    @staticmethod
    def _local_pid(pid: int, prog: Optional[str]) -> Optional[int]:
        """A remote stub on this host (rr's gdbserver listens on 127.0.0.1): use /proc when it is the same program."""
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            return None
        if prog and os.path.realpath(prog) == exe.replace(" (deleted)", ""):
            return pid
        return None

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        if addr < 0 or addr + size > (1 << 64):
            raise TargetReadError(addr & _MASK64, size, "address out of range")
        try:
            return bytes(self.inferior.read_memory(addr, size))
        except (gdb.MemoryError, gdb.error) as e:
            raise TargetReadError(addr, size, str(e).split("\n")[0])
        except OverflowError:
            raise TargetReadError(addr & _MASK64, size, "address out of range")

    def registers(self) -> Dict[str, int]:
        if self._regs is None:
            names = X86_64_REGS if self.arch == "x86-64" else AARCH64_REGS
            regs: Dict[str, int] = {}
            with _on_thread(self.thread):
                frame = gdb.newest_frame()
                for n in names:
                    try:
                        v = frame.read_register(n)
                    except (gdb.error, ValueError):
                        continue
                    try:
                        regs[n] = int(v) & _MASK64
                    except (gdb.error, ValueError):  # <unavailable>
                        continue
            self._regs = regs
        return dict(self._regs)

    def native_frames(self, limit: int = 64, stop=None) -> List[NativeFrame]:
        key = (limit, stop is not None)
        if self._frames is not None and self._frames_key == key:
            return list(self._frames)
        out: List[NativeFrame] = []
        with _on_thread(self.thread):
            try:
                frame = gdb.newest_frame()
            except gdb.error:
                return []
            seen = set()
            while frame is not None and len(out) < limit:
                try:
                    pc = frame.pc()
                    try:
                        sp = int(frame.read_register("sp")) & _MASK64
                    except (gdb.error, ValueError):
                        sp = None
                    # (an inlined frame shares its pc and sp with the frame it is inlined into)
                    key = (pc, sp, frame.type() == gdb.INLINE_FRAME)
                    if key in seen:
                        break
                    seen.add(key)
                    name = frame.name()
                    sal = frame.find_sal()
                    fname = sal.symtab.filename if sal is not None and sal.symtab is not None else None
                    line = sal.line if sal is not None and sal.symtab is not None else None
                    objfile = gdb.solib_name(pc) or self.executable
                    out.append(NativeFrame(pc=pc, function=name, objfile=objfile, sp=sp, file=fname, line=line))
                    if stop is not None and stop(pc):
                        break
                    frame = frame.older()
                except gdb.error:
                    break
        self._frames = out
        self._frames_key = key
        return list(out)

    def auxv(self) -> Dict[int, int]:
        if self.pid is not None:
            v = super().auxv()
            if v:
                return v
        try:
            text = gdb.execute("info auxv", to_string=True)
        except gdb.error:
            return {}
        out: Dict[int, int] = {}
        for line in text.splitlines():
            m = re.match(r"\s*(\d+)\s+\S+.*?\s(0x[0-9a-fA-F]+|\d+)\s*$", line)
            if m:
                out[int(m.group(1))] = int(m.group(2), 0)
        return out


def threads_in_ioctl(limit: int = 256) -> List[int]:
    """gdb thread numbers of the threads stopped in ioctl (to point the user at them); bounded."""
    from ..syscall import IOCTL_NR
    out: List[int] = []
    inferior = gdb.selected_inferior()
    for t in sorted(inferior.threads(), key=lambda t: t.num)[:limit]:
        try:
            with _on_thread(t):
                frame = gdb.newest_frame()
                arch = normalize_arch(frame.architecture().name())
                reg = "orig_rax" if arch == "x86-64" else "x8"
                nr = int(frame.read_register(reg))
        except (gdb.error, ValueError):
            continue
        if nr == IOCTL_NR.get(arch):
            out.append(t.num)
    return out


class _on_thread:
    """Switch to a thread for a moment and back; the user's selection is restored."""

    def __init__(self, thread):
        self.thread = thread
        self.prev = None
        self.prev_frame = None

    def __enter__(self):
        self.prev = gdb.selected_thread()
        if self.prev is not None and self.prev != self.thread:
            try:
                self.prev_frame = gdb.selected_frame()
            except gdb.error:
                self.prev_frame = None
            self.thread.switch()
        return self

    def __exit__(self, *exc):
        if self.prev is not None and self.prev != self.thread and self.prev.is_valid():
            self.prev.switch()
            if self.prev_frame is not None and self.prev_frame.is_valid():
                self.prev_frame.select()
        return False

