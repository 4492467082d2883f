"""The fd argument an aarch64 syscall-exit stop hides (x0 holds the result there), recovered where the
stopped program still holds it, and said plainly when it does not.

Sources, most exact first (each names itself in the result):
- "entry-stop": the same thread's entry stop of this very call, recorded by the commands' stop hook
  (same pc, x8, x1, x2): x0 was the fd there.
- "syscall-slot": the code before the `svc` loaded x0 from the stack ([sp, #imm]) and the slot is still
  there. Go's syscall path ends in `internal/runtime/syscall.Syscall6` (ABI0, frameless), which loads
  x8 and x0..x5 from [sp+8..56] (every release 1.19.8 .. 1.27.3); the slots of the other registers are
  checked against x8, x1, x2 ... at the stop, so a wrong layout is never read as an fd.
- "caller-register" / "caller-stack": frame 0 passed x0 through untouched from its entry (glibc's
  `ioctl` is `mov x8, #29; sxtw x0, w0; svc`), and the caller set w0 just before its `bl` from a
  callee-saved register (x19..x28, read in the caller's frame through gdb's unwinder) or from its own
  stack slot (`ldr w0, [sp|x29, #imm]`); no direct branch lands between that instruction and the call.
  (libdrm's drmIoctl: `mov w0, w22; bl ioctl`.)
- "proc": /proc/PID/fd when the process is on this machine: the request is a dma-buf one and it returned
  0, so the fd was a dma-buf; exactly one dma-buf fd is a deduction, several are candidates.

A stop in rr's page (pc 0x70000004: rr patched the program's `svc`, rr_page.S's `svc #0; ret`): rr's
trampoline (librrpreload's _raw_syscall, src/preload/raw_syscall.S) shifted the arguments down one register
(`mov x8, x0; mov x0, x1; mov x1, x2` ...) before it branched there, so the code before the svc is rr's and
no register or stack slot of the program's code holds the fd any more: only the entry stop's record and
/proc can tell, and the result says so (`rr_page`).

Only straight-line code is read, with a short list of instruction forms; anything else ends the search
for that source. Pure Python: the memory and the frames come from the caller (commands/ over gdb, or
tests on bytes).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

SVC0 = 0xD4000001
RET = 0xD65F03C0
CALLEE_SAVED = tuple(range(19, 29))          # x19..x28 (AAPCS64)
KERNEL_PRESERVED = tuple(n for n in range(1, 31) if n != 7)   # at a syscall-exit stop: all but x0 (result), x7
MAX_BACK = 24                                # instructions read back from a call or svc
BRANCH_SCAN = 1024                           # instructions read on each side of a call to find branches into it
SP = 31


# ---- a few AArch64 instruction forms -------------------------------------------------------------

@dataclass
class Insn:
    kind: str                       # 'svc' 'hint' 'ldr' 'ldp' 'mov' 'sxtw' 'movw' 'alu' 'adr' 'str' 'branch' 'call' 'other'
    rd: Optional[int] = None        # register written (31 = sp for alu/ldr base writeback)
    rd2: Optional[int] = None       # ldp's second register
    rn: Optional[int] = None        # base / source register
    imm: int = 0                    # byte offset
    size: int = 8                   # load size
    signed: bool = False
    writeback: bool = False         # the base register changes (pre/post-index)
    target: Optional[int] = None    # branch target (absolute), when direct


def _sext(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def decode(word: int, addr: int) -> Insn:
    w = word
    if w == SVC0:
        return Insn("svc")
    if (w & 0xFFFFF01F) == 0xD503201F:                      # HINT: nop, bti, paciasp, autiasp
        return Insn("hint")
    if (w & 0xFFC00000) in (0xF9400000, 0xB9400000, 0xB9800000):   # LDR Xt/Wt, LDRSW, [Xn, #uimm]
        scale = 8 if (w & 0xFFC00000) == 0xF9400000 else 4
        return Insn("ldr", rd=w & 31, rn=(w >> 5) & 31, imm=((w >> 10) & 0xFFF) * scale, size=scale,
                    signed=(w & 0xFFC00000) == 0xB9800000)
    if (w & 0xFFE00C00) in (0xF8400000, 0xB8400000):        # LDUR Xt/Wt, [Xn, #simm9]
        scale = 8 if (w & 0xFFE00C00) == 0xF8400000 else 4
        return Insn("ldr", rd=w & 31, rn=(w >> 5) & 31, imm=_sext((w >> 12) & 0x1FF, 9), size=scale)
    if (w & 0x7FC00000) == 0x29400000:                      # LDP Xt1, Xt2 / Wt1, Wt2, [Xn, #simm7*scale]
        scale = 8 if w >> 31 else 4
        return Insn("ldp", rd=w & 31, rd2=(w >> 10) & 31, rn=(w >> 5) & 31,
                    imm=_sext((w >> 15) & 0x7F, 7) * scale, size=scale)
    if (w & 0x7E400000) == 0x28400000 and (w & 0x7FC00000) != 0x28400000:   # LDP pre/post-index
        return Insn("ldp", rd=w & 31, rd2=(w >> 10) & 31, rn=(w >> 5) & 31, writeback=True)
    if (w & 0xFFE0FFE0) in (0xAA0003E0, 0x2A0003E0):        # MOV Xd, Xm / MOV Wd, Wm (ORR with zr)
        return Insn("mov", rd=w & 31, rn=(w >> 16) & 31, size=8 if w >> 31 else 4)
    if (w & 0xFFFFFC00) == 0x93407C00:                      # SXTW Xd, Wn
        return Insn("sxtw", rd=w & 31, rn=(w >> 5) & 31)
    if (w & 0x1F800000) == 0x12800000 and ((w >> 29) & 3) != 1:   # MOVN/MOVZ/MOVK
        return Insn("movw", rd=w & 31)
    if (w & 0x1F800000) == 0x12000000:                      # AND/ORR/EOR/ANDS (immediate): mov x1, #mask
        return Insn("movw", rd=w & 31)
    if (w & 0x1F000000) == 0x11000000:                      # ADD/SUB (immediate); rd 31 is sp
        return Insn("alu", rd=w & 31, rn=(w >> 5) & 31)
    if (w & 0x1F000000) == 0x10000000:                      # ADR/ADRP
        return Insn("adr", rd=w & 31)
    if (w & 0xFFC00000) in (0xF9000000, 0xB9000000):        # STR Xt/Wt, [Xn, #uimm]
        scale = 8 if (w & 0xFFC00000) == 0xF9000000 else 4
        return Insn("str", rn=(w >> 5) & 31, imm=((w >> 10) & 0xFFF) * scale, size=scale)
    if (w & 0x7FC00000) == 0x29000000:                      # STP Xt1, Xt2 / Wt1, Wt2, [Xn, #simm7*scale]
        scale = 8 if w >> 31 else 4
        return Insn("str", rn=(w >> 5) & 31, imm=_sext((w >> 15) & 0x7F, 7) * scale, size=2 * scale)
    if (w & 0x7FC00000) in (0x29800000, 0x28800000):        # STP pre/post-index: the base moves
        return Insn("str", rn=(w >> 5) & 31, imm=0, size=16, writeback=True)
    if (w & 0xBFE00400) == 0xB8000400:                      # STR Xt/Wt, [Xn, #simm9]! / [Xn], #simm9
        return Insn("str", rn=(w >> 5) & 31, imm=0, size=8, writeback=True)
    if (w & 0x7C000000) == 0x14000000:                      # B / BL imm26
        t = addr + _sext(w & 0x3FFFFFF, 26) * 4
        return Insn("call" if w >> 31 else "branch", target=t)
    if (w & 0xFF000010) == 0x54000000:                      # B.cond
        return Insn("branch", target=addr + _sext((w >> 5) & 0x7FFFF, 19) * 4)
    if (w & 0x7E000000) == 0x34000000:                      # CBZ/CBNZ
        return Insn("branch", target=addr + _sext((w >> 5) & 0x7FFFF, 19) * 4)
    if (w & 0x7E000000) == 0x36000000:                      # TBZ/TBNZ
        return Insn("branch", target=addr + _sext((w >> 5) & 0x3FFF, 14) * 4)
    if (w & 0xFFFFFC1F) in (0xD63F0000,):                   # BLR
        return Insn("call")
    if (w & 0xFE000000) == 0xD6000000:                      # BR, RET, ERET ...
        return Insn("branch")
    return Insn("other")


# ---- where x0 came from, reading back from a call or svc ----------------------------------------

@dataclass
class X0Def:
    """How x0 got its value at `at` (the call or svc): from register `reg`, or from memory [base+imm],
    or (`from_entry`) unchanged since the function's entry at `start`."""
    at: int
    addr: Optional[int] = None           # the defining instruction
    reg: Optional[int] = None
    base: Optional[int] = None
    imm: int = 0
    size: int = 8
    signed: bool = False
    from_entry: bool = False
    start_guessed: bool = False          # no symbol: the function taken to start after a `ret`
    written: Tuple[int, ...] = ()        # registers written between the definition and `at`
    siblings: Tuple[Tuple[int, int, int], ...] = ()   # (reg, base, imm) of other loads in the window


