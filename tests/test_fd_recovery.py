"""gdb_rr_dmabuf/fdrecover.py on synthetic stops: code assembled by binutils' aarch64-linux-gnu-as (the
instruction bytes come from outside our code), stack and registers laid out as at a real exit stop (the
layouts seen in the arm64 lab: Go's Syscall6, glibc's ioctl.S, libdrm's drmIoctl, gcc -O0). The real
stops are in tests/test_lab_arm64_fd.py."""
from __future__ import annotations

import struct

import pytest

from gdb_rr_dmabuf import fdrecover as fr
from gdb_rr_dmabuf.render import why_text
from gdb_rr_dmabuf.report import why_json
from gdb_rr_dmabuf.syscall import pending_syscall
from gdb_rr_dmabuf.target_memory import MemoryTarget
from gdb_rr_dmabuf.why import analyse_thread
from tests.support.aarch64_asm import NEEDS_AS, asm

pytestmark = NEEDS_AS

EXPORT = 0xC0086202


@pytest.fixture(scope="module")
def A(tmp_path_factory):
    return lambda text: asm(text, tmp_path_factory)


# Go 1.19.8 .. 1.27.3 on arm64: internal/runtime/syscall.Syscall6 (ABI0, frameless), from `go tool objdump`
GO_SYSCALL6 = """
ldr x8, [sp, #8]
ldr x0, [sp, #16]
ldr x1, [sp, #24]
ldr x2, [sp, #32]
ldr x3, [sp, #40]
ldr x4, [sp, #48]
ldr x5, [sp, #56]
svc #0
cmn x0, #4095
"""
# glibc 2.41 (trixie) sysdeps/unix/sysv/linux/aarch64/ioctl.S, as gdb disassembles it in the lab
GLIBC_IOCTL = """
bti c
mov x8, #29
sxtw x0, w0
svc #0
cmn x0, #0xfff
"""
# libdrm 2.4.124 (trixie, stripped) drmIoctl, as gdb disassembles it in the lab
DRMIOCTL = """
paciasp
stp x29, x30, [sp, #-48]!
mov x29, sp
stp x19, x20, [sp, #16]
mov x20, x2
stp x21, x22, [sp, #32]
mov w22, w0
mov x1, x21
b 1f
2: bl .
ldr w3, [x0]
cmp w3, #0x4
ccmp w3, #0xb, #0x4, ne
b.ne 3f
1: mov x2, x20
mov x1, x21
mov w0, w22
bl .+0x1000
mov w19, w0
cmn w0, #0x1
b.eq 2b
3: mov w0, w19
ret
"""

CODE0, CODE1, SP = 0x10000, 0x20000, 0x7000


def go_stop(A, fd=7, slots=None, regs_over=None):
    code = A(GO_SYSCALL6)
    svc = CODE0 + code.index(struct.pack("<I", fr.SVC0))
    vals = {8: 29, 16: fd, 24: EXPORT, 32: 0x400006CD58, 40: 0, 48: 0, 56: 0}
    vals.update(slots or {})
    stack = bytearray(128)
    for off, v in vals.items():
        stack[off:off + 8] = struct.pack("<Q", v)
    regs = {"x0": 0, "x1": EXPORT, "x2": 0x400006CD58, "x3": 0, "x4": 0, "x5": 0, "x7": 1, "x8": 29,
            "pc": svc + 4, "sp": SP}
    regs.update(regs_over or {})
    return {CODE0: code, SP: bytes(stack)}, regs


def reader(regions):
    return MemoryTarget(regions=regions, arch="aarch64").read


