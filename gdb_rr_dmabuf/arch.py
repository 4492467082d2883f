"""The architectures gdb-rr-dmabuf reads, one frozen record each: every per-arch fact the code uses.

Generic code asks the table (`arch_of(target.arch).syscall_nr_reg`) instead of comparing names, so a fact
lives in one place with its source (the idea of Delve's pkg/proc arch.go: one struct of data per arch).
Names are ours: 'x86-64' and 'aarch64'; `arch_of` accepts gdb's, ELF's, uname's and Go's spellings.
Register names are lower case, as gdb spells them. Pure data: no gdb, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Mapping, Optional, Tuple, Union


@dataclass(frozen=True)
class Arch:
    name: str                          # ours: 'x86-64' | 'aarch64'
    aliases: Tuple[str, ...]           # lower-case spellings that mean this arch (gdb, ELF, uname, Go)
    # ELF (elf.h): e_machine, pyelftools' name for it, R_*_RELATIVE; audit arch (linux/audit.h)
    elf_machine: int
    elf_machine_name: str
    elf_relative_reloc: int
    audit_arch: int                    # AUDIT_ARCH_*: e_machine | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
    ptr_size: int
    user_va_limit: int                 # user-space addresses are below this (Linux default VA size)
    # registers
    pc_reg: str
    sp_reg: str
    link_reg: Optional[str]            # None: `call` pushes the return address at [sp]
    tp_reg: str                        # the thread pointer (TLS base)
    rr_serves_tp: bool                 # rr's gdbserver target description includes tp_reg
    gregs: Tuple[str, ...]             # NT_PRSTATUS / PTRACE_GETREGSET order (user_regs_struct, user_pt_regs)
    gdb_regs: Tuple[str, ...]          # what commands/gdbtarget.py asks gdb for
    # system calls (the kernel's syscall ABI)
    syscall_nr_reg: str
    syscall_arg_regs: Tuple[str, ...]  # six arguments
    syscall_result_reg: str
    entry_result_enosys: bool          # at a syscall-entry stop the result register holds -ENOSYS
    result_overwrites_arg0: bool       # the result goes where the first argument was
    syscall_nr_regset: Optional[int]   # the regset that sets the syscall number (else syscall_nr_reg)
    rr_log_regs: Tuple[str, str, str, str, str]   # rr's spelling in its logs: nr, arg0, arg1, arg2, result
    nr_ioctl: int
    nr_open: Optional[int]             # None: only openat (asm-generic)
    nr_openat: int
    nr_openat2: int
    nr_seccomp: int
    nr_tgkill: int
    syscall_names: Mapping[int, str] = field(hash=False, compare=False, repr=False)
    # Go
    pc_quantum: int                    # pcHeader.minLC: cmd/internal/sys/arch.go MinLC (Go 1.18-1.27)
    go_g_reg: str                      # the register Go code keeps g in
    go_g_label: str                    # how notes name it (Go's assembler name)
    go_tls_g_symbol: str               # the TLS slot's symbol
    go_static_g_tp_offset: Optional[int]   # static pure-Go binary without PT_TLS: g at tp + this
    go_goexit_sp_offset: int           # stack.hi - runtime.goexit's frame sp (see go_runtime/unwind.py)
    go_sp_saving_stubs: FrozenSet[str]     # stubs that align SP for C and keep the old SP at 0(SP)
    tls_tcb_size: Optional[int]        # TLS variant I: the block follows a TCB of this size; None: variant
                                       # II, the block ends at the thread pointer
    # rr (src/preload/preload_interface.h RR_PAGE_ADDR; rr_page.S)
    rr_page_size: int
    rr_page_syscall_pc: int            # the pc after the traced `syscall` / `svc #0` in rr's page


# x86-64: arch/x86/entry/syscalls/syscall_64.tbl (asm/unistd_64.h). Names of the numbers a stopped thread
# is most likely to show.
_X86_64_SYSCALLS = {
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
# aarch64: include/uapi/asm-generic/unistd.h
_AARCH64_SYSCALLS = {
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

X86_64 = Arch(
    name="x86-64",
    aliases=("x86-64", "x86_64", "amd64", "i386:x86-64", "i386:x86_64", "em_x86_64"),
    elf_machine=62, elf_machine_name="EM_X86_64", elf_relative_reloc=8,   # R_X86_64_RELATIVE
    audit_arch=0xC000003E,
    ptr_size=8,
    user_va_limit=1 << 47,
    pc_reg="rip", sp_reg="rsp", link_reg=None, tp_reg="fs_base", rr_serves_tp=True,
    gregs=("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
           "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"),
    gdb_regs=("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
              "r13", "r14", "r15", "rip", "eflags", "orig_rax", "fs_base", "gs_base"),
    syscall_nr_reg="orig_rax", syscall_arg_regs=("rdi", "rsi", "rdx", "r10", "r8", "r9"),
    syscall_result_reg="rax", entry_result_enosys=True, result_overwrites_arg0=False, syscall_nr_regset=None,
    rr_log_regs=("orig_rax", "rdi", "rsi", "rdx", "rax"),
    nr_ioctl=16, nr_open=2, nr_openat=257, nr_openat2=437, nr_seccomp=317, nr_tgkill=234,
    syscall_names=_X86_64_SYSCALLS,
    pc_quantum=1,
    go_g_reg="r14", go_g_label="r14", go_tls_g_symbol="runtime.tlsg",
    # runtime.settls points %fs just past m.tls[0] ("ELF wants to use -8(FS)") and keeps g at -8(FS)
    go_static_g_tp_offset=-8,
    # newproc1: alignUp(4*PtrSize + MinFrameSize 0, StackAlign 8)
    go_goexit_sp_offset=32,
    go_sp_saving_stubs=frozenset({"runtime.callCgoMmap", "runtime.callCgoMunmap", "runtime.callCgoSigaction"}),
    tls_tcb_size=None,
    rr_page_size=0x1000, rr_page_syscall_pc=0x70000002,
)

AARCH64 = Arch(
    name="aarch64",
    aliases=("aarch64", "arm64", "em_aarch64"),   # and gdb's "aarch64:..." variants (see arch_of)
    elf_machine=183, elf_machine_name="EM_AARCH64", elf_relative_reloc=1027,   # R_AARCH64_RELATIVE
    audit_arch=0xC00000B7,
    ptr_size=8,
    user_va_limit=1 << 48,
    pc_reg="pc", sp_reg="sp", link_reg="x30", tp_reg="tpidr",
    rr_serves_tp=False,   # rr's aarch64 target description is core + fpu
    gregs=tuple("x%d" % i for i in range(31)) + ("sp", "pc", "cpsr"),   # user_pt_regs; pstate is gdb's cpsr
    gdb_regs=tuple("x%d" % i for i in range(31)) + ("sp", "pc", "cpsr", "tpidr"),
    syscall_nr_reg="x8", syscall_arg_regs=tuple("x%d" % i for i in range(6)),
    syscall_result_reg="x0", entry_result_enosys=False, result_overwrites_arg0=True,
    syscall_nr_regset=0x404,   # NT_ARM_SYSTEM_CALL (elf.h)
    rr_log_regs=("x[8]", "x[0]", "x[1]", "x[2]", "x[0]"),
    nr_ioctl=29, nr_open=None, nr_openat=56, nr_openat2=437, nr_seccomp=277, nr_tgkill=131,
    syscall_names=_AARCH64_SYSCALLS,
    pc_quantum=4,
    go_g_reg="x28", go_g_label="r28", go_tls_g_symbol="runtime.tls_g",
    go_static_g_tp_offset=None,
    # newproc1: alignUp(4*PtrSize + MinFrameSize 8, StackAlign 16)
    go_goexit_sp_offset=48,
    go_sp_saving_stubs=frozenset(),
    tls_tcb_size=16,
    rr_page_size=0x10000, rr_page_syscall_pc=0x70000004,
)

ARCHES: Tuple[Arch, ...] = (X86_64, AARCH64)
SUPPORTED_ARCHES: Tuple[str, ...] = tuple(a.name for a in ARCHES)
_BY_ALIAS: Dict[str, Arch] = {alias: a for a in ARCHES for alias in a.aliases}
_BY_ELF: Dict[Union[int, str], Arch] = dict([(a.elf_machine, a) for a in ARCHES] +
                                            [(a.elf_machine_name, a) for a in ARCHES])


def arch_of(name: Optional[str]) -> Optional[Arch]:
    """The record for any spelling of a supported arch ('i386:x86-64', 'EM_AARCH64', 'arm64', ...), else None."""
    n = (name or "").lower()
    a = _BY_ALIAS.get(n)
    if a is None and n.startswith("aarch64"):   # gdb's "aarch64:ilp32" and the like
        a = AARCH64
    return a


def normalize_arch(name: Optional[str]) -> str:
    """Our name for a supported arch's spelling; any other name comes back lower-cased."""
    a = arch_of(name)
    return a.name if a is not None else (name or "").lower()


def by_elf_machine(machine: Union[int, str]) -> Optional[Arch]:
    """The record for an ELF e_machine (the number, or pyelftools' 'EM_...' name), else None."""
    return _BY_ELF.get(machine)
