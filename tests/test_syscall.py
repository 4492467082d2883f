"""Pending-syscall decoding from register sets (x86-64 and aarch64, entry/exit/interrupted)."""
import pytest

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.syscall import pending_syscall
from gdb_rr_dmabuf.target_memory import MemoryTarget

M64 = (1 << 64) - 1


def x86(**regs):
    base = {"rax": 0, "orig_rax": 16, "rdi": 3, "rsi": 0xC0086202, "rdx": 0x7FFC0000, "r10": 0, "r8": 0,
            "r9": 0, "rip": 0x401000, "rsp": 0x7FFC1000}
    base.update(regs)
    return MemoryTarget(regs={k: v & M64 for k, v in base.items()})


def test_x86_exit_stop_reads_result_and_args():
    sc = pending_syscall(x86(rax=0))
    assert (sc.name, sc.state, sc.result) == ("ioctl", "exit", 0)
    assert sc.args[:3] == [3, 0xC0086202, 0x7FFC0000]
    assert sc.is_ioctl


def test_x86_entry_stop_is_minus_enosys():
    sc = pending_syscall(x86(rax=-38))
    assert sc.state == "entry" and sc.result is None


def test_x86_error_result_is_negative_errno():
    sc = pending_syscall(x86(rax=-25))
    assert sc.state == "exit" and sc.result == -25


def test_x86_interrupted_syscall():
    sc = pending_syscall(x86(orig_rax=202, rax=-512))
    assert sc.name == "futex" and sc.state == "interrupted" and not sc.is_ioctl


def test_x86_not_in_syscall_is_one_clear_line():
    with pytest.raises(UserError) as e:
        pending_syscall(x86(orig_rax=-1))
    assert "not stopped in a system call" in str(e.value) and "\n" not in str(e.value)


def test_x86_without_orig_rax():
    t = MemoryTarget(regs={"rax": 0, "rip": 1})
    with pytest.raises(UserError, match="orig_rax"):
        pending_syscall(t)


def test_rr_page_pc_noted():
    sc = pending_syscall(x86(rip=0x70000002))
    assert sc.in_rr_page and any("rr's page" in n for n in sc.notes)


def test_aarch64_exit_loses_fd():
    t = MemoryTarget(regs={"x8": 29, "x0": 0, "x1": 0xC0086202, "x2": 0xFFFF0000, "pc": 0x1000}, arch="aarch64")
    sc = pending_syscall(t)
    assert sc.name == "ioctl" and sc.state == "exit" and sc.result == 0
    assert sc.args[0] is None and sc.args[1] == 0xC0086202
    assert any("lost" in n for n in sc.notes)


def test_aarch64_entry_when_told():
    t = MemoryTarget(regs={"x8": 29, "x0": 5, "x1": 0xC0086202, "x2": 0xFFFF0000, "pc": 0x1000}, arch="aarch64")
    sc = pending_syscall(t, "entry")
    assert sc.args[0] == 5 and sc.result is None


def test_unsupported_arch():
    t = MemoryTarget(regs={}, arch="riscv:rv64")
    with pytest.raises(UserError, match="not supported"):
        pending_syscall(t)


def test_not_in_ioctl_is_a_type_and_notes_have_kinds():
    """dmabuf-why points at other threads by the error's type, why.py drops the fd-lost note by its kind:
    neither reads the words."""
    from gdb_rr_dmabuf import notes
    from gdb_rr_dmabuf.errors import NotInIoctl
    from gdb_rr_dmabuf.why import analyse_thread
    with pytest.raises(NotInIoctl):
        pending_syscall(x86(orig_rax=-1))
    with pytest.raises(NotInIoctl, match=r"futex \(syscall 202\), not ioctl"):
        analyse_thread(x86(orig_rax=202))
    t = MemoryTarget(regs={"x8": 29, "x0": 0, "x1": 0xC0086202, "x2": 0xFFFF0000, "pc": 0x70000002, "x7": 5},
                     arch="aarch64")
    sc = pending_syscall(t)
    assert [n.kind for n in sc.notes] == [notes.ENTRY_OR_EXIT_ASSUMED, notes.FD_LOST, notes.RR_PAGE]
    assert notes.without_kind(sc.notes + ["plain"], notes.FD_LOST) == [sc.notes[0], sc.notes[2], "plain"]
    assert [n.kind for n in pending_syscall(x86(orig_rax=202, rax=-512)).notes] == [notes.INTERRUPTED]