def test_decoder_against_the_assembler(A):
    words = struct.unpack("<5I", A("ldr x0, [sp, #16]\nmov w0, w22\nsxtw x0, w0\nldr w0, [x29, #28]\nldur w0, [x29, #-4]"))
    d = [fr.decode(w, 0) for w in words]
    assert (d[0].kind, d[0].rd, d[0].rn, d[0].imm, d[0].size) == ("ldr", 0, 31, 16, 8)
    assert (d[1].kind, d[1].rd, d[1].rn, d[1].size) == ("mov", 0, 22, 4)
    assert (d[2].kind, d[2].rd, d[2].rn) == ("sxtw", 0, 0)
    assert (d[3].kind, d[3].rn, d[3].imm, d[3].size) == ("ldr", 29, 28, 4)
    assert (d[4].kind, d[4].rn, d[4].imm) == ("ldr", 29, -4)
    p = [fr.decode(w, 0) for w in struct.unpack("<6I", A(
        "stp w4, w3, [sp, #40]\nstp x29, x30, [sp, #-48]!\nldp w0, w1, [x19]\nldp x29, x30, [sp], #48\n"
        "str x30, [sp, #-16]!\nldp x1, x2, [sp, #16]"))]
    assert (p[0].kind, p[0].rn, p[0].imm, p[0].size, p[0].writeback) == ("str", 31, 40, 8, False)
    assert (p[1].kind, p[1].rn, p[1].writeback) == ("str", 31, True)
    assert (p[2].kind, p[2].rd, p[2].rd2, p[2].rn, p[2].size) == ("ldp", 0, 1, 19, 4)
    assert (p[3].kind, p[3].writeback) == ("ldp", True)
    assert (p[4].kind, p[4].writeback) == ("str", True)
    assert (p[5].kind, p[5].rd, p[5].rd2, p[5].imm, p[5].size) == ("ldp", 1, 2, 16, 8)
    b = struct.unpack("<5I", A("b 1f\ncbz x1, 1f\ntbnz w2, #3, 1f\nb.ne 1f\n1: nop"))[:4]
    assert [fr.decode(w, 4 * i).target for i, w in enumerate(b)] == [16, 16, 16, 16]
    assert fr.decode(struct.unpack("<I", A("svc #0"))[0], 0).kind == "svc"
    assert fr.decode(struct.unpack("<I", A("bl .+8"))[0], 0).kind == "call"


def test_go_syscall_slot(A):
    regions, regs = go_stop(A, fd=9)
    v, src, how = fr.from_syscall_slot(reader(regions), regs)
    assert (v, src) == (9, "syscall-slot") and "[sp+16]" in how and "x1, x2, x3, x4, x5" in how


def test_go_slot_refused_when_a_neighbour_disagrees(A):
    regions, regs = go_stop(A, fd=9, slots={24: 0x40187542})  # x1's slot is not this call's request
    v, _, why = fr.from_syscall_slot(reader(regions), regs)
    assert v is None and "no longer equals x1" in why


def test_no_svc_before_pc(A):
    regions, regs = go_stop(A)
    regs["pc"] += 4
    assert fr.from_syscall_slot(reader(regions), regs)[0] is None


def _c_stop(A, caller_text, caller_regs, call_label="9:", live=None):
    """Frame 0 glibc's ioctl at CODE0 (stopped after its svc), frame 1 the caller at CODE1 whose `bl`
    is at the label 9 (the return address follows it)."""
    f0 = A(GLIBC_IOCTL)
    c1 = A(caller_text)
    # the caller's call: one 4-byte instruction per line before the label
    head = caller_text.split(call_label)[0]
    off = 4 * sum(1 for line in head.splitlines() if line.strip() and not line.strip().endswith(":"))
    svc = CODE0 + f0.index(struct.pack("<I", fr.SVC0))
    regs = {"x0": 0, "x1": EXPORT, "x2": 0xFFFFFFFFFAA8, "x7": 1, "x8": 29, "pc": svc + 4, "sp": SP}
    regs.update(live or {})
    frames = [fr.FrameRegs(pc=svc + 4, start=CODE0, function="ioctl"),
              fr.FrameRegs(pc=CODE1 + off + 4, start=CODE1, function="caller", regs=caller_regs)]
    return {CODE0: f0, CODE1: c1, SP: bytes(256)}, regs, frames


