"""The pending system call of a stopped thread, from its registers.

x86-64: orig_rax is the syscall number (-1 when the thread is not in a syscall), rdi/rsi/rdx/r10/r8/r9
the arguments, rax the result; at a syscall-entry stop the kernel has put -ENOSYS in rax.
aarch64: x8 is the number, x0-x5 the arguments; at the exit stop x0 holds the result, so the first
argument is not in the registers (rr's emergency stop is after the call; see ../shared/knowledge/rr.md):
fdrecover.py finds it where the program still holds it. x7 tells entry (0) from exit (1) at a syscall stop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .errors import UserError
from .rr import in_rr_page
from .target import ARCH_AARCH64, ARCH_X86_64, Target

ENOSYS = 38
# The kernel's restart codes: a syscall interrupted by a signal shows one of these while stopped.
_RESTART = {512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 516: "ERESTART_RESTARTBLOCK"}

# Syscall names for the numbers a stopped thread is most likely to show (x86-64 / asm-generic).
SYSCALLS_X86_64 = {
    0: "read", 1: "write", 2: "open", 3: "close", 7: "poll", 9: "mmap", 16: "ioctl", 17: "pread64",
    20: "writev", 23: "select", 35: "nanosleep", 39: "getpid", 56: "clone", 57: "fork", 59: "execve",
    60: "exit", 61: "wait4", 62: "kill", 72: "fcntl", 202: "futex", 228: "clock_gettime",
    230: "clock_nanosleep", 231: "exit_group", 232: "epoll_wait", 257: "openat", 270: "pselect6",
    271: "ppoll", 281: "epoll_pwait", 290: "eventfd2", 291: "epoll_create1", 293: "pipe2",
    319: "memfd_create", 435: "clone3", 186: "gettid", 234: "tgkill", 13: "rt_sigaction",
    14: "rt_sigprocmask", 15: "rt_sigreturn", 24: "sched_yield", 131: "sigaltstack", 158: "arch_prctl",
    302: "prlimit64", 318: "getrandom", 334: "rseq", 317: "seccomp", 157: "prctl", 11: "munmap",
    10: "mprotect", 28: "madvise", 4: "stat", 5: "fstat", 262: "newfstatat", 217: "getdents64",
    89: "readlink", 41: "socket", 42: "connect", 44: "sendto", 45: "recvfrom", 46: "sendmsg",
    47: "recvmsg", 8: "lseek", 32: "dup", 33: "dup2", 292: "dup3", 21: "access", 439: "faccessat2",
}
SYSCALLS_AARCH64 = {
    29: "ioctl", 25: "fcntl", 56: "openat", 57: "close", 63: "read", 64: "write", 66: "writev",
    73: "ppoll", 98: "futex", 101: "nanosleep", 113: "clock_gettime", 115: "clock_nanosleep",
    93: "exit", 94: "exit_group", 129: "kill", 131: "tgkill", 134: "rt_sigaction", 135: "rt_sigprocmask",
    139: "rt_sigreturn", 172: "getpid", 178: "gettid", 220: "clone", 221: "execve", 222: "mmap",
    215: "munmap", 226: "mprotect", 233: "madvise", 279: "memfd_create", 435: "clone3", 19: "eventfd2",
    20: "epoll_create1", 22: "epoll_pwait", 59: "pipe2", 23: "dup", 24: "dup3", 124: "sched_yield",
    167: "prctl", 277: "seccomp", 278: "getrandom", 293: "rseq", 80: "fstat", 79: "newfstatat",
    61: "getdents64", 78: "readlinkat", 198: "socket", 203: "connect", 206: "sendto", 207: "recvfrom",
    211: "sendmsg", 212: "recvmsg", 62: "lseek",
}
IOCTL_NR = {ARCH_X86_64: 16, ARCH_AARCH64: 29}



def aarch64_stop_kind(regs: Dict[str, int], catch_stop: Optional[str] = None) -> Optional[str]:
    """'entry' or 'exit' at an aarch64 syscall stop, None when the registers do not say.

    At a ptrace syscall stop the arm64 kernel reports x7 as 0 (entry) or 1 (exit) and puts the program's
    x7 back when it resumes (arch/arm64/kernel/ptrace.c, report_syscall: PTRACE_SYSCALL_ENTER/EXIT; seen
    in the lab with gdb 16.3 native, over gdbserver, and in cores gcore wrote there). rr's emergency stop
    is a syscall-exit stop and its gdbserver sends the registers read there (x7 = 1: rr puts the real x7
    back only after processing the call, record_syscall.cc aarch64_kernel_bug_workaround). x7 = 1 says
    exit; x7 = 0 says entry only when this is known to be a syscall stop (`catch_stop`, from the commands'
    stop hook, which saw a syscall catchpoint stop with these registers): elsewhere 0 is a common value."""
    if catch_stop in ("entry", "exit"):
        return catch_stop
    if regs.get("x7") == 1:
        return "exit"
    return None


def _x7(regs: Dict[str, int]) -> str:
    x7 = regs.get("x7")
    return "unknown" if x7 is None else "0x%x" % x7


def syscall_name(nr: int, arch: str) -> str:
    table = SYSCALLS_X86_64 if arch == ARCH_X86_64 else SYSCALLS_AARCH64
    return table.get(nr, "syscall %d" % nr)


def to_signed(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


@dataclass
class PendingSyscall:
    arch: str
    number: int
    name: str
    state: str                   # 'entry' | 'exit' | 'interrupted'
    args: List[Optional[int]]    # six arguments; None when lost (aarch64 x0 at exit)
    result: Optional[int]        # signed raw return (negative errno) at exit, else None
    pc: int
    in_rr_page: bool
    notes: List[str] = field(default_factory=list)

    @property
    def is_ioctl(self) -> bool:
        return self.number == IOCTL_NR.get(self.arch)


def pending_syscall(target: Target, state: Optional[str] = None) -> PendingSyscall:
    """Decode the syscall the selected thread is stopped in.

    `state` ('entry'/'exit') overrides the guess; the guess is exact on x86-64 (rax == -ENOSYS at entry),
    and on aarch64 comes from x7 (the kernel's 0/1 marker at a syscall stop), else assumes the exit stop,
    which is where rr stops.
    """
    arch = target.arch
    if arch not in (ARCH_X86_64, ARCH_AARCH64):
        raise UserError("architecture %s is not supported" % (arch or "unknown"),
                        "gdb-rr-dmabuf decodes x86-64 and aarch64 threads")
    regs = target.registers()
    notes: List[str] = []
    if arch == ARCH_X86_64:
        if "orig_rax" not in regs:
            raise UserError("the target does not expose orig_rax",
                            "this gdb/remote stub cannot tell the pending syscall; use --request or --from-log")
        nr = to_signed(regs["orig_rax"])
        pc = regs.get("rip", 0)
        if nr < 0:
            raise UserError("the thread is not stopped in a system call (orig_rax is -1)",
                            "stop at the syscall (rr does; or `catch syscall ioctl`), or use --request / --from-log")
        rax = to_signed(regs.get("rax", 0))
        args: List[Optional[int]] = [regs.get(r) for r in ("rdi", "rsi", "rdx", "r10", "r8", "r9")]
        if state is None:
            state = "entry" if rax == -ENOSYS else "exit"
        result: Optional[int] = rax if state == "exit" else None
    else:
        if "x8" not in regs:
            raise UserError("the target does not expose x8", "use --request or --from-log")
        nr = regs["x8"]
        pc = regs.get("pc", 0)
        x0 = to_signed(regs.get("x0", 0))
        if state is None:
            hint = getattr(target, "syscall_stop_kind", None)
            state = aarch64_stop_kind(regs, hint() if callable(hint) else None)
            if state is None:
                state = "exit"
                notes.append("aarch64 registers cannot tell entry from exit here (x7 is %s%s): assumed the exit "
                             "stop (rr's); pass --at entry if this is a syscall-entry stop" % (
                                 _x7(regs), ", as at a syscall-entry stop, but also a common value elsewhere"
                                 if regs.get("x7") == 0 else ", not the kernel's 1 of a syscall-exit stop"))
        args = [regs.get("x%d" % i) for i in range(6)]
        if state == "exit":
            args[0] = None
            notes.append("on aarch64 the result overwrites x0, so the fd argument is lost at the exit stop")
            result = x0
        else:
            result = None
    if result is not None and -result in _RESTART:
        notes.append("the call was interrupted (%s) and will be restarted" % _RESTART[-result])
        state = "interrupted"
    rr_page = in_rr_page(pc, arch)
    if rr_page:
        notes.append("pc is in rr's page (syscall made through rr's syscall buffer)")
    return PendingSyscall(arch, nr, syscall_name(nr, arch), state, args, result, pc, rr_page, notes)
