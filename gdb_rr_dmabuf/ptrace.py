"""Linux ptrace and seccomp through ctypes, for `check` (pure Python: no gdb, no compiled helper).

What `check` needs and nothing more: start a program under PTRACE_SEIZE with a seccomp filter that
makes only ioctl and the open calls trap to the tracer (SECCOMP_RET_TRACE), read a stopped thread's
registers (PTRACE_GETREGSET NT_PRSTATUS, x86-64 and aarch64 alike) and its pending system call
(PTRACE_GET_SYSCALL_INFO, Linux 5.3+), make one call fail without running it, and let go.
Sources: man 2 ptrace, man 2 seccomp, linux/ptrace.h, linux/seccomp.h, linux/filter.h,
asm/ptrace.h (struct user_regs_struct, struct user_pt_regs).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import struct
from typing import Dict, List, Optional, Tuple

from .arch import X86_64, arch_of

# ptrace requests
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E

# options and events
O_TRACESYSGOOD = 0x1
O_TRACEFORK = 0x2
O_TRACEVFORK = 0x4
O_TRACECLONE = 0x8
O_TRACEEXEC = 0x10
O_TRACESECCOMP = 0x80
O_EXITKILL = 0x100000
EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC, EVENT_VFORK_DONE, EVENT_EXIT, EVENT_SECCOMP = 1, 2, 3, 4, 5, 6, 7
EVENT_STOP = 128

SYSCALL_INFO_NONE, SYSCALL_INFO_ENTRY, SYSCALL_INFO_EXIT, SYSCALL_INFO_SECCOMP = 0, 1, 2, 3

NT_PRSTATUS = 1

WALL = 0x40000000

# seccomp
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06


class PtraceError(OSError):
    pass


def machine_arch() -> Optional[str]:
    a = arch_of(platform.machine())
    return a.name if a is not None else None


_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.ptrace.restype = ctypes.c_long
        _libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
        _libc.syscall.restype = ctypes.c_long
        _libc.prctl.restype = ctypes.c_int
        _libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    return _libc


def ptrace(request: int, pid: int, addr=0, data=0) -> int:
    ctypes.set_errno(0)
    r = libc().ptrace(request, pid, ctypes.c_void_p(addr) if isinstance(addr, int) else addr,
                      ctypes.c_void_p(data) if isinstance(data, int) else data)
    if r == -1:
        e = ctypes.get_errno()
        if e:
            raise PtraceError(e, "ptrace(0x%x, %d): %s" % (request, pid, os.strerror(e)))
    return r


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def get_regs(tid: int, arch: str) -> Dict[str, int]:
    """The thread's general registers by gdb's names (x86-64 user_regs_struct, aarch64 user_pt_regs)."""
    names = arch_of(arch).gregs
    buf = ctypes.create_string_buffer(8 * len(names))
    iov = _IoVec(ctypes.cast(buf, ctypes.c_void_p), len(buf))
    ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, ctypes.byref(iov))
    vals = struct.unpack("<%dQ" % len(names), buf.raw[:8 * len(names)])
    return dict(zip(names, vals))


def set_regs(tid: int, arch: str, regs: Dict[str, int]) -> None:
    names = arch_of(arch).gregs
    buf = ctypes.create_string_buffer(struct.pack("<%dQ" % len(names), *[regs[n] & (2 ** 64 - 1) for n in names]),
                                      8 * len(names))
    iov = _IoVec(ctypes.cast(buf, ctypes.c_void_p), 8 * len(names))
    ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, ctypes.byref(iov))


def set_syscall_nr(tid: int, arch: str, nr: int) -> None:
    """Set the number of the syscall the thread is stopped in through the arch's own regset (aarch64:
    NT_ARM_SYSTEM_CALL; the kernel does not read x8 back). Only for an arch with syscall_nr_regset."""
    a = arch_of(arch)
    buf = ctypes.create_string_buffer(struct.pack("<i", nr), 4)
    iov = _IoVec(ctypes.cast(buf, ctypes.c_void_p), 4)
    ptrace(PTRACE_SETREGSET, tid, a.syscall_nr_regset, ctypes.byref(iov))


class SyscallInfo:
    __slots__ = ("op", "arch", "pc", "sp", "nr", "args", "rval", "is_error")

    def __init__(self, raw: bytes):
        self.op, self.arch, self.pc, self.sp = struct.unpack_from("<B3xIQQ", raw, 0)
        self.nr: Optional[int] = None
        self.args: List[int] = []
        self.rval: Optional[int] = None
        self.is_error = False
        if self.op in (SYSCALL_INFO_ENTRY, SYSCALL_INFO_SECCOMP):
            vals = struct.unpack_from("<7Q", raw, 24)
            self.nr, self.args = vals[0], list(vals[1:])
        elif self.op == SYSCALL_INFO_EXIT:
            self.rval, err = struct.unpack_from("<qB", raw, 24)
            self.is_error = bool(err)


_INFO_BUF = ctypes.create_string_buffer(128)


def syscall_info(tid: int) -> SyscallInfo:
    n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, len(_INFO_BUF), _INFO_BUF)
    return SyscallInfo(_INFO_BUF.raw[:max(n, 24)].ljust(88, b"\0"))


def geteventmsg(tid: int) -> int:
    v = ctypes.c_ulong(0)
    ptrace(PTRACE_GETEVENTMSG, tid, 0, ctypes.byref(v))
    return v.value


def seccomp_program(arch: str) -> bytes:
    """The filter: for this architecture's ABI, SECCOMP_RET_TRACE for ioctl, the open calls and seccomp (a filter
    the program installs itself may answer calls before check sees them), ALLOW for
    everything else (another ABI, e.g. i386 code through int 0x80, is allowed: check does not see it)."""
    a = arch_of(arch)
    traced = [a.nr_ioctl] + [nr for nr in (a.nr_open, a.nr_openat, a.nr_openat2, a.nr_seccomp) if nr is not None]
    insns: List[Tuple[int, int, int, int]] = [
        (BPF_LD_W_ABS, 0, 0, 4),                           # seccomp_data.arch
        (BPF_JEQ_K, 1, 0, a.audit_arch),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        (BPF_LD_W_ABS, 0, 0, 0),                           # seccomp_data.nr
    ]
    for i, nr in enumerate(traced):                        # jump to the TRACE return past the rest
        insns.append((BPF_JEQ_K, len(traced) - i, 0, nr))
    insns.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    insns.append((BPF_RET_K, 0, 0, SECCOMP_RET_TRACE))
    return b"".join(struct.pack("<HBBI", *i) for i in insns)


def install_filter(arch: str) -> None:
    """In the child, before exec: no_new_privs (needed without CAP_SYS_ADMIN) and the filter."""
    prog = seccomp_program(arch)
    buf = ctypes.create_string_buffer(prog, len(prog))

    class _FProg(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = _FProg(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    c = libc()
    if c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "prctl(PR_SET_NO_NEW_PRIVS) failed: %s" % os.strerror(e))
    if c.syscall(ctypes.c_long(arch_of(arch).nr_seccomp), ctypes.c_long(SECCOMP_SET_MODE_FILTER), ctypes.c_long(0),
                 ctypes.byref(fprog)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "seccomp(SECCOMP_SET_MODE_FILTER) failed: %s (check needs a kernel with seccomp filters)"
                      % os.strerror(e))


def prctl(option: int, arg: int) -> None:
    if libc().prctl(option, arg, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "prctl(%d): %s" % (option, os.strerror(e)))


def tgkill(tgid: int, tid: int, sig: int) -> None:
    nr = (arch_of(machine_arch()) or X86_64).nr_tgkill
    if libc().syscall(ctypes.c_long(nr), ctypes.c_long(tgid), ctypes.c_long(tid), ctypes.c_long(sig)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def read_memory(pid: int, addr: int, size: int) -> bytes:
    """Bytes of a stopped tracee's memory through /proc/PID/mem."""
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        return os.pread(fd, size, addr)
    finally:
        os.close(fd)


def read_cstring(pid: int, addr: int, limit: int = 4096) -> Optional[bytes]:
    out = b""
    try:
        while len(out) < limit:
            chunk = min(limit - len(out), 0x1000 - ((addr + len(out)) & 0xFFF))
            data = read_memory(pid, addr + len(out), chunk)
            if not data:
                return None
            nul = data.find(b"\0")
            if nul >= 0:
                return out + data[:nul]
            out += data
    except OSError:
        return None
    return out


def errno_name(n: int) -> str:
    return errno.errorcode.get(n, "errno %d" % n)