def test_drmioctl_callee_saved_register(A):
    text = DRMIOCTL.replace("bl .+0x1000", "9: bl .+0x1000")
    regions, regs, frames = _c_stop(A, text, {22: 7, 19: 5})
    v, src, how = fr.from_caller(reader(regions), regs, frames)
    assert (v, src) == (7, "caller-register") and "x22" in how


def test_a_branch_between_the_def_and_the_call_is_refused(A):
    text = "mov w0, w22\n1: nop\n9: bl .+0x100\ncbz x3, 1b\nret"
    regions, regs, frames = _c_stop(A, text, {22: 7})
    v, _, why = fr.from_caller(reader(regions), regs, frames)
    assert v is None and "a branch lands" in why


def test_caller_stack_slot_at_O0(A):
    text = "stp x29, x30, [sp, #-48]!\nmov x29, sp\nstr w0, [sp, #28]\nldr w0, [sp, #28]\nmov x1, #0x6202\n9: bl .+0x100"
    regions, regs, frames = _c_stop(A, text, {31: SP + 0x40, 29: SP + 0x40})
    stack = bytearray(256)
    stack[0x40 + 28:0x40 + 32] = struct.pack("<i", 11)
    regions[SP] = bytes(stack)
    v, src, how = fr.from_caller(reader(regions), regs, frames)
    assert (v, src) == (11, "caller-stack") and "[sp+28]" in how


def test_fd_from_a_call_is_unknown(A):
    text = "stp x29, x30, [sp, #-32]!\nbl .+0x200\nmov x1, #0x6202\nadd x2, sp, #0x18\n9: bl .+0x100"
    regions, regs, frames = _c_stop(A, text, {})
    v, _, why = fr.from_caller(reader(regions), regs, frames)
    assert v is None and "does not set w0" in why


def test_caller_saved_register_only_when_nothing_below_wrote_it(A):
    text = "mov w0, w9\n9: bl .+0x100"
    regions, regs, frames = _c_stop(A, text, {}, live={"x9": 6})
    assert fr.from_caller(reader(regions), regs, frames)[0] == 6      # glibc's ioctl never writes x9
    regions, regs, frames = _c_stop(A, "mov w0, w8\n9: bl .+0x100", {}, live={"x8": 29})
    assert fr.from_caller(reader(regions), regs, frames)[0] is None   # ioctl.S sets x8 to 29


def test_entry_record_must_be_this_call():
    regs = {"x0": 0, "x1": EXPORT, "x2": 0x1000, "x8": 29, "pc": 0x4000}
    rec = fr.EntryRecord(tid=5, pc=0x4000, x=(3, EXPORT, 0x1000, 0, 0, 0), x8=29)
    assert fr.from_entry(rec, 5, regs)[0] == 3
    assert fr.from_entry(rec, 6, regs)[0] is None
    assert fr.from_entry(rec, 5, dict(regs, x2=0x2000))[0] is None
    assert fr.from_entry(None, 5, regs)[0] is None


def test_proc_one_dmabuf_is_deduced_several_are_candidates():
    read = MemoryTarget().read
    regs = {"pc": 0x10, "sp": 0x100, "x1": EXPORT, "x8": 29}
    one = fr.recover_fd(read, regs, fd_links={3: "/dev/udmabuf", 5: "/dmabuf:", 6: "anon_inode:sync_file"},
                        dmabuf_request=True, result=0)
    assert (one.number, one.source, one.confidence) == (5, "proc", "deduced")
    two = fr.recover_fd(read, regs, fd_links={5: "/dmabuf:", 7: "/dmabuf:"}, dmabuf_request=True, result=0)
    assert two.number is None and two.candidates == [5, 7]
    failed = fr.recover_fd(read, regs, fd_links={5: "/dmabuf:"}, dmabuf_request=True, result=-22)
    assert failed.number is None and failed.candidates == []


