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

from .errors import NotInIoctl, UserError
from .notes import ENTRY_OR_EXIT_ASSUMED, FD_LOST, INTERRUPTED, RR_PAGE, Note
from .rr import in_rr_page
from .arch import arch_of
from .target import Target

ENOSYS = 38
# The kernel's restart codes: a syscall interrupted by a signal shows one of these while stopped.
_RESTART = {512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 516: "ERESTART_RESTARTBLOCK"}




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
    a = arch_of(arch)
    return a.syscall_names.get(nr, "syscall %d" % nr) if a is not None else "syscall %d" % nr


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
        a = arch_of(self.arch)
        return a is not None and self.number == a.nr_ioctl


def pending_syscall(target: Target, state: Optional[str] = None) -> PendingSyscall:
    """Decode the syscall the selected thread is stopped in.

    `state` ('entry'/'exit') overrides the guess; the guess is exact on x86-64 (rax == -ENOSYS at entry),
    and on aarch64 comes from x7 (the kernel's 0/1 marker at a syscall stop), else assumes the exit stop,
    which is where rr stops.
    """
    arch = target.arch
    a = arch_of(arch)
    if a is None or a.name != arch:
        raise UserError("architecture %s is not supported" % (arch or "unknown"),
                        "gdb-rr-dmabuf decodes x86-64 and aarch64 threads")
    regs = target.registers()
    notes: List[str] = []
    nr_reg, result_reg = a.syscall_nr_reg, a.syscall_result_reg
    if nr_reg not in regs:
        raise UserError("the target does not expose %s" % nr_reg,
                        "this gdb/remote stub cannot tell the pending syscall; use --request or --from-log"
                        if a.entry_result_enosys else "use --request or --from-log")
    pc = regs.get(a.pc_reg, 0)
    result_now = to_signed(regs.get(result_reg, 0))
    args: List[Optional[int]] = [regs.get(r) for r in a.syscall_arg_regs]
    if a.entry_result_enosys:   # x86-64: the number is signed, -1 outside a syscall
        nr = to_signed(regs[nr_reg])
        if nr < 0:
            raise NotInIoctl("the thread is not stopped in a system call (%s is -1)" % nr_reg,
                             "stop at the syscall (rr does; or `catch syscall ioctl`), or use --request / --from-log")
        if state is None:
            state = "entry" if result_now == -ENOSYS else "exit"
    else:                       # aarch64: x7 marks entry/exit at a syscall stop
        nr = regs[nr_reg]
        if state is None:
            state = aarch64_stop_kind(regs, target.syscall_stop_kind())
            if state is None:
                state = "exit"
                notes.append(Note("aarch64 registers cannot tell entry from exit here (x7 is %s%s): assumed the "
                                  "exit stop (rr's); pass --at entry if this is a syscall-entry stop" % (
                                      _x7(regs), ", as at a syscall-entry stop, but also a common value elsewhere"
                                      if regs.get("x7") == 0 else ", not the kernel's 1 of a syscall-exit stop"),
                                  ENTRY_OR_EXIT_ASSUMED))
    result: Optional[int] = result_now if state == "exit" else None
    if state == "exit" and a.result_overwrites_arg0:
        args[0] = None
        notes.append(Note("on %s the result overwrites %s, so the fd argument is lost at the exit stop"
                          % (a.name, a.syscall_arg_regs[0]), FD_LOST))
    if result is not None and -result in _RESTART:
        notes.append(Note("the call was interrupted (%s) and will be restarted" % _RESTART[-result], INTERRUPTED))
        state = "interrupted"
    rr_page = in_rr_page(pc, arch)
    if rr_page:
        notes.append(Note("pc is in rr's page (syscall made through rr's syscall buffer)", RR_PAGE))
    return PendingSyscall(arch, nr, syscall_name(nr, arch), state, args, result, pc, rr_page, notes)
