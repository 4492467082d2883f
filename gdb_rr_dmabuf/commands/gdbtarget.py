"""Target over gdb: registers and memory of the selected thread, read-only.

Works the same on a native process, a remote stub (gdbserver, rr's emergency gdbserver) and a core
file. /proc is used only when the process runs on this machine (native, or a remote stub on this host
whose pid exists here with the same executable: rr's case, where the tracee is still alive).

`executable` is the file gdb reads (its local copy); `program` is the executable's path as the target
sees it (a remote stub's `qXfer:exec-file`, which rr and gdbserver answer): the path to give
`rr record` on the machine where rr runs.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional

import gdb  # type: ignore

from ..errors import NoProcessError, TargetReadError, UserError
from ..rr import in_rr_page
from ..arch import AARCH64, arch_of
from ..target import NativeFrame, Target, normalize_arch


_MASK64 = (1 << 64) - 1
# Linux never maps code below vm.mmap_min_addr (65536 by default): a pc down there is an unwinder guess.
_LOWEST_CODE = 0x10000
# What the frames in rr's page at 0x70000000 are named after (rr's src/preload/rr_page.S, librrpage.so).
RR_PAGE_OBJFILE = "librrpage.so"
_REMOTE_EXEC: Dict[tuple, Optional[str]] = {}   # (connection, pid) -> the remote's exec file, once per session


def remote_exec_file(inferior) -> Optional[str]:
    """The executable's path as a remote stub sees it (qXfer:exec-file:read:PID), None when the stub
    does not say. A read-only query packet; asked once per connection and pid."""
    conn = getattr(inferior, "connection", None)
    key = (getattr(conn, "num", None), inferior.pid)
    if key in _REMOTE_EXEC:
        return _REMOTE_EXEC[key]
    packet = "qXfer:exec-file:read:%x:0,fff" % inferior.pid
    reply = None
    try:
        if conn is not None and hasattr(conn, "send_packet"):
            r = conn.send_packet(packet)
            reply = r.decode("utf-8", "replace") if isinstance(r, (bytes, bytearray)) else str(r)
        else:  # gdb 12: maint packet prints 'sending: "..."' and 'received: "..."'
            out = gdb.execute("maint packet " + packet, to_string=True)
            m = re.search(r'received: "(.*)"\s*$', out, re.S)
            reply = m.group(1) if m else None
    except (gdb.error, ValueError, TypeError):
        reply = None
    path = None
    if reply and reply[:1] in ("l", "m") and len(reply) > 1:
        path = re.sub(r"\}(.)", lambda m: chr(ord(m.group(1)) ^ 0x20), reply[1:])  # remote binary escapes
        if "\0" in path or not path.startswith("/"):
            path = None
    _REMOTE_EXEC[key] = path
    return path


def _code_ranges(pid: Optional[int]) -> Optional[List[tuple]]:
    """Executable mappings of a process on this machine (/proc/PID/maps), None when unknown."""
    if pid is None:
        return None
    out = []
    try:
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) >= 2 and "x" in parts[1]:
                    lo, _, hi = parts[0].partition("-")
                    out.append((int(lo, 16), int(hi, 16)))
    except (OSError, ValueError):
        return None
    return out


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
        self.program = prog
        if self.kind == "remote":
            self.program = remote_exec_file(inferior) or prog
        self._regs: Optional[Dict[str, int]] = None
        self._frames: Optional[List[NativeFrame]] = None
        self._frames_key = None
        with _on_thread(thread):
            try:
                frame = gdb.newest_frame()
                self.arch = normalize_arch(frame.architecture().name())
            except gdb.error:
                raise UserError("the selected thread has no registers", "is the process running? stop it first")
        if self.kind == "remote":
            from .remote_memory import gather
            with _on_thread(thread):
                problem = gather(inferior, thread)   # gdb 16+ and rr 5.8.0: no memory at all; one setting fixes it
            if problem is not None:
                raise UserError(*problem)
        self.pid = None
        if self.kind == "live":
            self.pid = inferior.pid
        elif self.kind == "remote":
            self.pid = self._local_pid(inferior.pid, self.program)

    @staticmethod
    def _local_pid(pid: int, prog: Optional[str]) -> Optional[int]:
        """A remote stub on this host (rr's gdbserver listens on 127.0.0.1): use /proc when it is the same
        program (prog: the path the stub names, else gdb's file)."""
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            return None
        if prog and os.path.realpath(prog) == os.path.realpath(exe.replace(" (deleted)", "")):
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
            names = (arch_of(self.arch) or AARCH64).gdb_regs   # another arch: its names may match aarch64's
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
        code = _code_ranges(self.pid)
        with _on_thread(self.thread):
            try:
                frame = gdb.newest_frame()
            except gdb.error:
                return []
            seen = set()
            while frame is not None and len(out) < limit:
                try:
                    pc = frame.pc()
                    # Where gdb's unwinder stops making sense, the list ends: a pc in the first 64 KiB
                    # (never code: 0x0 is gdb's "no saved pc"), or, when the process's maps are
                    # readable, a pc outside every executable mapping (a guess from stack garbage).
                    if pc < _LOWEST_CODE or (code is not None and out and
                                             not any(lo <= pc < hi for lo, hi in code)):
                        break
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
                    objfile = gdb.solib_name(pc) or self.program
                    if in_rr_page(pc, self.arch) and gdb.solib_name(pc) is None:
                        # rr's page (librrpage.so since 5.5.0) is presented to gdb like a vdso: no shared-
                        # library name, so gdb would have it in the executable. It is rr's code, never the
                        # program's.
                        objfile = RR_PAGE_OBJFILE
                    out.append(NativeFrame(pc=pc, function=name, objfile=objfile, sp=sp, file=fname, line=line))
                    if stop is not None and stop(pc):
                        break
                    frame = frame.older()
                except gdb.error:
                    break
        self._frames = out
        self._frames_key = key
        return list(out)

    # ---- for fdrecover (aarch64 exit stops): the stop hook's records and the callers' registers ----

    def syscall_stop_kind(self) -> Optional[str]:
        """'entry'/'exit' when the stop hook saw this very stop as a syscall catchpoint stop, else None."""
        from .entry_stops import catch_stop_kind
        return catch_stop_kind(self.inferior.pid, self.tid, self.registers())

    def entry_record(self):
        from .entry_stops import entry_record
        return entry_record(self.inferior.pid, self.tid)

    def fd_frames(self, limit: int = 5):
        """fdrecover.FrameRegs of the innermost frames: pc, the function's start from gdb's symbols
        (`info symbol`, minimal symbols included), x19..x29 and sp as gdb's unwinder gives them."""
        from ..fdrecover import FrameRegs
        out = []
        with _on_thread(self.thread):
            try:
                frame = gdb.newest_frame()
            except gdb.error:
                return []
            while frame is not None and len(out) < limit:
                try:
                    pc = frame.pc()
                    look = pc if not out else pc - 4   # a return address: the call is before it
                    start, name = _symbol_start(look)
                    regs = {}
                    for n in list(range(19, 30)) + [31]:
                        try:
                            regs[n] = int(frame.read_register("sp" if n == 31 else "x%d" % n)) & _MASK64
                        except (gdb.error, ValueError):
                            regs[n] = None
                    out.append(FrameRegs(pc=pc, start=start, function=name or frame.name(), regs=regs))
                    frame = frame.older()
                except gdb.error:
                    break
        return out

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


_SYMBOL = re.compile(r"^(\S+?)(?: \+ (\d+))? in section ")


def _symbol_start(pc: int):
    """(start address, name) of the symbol holding pc, from `info symbol` (minimal symbols too)."""
    try:
        text = gdb.execute("info symbol 0x%x" % pc, to_string=True)
    except gdb.error:
        return None, None
    m = _SYMBOL.match(text.strip())
    if m is None:
        return None, None
    name, off = m.group(1), int(m.group(2) or 0)
    # In a stripped executable gdb names code after the PLT "ioctl@plt + 912": a PLT stub is 16 bytes,
    # so that is no function's start (fdrecover then finds the start itself).
    if "@plt" in name and off >= 16:
        return None, None
    return pc - off, name


# rr's emergency gdbserver asserts when gdb reads the registers (or, through them, the memory) of a task
# that is blocked in a system call, starts a second emergency debugger and never answers the first gdb
# (rr's src/Task.cc Task::regs(), src/GdbServer.cc; knowledge/rr-stub.md). Every Go program has such
# threads. So nothing here reads a thread other than the selected one unless the user asks for it by
# name (--thread N) or asks for the scan below (dmabuf-why --scan-threads).
SCAN_WARNING = ("reads the registers of every thread: at rr's emergency stop, reading a thread that is blocked "
                "in a system call (every Go program has some) makes rr assert and the session ends")


def _ioctl_of(thread):
    """(arch, request, result) when the thread's pending syscall is ioctl, else None. Reads three registers
    of that thread (switching to it when it is not the selected one)."""
    try:
        with _on_thread(thread):
            frame = gdb.newest_frame()
            a = arch_of(frame.architecture().name())
            if a is None:
                return None
            nr, req, res = (int(frame.read_register(r))
                            for r in (a.syscall_nr_reg, a.syscall_arg_regs[1], a.syscall_result_reg))
    except (gdb.error, ValueError):
        return None
    if nr != a.nr_ioctl:
        return None
    return a.name, req & 0xFFFFFFFF, (res - (1 << 64) if res >= (1 << 63) else res)


def scan_ioctl_threads(limit: int = 256) -> List[tuple]:
    """ONLY on the user's explicit request (dmabuf-why --scan-threads): every thread of the inferior (at
    most `limit`), [(gdb thread number, LWP, request)] of those whose pending syscall is ioctl. See
    SCAN_WARNING: this is what can end rr's emergency session."""
    out: List[tuple] = []
    inferior = gdb.selected_inferior()
    every = sorted(inferior.threads(), key=lambda t: t.num)[:limit]   # the user asked: --scan-threads
    for t in every:
        if not t.is_valid() or t.is_running():
            continue
        num, lwp = t.num, t.ptid[1] or t.ptid[0]
        got = _ioctl_of(t)
        if not inferior.is_valid() or inferior.pid == 0:   # the target went away while we read that thread
            raise UserError("the connection to the target ended while reading thread %d (LWP %d)%s" % (
                num, lwp, ", after finding thread%s %s in an ioctl" % ("s" if len(out) > 1 else "",
                                                                      ", ".join(str(n) for n, _, _ in out))
                if out else ""),
                "rr's emergency gdbserver ends the session when gdb reads a thread blocked in a system call; "
                "rr's own output has the ioctl: `python3 -m gdb_rr_dmabuf explain rr.log`")
        if got is not None:
            out.append((num, lwp, got[1]))
    return out


def ioctl_stop_hint() -> Optional[str]:
    """One line when the selected thread sits in an ioctl that rr would abort on (gdbinit.py prints it when
    sourced at a stop), else None. Reads the syscall registers of the selected thread alone (never another
    thread: see SCAN_WARNING); nothing when no process is stopped. syscall.py decodes them, rr.py decides
    and wording.py words the line."""
    inferior = gdb.selected_inferior()
    t = gdb.selected_thread()
    if not inferior.is_valid() or inferior.pid == 0 or t is None or not t.is_valid() or t.is_running():
        return None
    from ..ioctl.names import names_for
    from ..rr import rr_verdict
    from ..syscall import pending_syscall
    from ..wording import stop_hint
    try:
        regs = _SyscallRegisters()
        sc = pending_syscall(regs)   # an entry stop (x86-64: -ENOSYS in the result) has no result: not run yet
    except (UserError, gdb.error, ValueError):
        return None
    a = arch_of(sc.arch)
    if not sc.is_ioctl or sc.args[1] is None or a.syscall_result_reg not in regs.registers():
        return None
    req = sc.args[1] & 0xFFFFFFFF
    v = rr_verdict(req, sc.result)
    if v.ignorable or v.would_stop is False:
        return None
    return stop_hint(t.num, t.ptid[1] or t.ptid[0], names_for(req, sc.arch), v)


class _SyscallRegisters(Target):
    """The selected thread's registers that syscall.pending_syscall reads (number, arguments, result, pc, and
    aarch64's x7), read once from gdb's newest frame; those gdb cannot read are left out."""

    def __init__(self):
        frame = gdb.newest_frame()
        self.arch = normalize_arch(frame.architecture().name())
        self._frame = frame
        self._regs: Optional[Dict[str, int]] = None

    def registers(self) -> Dict[str, int]:
        if self._regs is None:
            a = arch_of(self.arch)
            wanted = () if a is None else (a.syscall_nr_reg, a.syscall_result_reg, a.pc_reg) + a.syscall_arg_regs
            if a is not None and "x7" in a.gdb_regs:
                wanted += ("x7",)   # syscall.aarch64_stop_kind: the kernel's entry/exit marker
            self._regs = {}
            for n in wanted:
                try:
                    self._regs[n] = int(self._frame.read_register(n)) & _MASK64
                except (gdb.error, ValueError):
                    continue
        return dict(self._regs)


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