def test_exact_sources_must_agree(A):
    regions, regs = go_stop(A, fd=9)
    rec = fr.EntryRecord(tid=1, pc=regs["pc"], x=(4, EXPORT, regs["x2"], 0, 0, 0), x8=29)
    out = fr.recover_fd(reader(regions), regs, tid=1, entry=rec)
    assert out.number is None and out.conflict and out.candidates == [4, 9]
    rec = fr.EntryRecord(tid=1, pc=regs["pc"], x=(9, EXPORT, regs["x2"], 0, 0, 0), x8=29)
    out = fr.recover_fd(reader(regions), regs, tid=1, entry=rec)
    assert (out.number, out.source) == (9, "entry-stop")


def test_exact_fd_that_proc_says_is_no_dmabuf_is_flagged(A):
    regions, regs = go_stop(A, fd=9)
    out = fr.recover_fd(reader(regions), regs, fd_links={5: "/dmabuf:", 9: "/dev/null"}, dmabuf_request=True, result=0)
    assert out.number == 9 and "not a dma-buf" in out.conflict


def test_x7_tells_the_exit_stop():
    t = MemoryTarget(regs={"x8": 29, "x0": 0, "x1": EXPORT, "x2": 1, "x7": 1, "pc": 0x1000}, arch="aarch64")
    sc = pending_syscall(t)
    assert sc.state == "exit" and not any("cannot tell" in n for n in sc.notes)
    t = MemoryTarget(regs={"x8": 29, "x0": 5, "x1": EXPORT, "x2": 1, "x7": 0, "pc": 0x1000}, arch="aarch64")
    sc = pending_syscall(t)   # x7 = 0 alone is no proof of an entry stop
    assert sc.state == "exit" and any("as at a syscall-entry stop" in n for n in sc.notes)
    t.syscall_stop_kind = lambda: "entry"   # the stop hook saw this very catchpoint stop
    assert pending_syscall(t).state == "entry"


class _Stopped(MemoryTarget):
    def __init__(self, frames=(), entry=None, **kw):
        super().__init__(arch="aarch64", tid=77, **kw)
        self._f, self._e = list(frames), entry

    def fd_frames(self):
        return self._f

    def entry_record(self):
        return self._e


def test_report_and_text_for_a_recovered_fd(A):
    regions, regs = go_stop(A, fd=9)
    regions[0x400006CD58] = struct.pack("<Ii", 1, 10)
    rep = analyse_thread(_Stopped(regions=regions, regs=regs))
    j = why_json(rep)
    assert j["fd"]["number"] == 9 and j["fd"]["recovery"]["source"] == "syscall-slot"
    text = why_text(rep)
    assert "  fd       9  (from the stack slot x0 was loaded from)" in text
    assert "note: fd 9 read from: the stack slot" in text


def test_report_and_text_when_the_fd_is_gone(A):
    regions, regs, frames = _c_stop(A, "stp x29, x30, [sp, #-32]!\nbl .+0x200\n9: bl .+0x100", {})
    rep = analyse_thread(_Stopped(frames=frames, regions=regions, regs=regs))
    j = why_json(rep)
    assert j["fd"]["number"] is None and j["fd"]["recovery"]["source"] is None
    assert len(j["fd"]["recovery"]["tried"]) == 4
    text = why_text(rep)
    assert "  fd       unknown: the exit stop overwrote x0 and no frame kept it" in text
    assert "stop at the call's entry (`catch syscall ioctl`" in text


def test_x86_64_has_no_recovery():
    t = MemoryTarget(regs={"orig_rax": 16, "rax": 0, "rdi": 3, "rsi": EXPORT, "rdx": 0, "rip": 0x401000},
                     arch="x86-64")
    j = why_json(analyse_thread(t))
    assert j["fd"] == {"number": 3, "target": None}