def _words(read: Callable[[int, int], bytes], lo: int, hi: int) -> Optional[List[int]]:
    try:
        data = read(lo, hi - lo)
    except Exception:
        return None
    if len(data) != hi - lo:
        return None
    return list(struct.unpack("<%dI" % ((hi - lo) // 4), data))


def _lowest_readable(read, lo: int, hi: int) -> int:
    """The lowest 4-aligned address a in [lo, hi] with [a, hi) readable (a few reads: bisection)."""
    bad, ok = lo, hi
    while ok - bad > 4:
        mid = bad + ((ok - bad) // 8) * 4
        if mid == bad:
            mid += 4
        if _words(read, mid, hi) is not None:
            ok = mid
        else:
            bad = mid
    return ok


def _highest_readable(read, lo: int, hi: int) -> int:
    """The highest 4-aligned address b in [lo, hi] with [lo, b) readable."""
    ok, bad = lo, hi
    while bad - ok > 4:
        mid = ok + ((bad - ok) // 8) * 4
        if mid == ok:
            mid += 4
        if _words(read, lo, mid) is not None:
            ok = mid
        else:
            bad = mid
    return ok


def x0_definition(read: Callable[[int, int], bytes], at: int, start: Optional[int] = None,
                  max_back: int = MAX_BACK) -> Optional[X0Def]:
    """Read back from the instruction at `at` (a `bl`/`blr` or `svc`) to the one that set x0. None when
    the code there is not one of the simple straight-line forms this knows."""
    lo = at - 4 * max_back
    if start is not None and start <= at:
        lo = max(lo, start)
    words: List[int] = []
    if lo < at:
        got = _words(read, lo, at)
        if got is None:
            if start is not None and lo == start:
                return None
            lo = _lowest_readable(read, lo, at)   # the code may begin later (a mapping's start)
            got = _words(read, lo, at) if lo < at else []
        words = got or []
    written: List[int] = []
    stored: List[Tuple[int, int, int]] = []     # (base, imm, size) of stores after the definition
    siblings: List[Tuple[int, int, int]] = []
    for i in range(len(words) - 1, -1, -1):
        addr = lo + 4 * i
        ins = decode(words[i], addr)
        k = ins.kind
        if start is None and (words[i] in (RET, 0) or (words[i] & 0xFC000000) == 0x14000000
                              or (words[i] & 0xFFFFFC1F) == 0xD61F0000):
            # no symbol: the code after a `ret`, an unconditional `b`/`br` (a tail call) or padding is
            # taken as the function's entry; the caller checks that no branch lands there (then only a
            # call reaches it)
            return X0Def(at=at, addr=addr + 4, from_entry=True, start_guessed=True, written=tuple(written))
        if k in ("branch", "call", "svc", "other"):
            return None
        if k == "hint":
            continue
        if k == "str":
            if ins.writeback:
                written.append(ins.rn)
            stored.append((ins.rn, ins.imm, ins.size))
            continue
        dests = [d for d in (ins.rd, ins.rd2) if d is not None]
        if k == "ldp" and ins.writeback:
            if 0 in dests:
                return None
            written.append(ins.rn)
        if 0 in dests and k in ("ldr", "ldp"):
            if ins.rn in written or (ins.rn in dests and k == "ldp"):
                return None
            imm = ins.imm if ins.rd == 0 else ins.imm + ins.size
            for b, o, s in stored:   # a store after the load over the same bytes (or through another base)
                if b != ins.rn or not (o + s <= imm or imm + ins.size <= o):
                    return None
            return X0Def(at=at, addr=addr, base=ins.rn, imm=imm, size=ins.size, signed=ins.signed,
                         written=tuple(written), siblings=tuple(siblings))
        if 0 in dests and k in ("mov", "sxtw"):
            if ins.rn == 0:          # x0 from itself (glibc's sxtw x0, w0): keep reading back
                continue
            if ins.rn in written or ins.rn == 31:
                return None
            return X0Def(at=at, addr=addr, reg=ins.rn, size=ins.size if k == "mov" else 4,
                         signed=(k == "sxtw"), written=tuple(written), siblings=tuple(siblings))
        if 0 in dests:               # movw/alu/adr into x0: a constant or an address, not a passed fd
            return None
        if k == "ldr" and ins.rn not in written:
            siblings.append((ins.rd, ins.rn, ins.imm))
        if k == "ldp" and ins.rn not in written and ins.size == 8:
            siblings.append((ins.rd, ins.rn, ins.imm))
            siblings.append((ins.rd2, ins.rn, ins.imm + 8))
        written.extend(dests)
    if start is not None and lo == start:
        return X0Def(at=at, addr=start, from_entry=True, written=tuple(written))
    return None


def branches_into(read: Callable[[int, int], bytes], lo_excl: int, hi_incl: int,
                  start: Optional[int] = None, span: int = BRANCH_SCAN) -> Optional[bool]:
    """Does a direct branch in the code around land in (lo_excl, hi_incl]? None when the code cannot be read."""
    lo = max(start if start is not None else 0, lo_excl - 4 * span, 0)
    hi = hi_incl + 4 * span
    words = _words(read, lo, hi)
    if words is None:   # near a mapping's edge: read what is there
        if _words(read, lo_excl, hi_incl + 4) is None:
            return None
        lo = _lowest_readable(read, lo, hi_incl + 4)
        hi = _highest_readable(read, lo, hi)
        words = _words(read, lo, hi)
        if words is None:
            return None
    for i, w in enumerate(words):
        ins = decode(w, lo + 4 * i)
        if ins.kind == "branch" and ins.target is not None:
            if lo_excl < ins.target <= hi_incl:
                return True
    return False


# ---- the recovery --------------------------------------------------------------------------------

@dataclass
class FrameRegs:
    """One native frame as gdb's unwinder gives it: pc (frame 0: the stop's pc; older: the return
    address), the function's start when a symbol says, and its registers (None when unavailable)."""
    pc: int
    start: Optional[int] = None
    function: Optional[str] = None
    regs: Dict[int, Optional[int]] = field(default_factory=dict)   # 19..29 and 31 (sp)


@dataclass
class EntryRecord:
    """What the commands' stop hook saw at a syscall-entry stop of one thread."""
    tid: int
    pc: int
    x: Tuple[int, ...]                   # x0..x5
    x8: int


@dataclass
class FdRecovery:
    number: Optional[int] = None
    source: Optional[str] = None        # 'entry-stop' | 'syscall-slot' | 'caller-register' | 'caller-stack' | 'proc'
    how: str = ""                       # one line: where the value was read
    confidence: Optional[str] = None    # 'exact' (read where the call took it from) | 'deduced' (/proc) | None
    candidates: List[int] = field(default_factory=list)
    tried: List[str] = field(default_factory=list)    # why each other source gave nothing
    conflict: Optional[str] = None
    rr_page: bool = False               # the stop is in rr's page: the code-reading sources were not tried


RR_PAGE_TRIED = ("the code before the svc and the caller's frames: the stop is in rr's page, where rr's trampoline "
                 "(librrpreload's _raw_syscall) moved the arguments (x8 <- x0, x0 <- x1, x1 <- x2 ...) before its "
                 "svc, so neither holds the fd; only /proc can tell")


def _mask(v: int, size: int, signed: bool) -> int:
    v &= (1 << (8 * size)) - 1
    if signed or size == 4:          # an fd is an int: w registers and 4-byte slots are read as int32
        v = _sext(v, 8 * size)
    return v if v < (1 << 63) else v - (1 << 64)


def _as_fd(v: int) -> int:
    v &= 0xFFFFFFFF                  # the kernel reads the fd as an unsigned int of x0's low half
    return v - (1 << 32) if v >> 31 else v


def _read_u(read, addr: int, size: int) -> Optional[int]:
    try:
        b = read(addr, size)
    except Exception:
        return None
    if len(b) != size:
        return None
    return int.from_bytes(b, "little")


def from_entry(rec: Optional[EntryRecord], tid: Optional[int], regs: Dict[str, int]) -> Tuple[Optional[int], str]:
    if rec is None:
        return None, "no entry stop of this call was seen (stop there with `catch syscall ioctl` to record it)"
    if rec.tid != tid or rec.pc != regs.get("pc") or rec.x8 != regs.get("x8") or \
            rec.x[1] != regs.get("x1") or rec.x[2] != regs.get("x2"):
        return None, "the recorded entry stop is of another call (pc, x8, x1 or x2 differ)"
    return _as_fd(rec.x[0]), "x0 at this call's entry stop (recorded when the thread stopped there)"


def from_syscall_slot(read, regs: Dict[str, int]) -> Tuple[Optional[int], str, str]:
    """(fd, source, how) from the code before the svc at pc-4."""
    pc, sp = regs.get("pc"), regs.get("sp")
    if pc is None or sp is None:
        return None, "", "no pc or sp"
    w = _words(read, pc - 4, pc)
    if w is None:
        return None, "", "the code before pc cannot be read"
    if w[0] != SVC0:
        return None, "", "the instruction before pc is not svc #0"
    d = x0_definition(read, pc - 4)
    if d is None or d.base is None:
        return None, "", "the code before the svc does not load x0 from the stack"
    if d.base != SP:
        return None, "", "x0 was loaded through x%d, not sp" % d.base
    sib_ok = 0
    for reg, base, imm in d.siblings:
        if base != SP or reg not in (1, 2, 3, 4, 5, 6, 8):
            continue
        v = _read_u(read, sp + imm, 8)
        if v is None or v != regs.get("x%d" % reg):
            return None, "", ("the stack slot [sp+%d] that x%d was loaded from no longer equals x%d: the slots "
                              "are not this call's" % (imm, reg, reg))
        sib_ok += 1
    if sib_ok < 2:
        return None, "", "too few other argument slots to check the layout against"
    v = _read_u(read, sp + d.imm, d.size)
    if v is None:
        return None, "", "the stack slot [sp+%d] cannot be read" % d.imm
    return (_as_fd(_mask(v, d.size, d.signed)), "syscall-slot",
            "the stack slot the code before the svc loaded x0 from ([sp+%d]; its neighbours still hold "
            "this call's %s)" % (d.imm, ", ".join("x%d" % r for r in sorted(r for r, b, _ in d.siblings
                                                                  if b == SP and r in (1, 2, 3, 4, 5, 6, 8)))))


def from_caller(read, regs: Dict[str, int], frames: Sequence[FrameRegs]) -> Tuple[Optional[int], str, str]:
    """(fd, source, how): frame 0 passed x0 through from its entry, and so may its callers; the first
    caller that set w0 before its call tells where it took it from."""
    if len(frames) < 2:
        return None, "", "gdb's unwinder gives no caller frame"
    f0 = frames[0]
    pc = regs.get("pc")
    if pc is None:
        return None, "", "no pc"
    if f0.start is None:
        d0 = x0_definition(read, pc - 4)
    else:
        d0 = x0_definition(read, pc - 4, start=f0.start, max_back=max(1, (pc - 4 - f0.start) // 4))
    if d0 is None or not d0.from_entry:
        return None, "", "frame 0 (%s) does not pass x0 through from its entry" % (f0.function or "?")
    if d0.start_guessed and branches_into(read, d0.addr - 4, pc - 4) is not False:
        return None, "", "frame 0 has no symbol and a branch may land where it seems to begin"
    below = set(d0.written)        # registers the frames below the caller wrote before the svc
    passed = [f0.function or "frame 0"]
    for k in range(1, len(frames)):
        fk = frames[k]
        name = fk.function or "frame %d" % k
        call = fk.pc - 4
        w = _words(read, call, call + 4)
        if w is None or decode(w[0], call).kind != "call":
            return None, "", "%s's return address does not follow a call instruction" % name
        span = MAX_BACK if fk.start is None else max(1, min(4096, (call - fk.start) // 4))
        d = x0_definition(read, call, start=fk.start, max_back=span)
        if d is None or d.addr is None:
            return None, "", "%s does not set w0 from a register or its stack before its call" % name
        if d.from_entry:           # x0 unchanged since this caller's entry too: one frame further
            if d.start_guessed and branches_into(read, d.addr - 4, call, span=BRANCH_SCAN) is not False:
                return None, "", "%s has no symbol and a branch may land where it seems to begin" % name
            below.update(d.written)
            passed.append(name)
            continue
        into = branches_into(read, d.addr, call, start=fk.start)
        if into is None or into:
            return None, "", "a branch lands between %s's setting of w0 and its call" % name
        via = " (passed on unchanged by %s)" % ", ".join(passed)
        if d.reg is not None:
            n = d.reg
            if n in CALLEE_SAVED:
                v = fk.regs.get(n)
                where = "callee-saved x%d in %s's frame (gdb's unwinder)" % (n, name)
            elif n in KERNEL_PRESERVED and n not in below:
                v = regs.get("x%d" % n)
                where = "x%d, which nothing below %s wrote before the svc" % (n, name)
            else:
                return None, "", "%s passed w0 from x%d, which may have changed since" % (name, n)
            if v is None:
                return None, "", "x%d of %s's frame is not available" % (n, name)
            return (_as_fd(_mask(v, d.size, d.signed)), "caller-register",
                    "%s: %s sets w0 from w%d before its call%s" % (where, name, n, via))
        base = fk.regs.get(d.base) if d.base in (29, SP) else None
        if base is None:
            return None, "", "%s loaded w0 through x%d, whose value in its frame is unknown" % (name, d.base)
        v = _read_u(read, base + d.imm, d.size)
        if v is None:
            return None, "", "%s's stack slot cannot be read" % name
        return (_as_fd(_mask(v, d.size, d.signed)), "caller-stack",
                "%s's stack slot [%s%+d], which it loaded w0 from before its call%s" % (
                    name, "sp" if d.base == SP else "x29", d.imm, via))
    return None, "", "x0 is passed on unchanged through every frame gdb's unwinder gave (%s)" % ", ".join(passed)


def dmabuf_candidates(fd_links: Dict[int, str]) -> List[int]:
    return sorted(fd for fd, link in fd_links.items() if link.startswith("/dmabuf:") or link == "anon_inode:dmabuf")


def recover_fd(read, regs: Dict[str, int], tid: Optional[int] = None, frames=(),
               entry: Optional[EntryRecord] = None, fd_links: Optional[Dict[int, str]] = None,
               dmabuf_request: bool = False, result: Optional[int] = None, rr_page: bool = False) -> FdRecovery:
    """Every source in turn; the exact ones must agree; /proc decides alone only when nothing exact did.
    `frames`: FrameRegs, innermost first, or a callable giving them (called only when needed). rr_page: the
    stop is in rr's page (see the module doc): the code before the svc and the callers are not read."""
    out = FdRecovery(rr_page=rr_page)
    exact: List[Tuple[int, str, str]] = []
    v, why = from_entry(entry, tid, regs)
    if v is not None:
        exact.append((v, "entry-stop", why))
    else:
        out.tried.append("entry stop: " + why)
    if rr_page:
        out.tried.append(RR_PAGE_TRIED)
    else:
        v, src, why = from_syscall_slot(read, regs)
        if v is not None:
            exact.append((v, src, why))
        else:
            out.tried.append("the code before the svc: " + why)
    if not rr_page and not any(s == "syscall-slot" for _, s, _ in exact):
        if callable(frames):    # gdb's unwinder only when it is needed
            try:
                frames = frames()
            except Exception:   # a frame gdb cannot unwind is no source, never the command's error
                frames = ()
        v, src, why = from_caller(read, regs, frames)
        if v is not None:
            exact.append((v, src, why))
        else:
            out.tried.append("the caller's frame: " + why)
    links = fd_links or {}
    cands = dmabuf_candidates(links) if links and dmabuf_request and result == 0 else []
    if not links:
        out.tried.append("/proc: the process's fds are not readable here (remote or core)")
    elif not (dmabuf_request and result == 0):
        out.tried.append("/proc: only a dma-buf request that returned 0 says which kind of fd it was")
    values = sorted(set(e[0] for e in exact))
    if len(values) > 1:
        out.conflict = "; ".join("%d from %s" % (e[0], e[1]) for e in exact)
        out.tried.append("the sources disagree (%s): none is taken" % out.conflict)
        out.candidates = values
        return out
    if exact:
        out.number, out.source, out.how = exact[0]
        out.confidence = "exact"
        if cands and out.number not in cands:
            out.conflict = "fd %d is not a dma-buf in /proc (dma-buf fds: %s)" % (
                out.number, ", ".join(str(c) for c in cands))
        return out
    if len(cands) == 1:
        out.number, out.source, out.confidence = cands[0], "proc", "deduced"
        out.how = ("the only dma-buf fd in /proc/PID/fd (%s), and the dma-buf request returned 0, so its fd "
                   "was a dma-buf" % links.get(cands[0]))
        if rr_page:
            out.how += ("; in rr's page /proc is the only source (rr's trampoline moved the arguments before its "
                        "svc)")
        return out
    if cands:
        out.candidates = cands
        out.tried.append("/proc: %d dma-buf fds (%s): one of them" % (len(cands), ", ".join(str(c) for c in cands)))
    elif links and dmabuf_request and result == 0:
        out.tried.append("/proc: no dma-buf fd is open any more")
    return out


def recover_for(target, sc, names: Sequence[str]) -> FdRecovery:
    """recover_fd over a Target: its memory, registers, frames (fd_frames), the stop hook's entry record
    and /proc links, whichever the target has."""
    regs = target.registers()
    frames = target.fd_frames  # called only when needed
    entry = target.entry_record()
    try:
        links = target.fd_links()
    except Exception:
        links = {}
    dmabuf = bool(names) and all(n.startswith("DMA_BUF_") for n in names)
    return recover_fd(target.read, regs, tid=target.tid, frames=frames, entry=entry, fd_links=links,
                      dmabuf_request=dmabuf, result=sc.result, rr_page=bool(getattr(sc, "in_rr_page", False)))