# tests/fixtures/go/demo's C side as aarch64-linux-gnu-gcc 12 -O2 compiles it (the arm64 lab's demo build):
# probe_fence_export passes x0 through to ioctl; gpu_export_sync_file keeps the fd in x19
PROBE = """
stp x29, x30, [sp, #-48]!
mov w4, w1
mov w3, #-1
mov x29, sp
mov x1, #0x6202
movk x1, #0xc008, lsl #16
str x19, [sp, #16]
mov x19, x2
add x2, sp, #0x28
stp w4, w3, [sp, #40]
bl .+0x1000
cbnz w0, 1f
ldr w1, [sp, #44]
1: ret
"""
GPU = """
stp x29, x30, [sp, #-48]!
mov x29, sp
stp x19, x21, [sp, #16]
mov w19, w0
mov x21, x3
cbnz w2, 1f
mov x2, x21
mov w0, w19
bl .+0x100
mov w19, w0
1: ret
"""


def test_the_demos_cgo_c_path(A):
    f0, p1, g2 = A(GLIBC_IOCTL), A(PROBE), A(GPU)
    CODE2 = 0x30000
    svc = CODE0 + f0.index(struct.pack("<I", fr.SVC0))
    regs = {"x0": 0, "x1": EXPORT, "x2": SP + 0x28, "x7": 1, "x8": 29, "pc": svc + 4, "sp": SP}
    frames = [fr.FrameRegs(pc=svc + 4, start=CODE0, function="ioctl"),
              fr.FrameRegs(pc=CODE1 + 11 * 4, start=CODE1, function="probe_fence_export", regs={19: 0x1234}),
              fr.FrameRegs(pc=CODE2 + 9 * 4, start=CODE2, function="gpu_export_sync_file", regs={19: 6})]
    v, src, how = fr.from_caller(reader({CODE0: f0, CODE1: p1, CODE2: g2}), regs, frames)
    assert (v, src) == (6, "caller-register"), how
    assert "x19 in gpu_export_sync_file's frame" in how and "probe_fence_export" in how


def test_no_symbols_the_code_after_a_ret_is_the_entry(A):
    """A stripped executable: the callers' starts come from the `ret` before them, and a branch landing
    at such a start refuses it."""
    f0, g2 = A(GLIBC_IOCTL), A(GPU)
    p1 = A("ret\n" + PROBE)
    CODE2 = 0x30000
    svc = CODE0 + f0.index(struct.pack("<I", fr.SVC0))
    regs = {"x0": 0, "x1": EXPORT, "x2": SP + 0x28, "x7": 1, "x8": 29, "pc": svc + 4, "sp": SP}
    frames = [fr.FrameRegs(pc=svc + 4, start=CODE0, function="ioctl"),
              fr.FrameRegs(pc=CODE1 + 12 * 4, regs={19: 0x1234}),
              fr.FrameRegs(pc=CODE2 + 9 * 4, regs={19: 6})]
    regions = {CODE0: f0, CODE1: p1, CODE2: g2}
    assert fr.from_caller(reader(regions), regs, frames)[:2] == (6, "caller-register")
    regions[CODE1] = A("b .+0x400\nnop\n" + PROBE)   # a tail call before it, then a padding nop
    frames[1] = fr.FrameRegs(pc=CODE1 + 13 * 4, regs={19: 0x1234})
    assert fr.from_caller(reader(regions), regs, frames)[:2] == (6, "caller-register")
    p1 = A("ret\n" + PROBE + "b .-0x34\n")     # a branch back to the instruction after the ret
    regions[CODE1] = p1
    frames[1] = fr.FrameRegs(pc=CODE1 + 12 * 4, regs={19: 0x1234})
    v, _, why = fr.from_caller(reader(regions), regs, frames)
    assert v is None and "a branch may land" in why


def test_recovery_json_has_its_documented_keys(A):
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text[text.index('"recovery": {'):]
    block = block[:block.index("}")]
    documented = set(re.findall(r'"([a-z_]+)"', block)) - {"recovery", "entry", "stop", "syscall", "slot"}
    documented -= {"entry-stop", "syscall-slot", "caller-register", "caller-stack", "proc", "exact", "deduced"}
    regions, regs = go_stop(A, fd=9)
    j = why_json(analyse_thread(_Stopped(regions=regions, regs=regs)))
    assert documented and documented == set(j["fd"]["recovery"]), (documented, j["fd"]["recovery"])
