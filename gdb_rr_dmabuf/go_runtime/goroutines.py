"""The goroutine behind a stopped thread: find the thread's g, check it, follow g0/gsignal to curg.

Where a thread's g is (src/runtime, Go 1.21..1.27, linux):
- amd64: the runtime keeps the g in a thread-local slot, runtime.tlsg, read as %fs:OFF. With the Go
  linker's internal linking OFF is -8 (the executable's TLS block is tlsg alone); with external
  linking (cgo), tlsg is one variable among the C ones in the executable's PT_TLS and OFF is
  tlsg's offset in that block minus the block's size rounded up to its alignment (x86-64 "variant II"
  TLS: the executable's block ends at the thread pointer). Go code under ABIInternal also keeps g in
  R14, but C code called through cgo reuses R14, so TLS comes first.
- arm64: Go code keeps g in R28; cgo binaries also keep it in the TLS slot runtime.tls_g (save_g
  writes it only when iscgo), at TPIDR_EL0 + roundup(16, align) + its offset ("variant I": the block
  follows a 16-byte TCB). Not checked on a real arm64 process here (no arm64 machine): R28 is.
- A static pure-Go amd64 binary has no PT_TLS at all: runtime.settls points %fs just past m.tls[0]
  and g is at -8(FS) as well.
- Stripped binaries have no runtime.tlsg symbol: then every 8-byte slot of the executable's static
  TLS block (from PT_TLS, at most a few KB) is tried.

runtime.asmcgocall switches the thread to the M's g0 (and stores g0 in TLS) before calling C; signal
handlers run on m.gsignal. In both cases the goroutine the thread works for is m.curg: during a cgo
call its status is _Gsyscall and m.ncgo > 0 (cgocall sets incgo and increments ncgo around
asmcgocall, src/runtime/cgocall.go).

Every candidate g is checked (validate_g) before it is believed: stack bounds sane, g.m readable and
the M pointing back at it as g0, curg or gsignal, goid and status plausible. Garbage, unmapped
memory and missing registers end in kind 'no-go' with warnings, or UserError, never a traceback; all
loops are bounded.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import TargetReadError, UserError
from ..arch import X86_64, Arch, arch_of
from .layouts import G_DEAD, G_SCAN, G_STATUS, G_SYSCALL, Layout, status_name

# A goroutine stack never exceeds runtime.maxstacksize (1 GB on 64-bit); system stacks are smaller.
MAX_STACK = 1 << 30
# goids are handed out in batches from a 64-bit counter; anything this large is garbage.
MAX_GOID = 1 << 40
# Upper bound on the static TLS block we scan for a g when runtime.tlsg is unknown.
MAX_TLS_SCAN = 4096
# Read at most this much of an M (the fields we use are in its first ~1 KB in every release).
_M_READ_LIMIT = 2048


@dataclass
class GInfo:
    addr: int
    goid: int
    status: int
    status_name: str
    stack_lo: int
    stack_hi: int
    m: int
    sched_sp: int
    sched_pc: int
    sched_bp: int
    sched_lr: int
    syscallsp: int
    syscallpc: int
    gopc: int
    startpc: int
    parent_goid: Optional[int]
    syscallbp: Optional[int] = None  # Go 1.23+
    waitreason: int = 0
    lockedm: int = 0
    sched_g: int = 0  # g.sched.g: the g itself, for a g that has ever been switched away from
    waitsince: int = 0  # nanotime when it blocked, set by the GC's stack scan (src/runtime/mgcmark.go)

    @property
    def base_status(self) -> int:
        return self.status & ~G_SCAN


@dataclass
class MInfo:
    addr: int
    g0: int
    curg: int
    gsignal: int
    procid: int  # the OS thread id
    id: int
    ncgo: int
    incgo: bool
    libcallsp: int
    is_extra_in_c: bool = False  # an extra M (of a thread created by C) that is back in C code


@dataclass
class CurrentG:
    thread_g: Optional[GInfo]  # what TLS / R14 / R28 points at
    g: Optional[GInfo]  # the goroutine the thread works for: thread_g, or m.curg when thread_g is g0/gsignal
    kind: str  # 'goroutine' | 'g0' | 'gsignal' | 'no-go' (thread runs no Go code)
    on_system_stack: bool = False
    in_cgo: bool = False
    found_via: str = ""  # 'tls' | 'tls-scan' | 'r14' | 'r28' | 'stack' ('' for 'no-go')
    warnings: List[str] = field(default_factory=list)
    m: Optional[MInfo] = None
    # The thread was created by C and has called into Go (it has an "extra" M, kept after the call):
    # it now runs C code for no goroutine, so g is None; m.curg is the goroutine of its last callback.
    extra_m: bool = False


def _u64(buf: bytes, off: int) -> int:
    return struct.unpack_from("<Q", buf, off)[0]


def _u32(buf: bytes, off: int) -> int:
    return struct.unpack_from("<I", buf, off)[0]


def _i32(buf: bytes, off: int) -> int:
    return struct.unpack_from("<i", buf, off)[0]


def _plausible_ptr(target, addr: int) -> bool:
    # user-space addresses: x86-64 47 bits, arm64 48 (the default VA size on Linux); others as x86-64
    limit = (arch_of(target.arch) or X86_64).user_va_limit
    return 4096 <= addr < limit and addr % 8 == 0


def _check_ptr(target, addr: int, what: str) -> None:
    if not _plausible_ptr(target, addr):
        raise UserError("0x%x is not a plausible %s pointer" % (addr, what),
                        "give the address of a runtime.%s (8-byte aligned, in user space)" % what)


def g_read_size(layout: Layout) -> int:
    """Bytes of a runtime.g that read_g / decode_g need."""
    return _g_read_size(layout)


def _g_read_size(layout: Layout) -> int:
    size = layout.sizes.get("g")
    if size:
        return size
    return max(off + layout.width("g", name) for name, off in layout.g.items()
               if name != "sched") + 8


def read_g(target, layout: Layout, addr: int) -> GInfo:
    """The runtime.g at addr, decoded with layout. TargetReadError when unreadable, UserError when addr
    cannot be a g (null, misaligned, outside user space). Does not judge the contents: see validate_g."""
    _check_ptr(target, addr, "g")
    buf = target.read(addr, _g_read_size(layout))
    if len(buf) < _g_read_size(layout):
        raise TargetReadError(addr, _g_read_size(layout), "short read")
    return decode_g(layout, addr, buf)


def decode_g(layout: Layout, addr: int, buf: bytes) -> GInfo:
    """The runtime.g in buf (at least g_read_size(layout) bytes read at addr), decoded with layout."""
    g = layout.g
    sched = g["sched"]
    gb = layout.gobuf
    status = _u32(buf, g["atomicstatus"])
    return GInfo(
        addr=addr,
        goid=_u64(buf, g["goid"]),
        status=status,
        status_name=status_name(status),
        stack_lo=_u64(buf, g["stack.lo"]),
        stack_hi=_u64(buf, g["stack.hi"]),
        m=_u64(buf, g["m"]),
        sched_sp=_u64(buf, sched + gb["sp"]),
        sched_pc=_u64(buf, sched + gb["pc"]),
        sched_bp=_u64(buf, sched + gb["bp"]),
        sched_lr=_u64(buf, sched + gb["lr"]),
        syscallsp=_u64(buf, g["syscallsp"]),
        syscallpc=_u64(buf, g["syscallpc"]),
        gopc=_u64(buf, g["gopc"]),
        startpc=_u64(buf, g["startpc"]),
        parent_goid=_u64(buf, g["parentGoid"]) if "parentGoid" in g else None,
        syscallbp=_u64(buf, g["syscallbp"]) if "syscallbp" in g else None,
        waitreason=buf[g["waitreason"]] if "waitreason" in g else 0,
        lockedm=_u64(buf, g["lockedm"]) if "lockedm" in g else 0,
        sched_g=_u64(buf, sched + gb["g"]),
        waitsince=_u64(buf, g["waitsince"]) if "waitsince" in g else 0,
    )


def read_m(target, layout: Layout, addr: int) -> MInfo:
    """The runtime.m at addr (the fields goroutine finding needs). TargetReadError / UserError."""
    _check_ptr(target, addr, "m")
    m = layout.m
    need = max(m[k] + layout.width("m", k) for k in ("g0", "curg", "gsignal", "procid", "id", "ncgo",
                                                       "incgo", "libcallsp", "isExtraInC") if k in m)
    if need > _M_READ_LIMIT:  # pragma: no cover - guards a future table
        raise UserError("runtime.m layout reaches offset %d" % need, "update go_runtime/layouts.py")
    buf = target.read(addr, need)
    return MInfo(addr=addr, g0=_u64(buf, m["g0"]), curg=_u64(buf, m["curg"]), gsignal=_u64(buf, m["gsignal"]),
                 procid=_u64(buf, m["procid"]), id=_u64(buf, m["id"]), ncgo=_i32(buf, m["ncgo"]),
                 incgo=bool(buf[m["incgo"]]), libcallsp=_u64(buf, m["libcallsp"]) if "libcallsp" in m else 0,
                 is_extra_in_c=bool(buf[m["isExtraInC"]]) if "isExtraInC" in m else False)


def _why_invalid(target, layout: Layout, addr: int) -> Tuple[Optional[str], Optional[GInfo], Optional[MInfo]]:
    """None when addr holds a plausible g that its M points back at; else a short reason."""
    if not _plausible_ptr(target, addr):
        return "not a user-space pointer", None, None
    try:
        gi = read_g(target, layout, addr)
    except UserError as e:
        return "unreadable (%s)" % e.what, None, None
    if gi.stack_lo == 0 or gi.stack_hi <= gi.stack_lo or gi.stack_hi - gi.stack_lo > MAX_STACK:
        return "stack bounds [0x%x, 0x%x) are not a stack" % (gi.stack_lo, gi.stack_hi), gi, None
    if gi.base_status not in G_STATUS or gi.status & ~(G_SCAN | 0xFFF):
        return "status 0x%x is not a goroutine status" % gi.status, gi, None
    if gi.goid >= MAX_GOID:
        return "goid %d is not plausible" % gi.goid, gi, None
    if gi.sched_g not in (0, addr):
        return "g.sched.g (0x%x) does not point back at it" % gi.sched_g, gi, None
    if not _plausible_ptr(target, gi.m):
        return "g.m (0x%x) is not a pointer to an M" % gi.m, gi, None
    try:
        mi = read_m(target, layout, gi.m)
    except UserError as e:
        return "its M is unreadable (%s)" % e.what, gi, None
    if addr not in (mi.g0, mi.curg, mi.gsignal):
        return "its M (0x%x) does not point back at it as g0, curg or gsignal" % gi.m, gi, mi
    return None, gi, mi


def validate_g(target, layout: Layout, addr: int) -> bool:
    """True when addr plausibly holds a runtime.g that is attached to an M: stack lo < hi and not too
    large, known status, sane goid, g.m readable and m.g0, m.curg or m.gsignal equal to addr."""
    try:
        return _why_invalid(target, layout, addr)[0] is None
    except Exception:  # never a traceback from a plausibility check
        return False


# --------------------------------------------------------------------------------------- TLS

def _roundup(n: int, align: int) -> int:
    align = max(1, align)
    return (n + align - 1) // align * align


def _tls_block_variant2(tls: Tuple[int, int, int]) -> Tuple[int, int]:
    """(offset of the executable's TLS block from the thread pointer (negative), its size) with TLS
    variant II (x86-64).

    glibc (and the Go runtime itself for static binaries) places the executable's block so that it
    ends at the thread pointer, aligned: offset = -roundup(memsz, align), keeping the block's start
    congruent to p_vaddr modulo the alignment."""
    vaddr, memsz, align = tls
    align = max(1, align)
    firstbyte = (-vaddr) & (align - 1)
    off = _roundup(memsz - firstbyte, align) + firstbyte if memsz > firstbyte else _roundup(memsz, align)
    return -off, memsz


def _tls_sym_offset(tls: Tuple[int, int, int], value: int) -> int:
    """A TLS symbol's offset within the TLS template: st_value is that offset in executables (checked
    on Go and gcc/ld binaries); accept a virtual address inside PT_TLS too."""
    vaddr, memsz, _ = tls
    if vaddr and vaddr <= value < vaddr + max(memsz, 1):
        return value - vaddr
    return value


def tls_g_slot(binary, tp: int, arch: str) -> Optional[int]:
    """Address of the thread's g slot from runtime.tlsg / runtime.tls_g and PT_TLS; None when unknown.

    An amd64 executable without PT_TLS is a static pure-Go one: its runtime points %fs just past
    m.tls[0] (runtime.settls adds 8: "ELF wants to use -8(FS)") and keeps g at -8(FS)."""
    a = arch_of(arch)
    if not tp or a is None:
        return None
    tls = getattr(binary, "tls", None)
    if not tls:
        return tp + a.go_static_g_tp_offset if a.go_static_g_tp_offset is not None else None
    # Without the symbol (stripped), a block of one pointer is Go's slot alone (the Go linker's PIE).
    only = 0 if tls[1] <= 8 else None
    value = binary.symbol(a.go_tls_g_symbol)
    value = only if value is None else value
    if value is None:
        return None
    return _tls_block_start(tp, tls, a) + _tls_sym_offset(tls, value)


def tls_block(binary, tp: int, arch: str) -> Optional[Tuple[int, int]]:
    """(address, size) of the executable's static TLS block of the thread, size capped for scanning."""
    tls = getattr(binary, "tls", None)
    a = arch_of(arch)
    if not tls or not tp or a is None:
        return None
    start = _tls_block_start(tp, tls, a)
    # variant II: the block ends at tp (what lies between is scanned too); variant I: the block's size
    return start, min(tp - start if a.tls_tcb_size is None else tls[1], MAX_TLS_SCAN)


def _tls_block_start(tp: int, tls: Tuple[int, int, int], a: Arch) -> int:
    """Address of the executable's TLS block: below tp (variant II), or after the TCB (variant I)."""
    if a.tls_tcb_size is None:
        return tp + _tls_block_variant2(tls)[0]
    return tp + _roundup(a.tls_tcb_size, tls[2])


def _candidates(target, binary, regs: Dict[str, int], warnings: List[str]) -> List[Tuple[int, str]]:
    """(address, how) pairs to try, best first; bounded (at most MAX_TLS_SCAN/8 + 3)."""
    arch = target.arch
    out: List[Tuple[int, str]] = []
    a = arch_of(arch)
    if a is None or a.name != arch:
        raise UserError("goroutines cannot be found on architecture %s" % arch,
                        "gdb-rr-dmabuf reads x86-64 and aarch64 Go programs")
    tp = regs.get(a.tp_reg) or 0
    greg, gname = regs.get(a.go_g_reg), a.go_g_label
    if not tp and a.rr_serves_tp:   # (no rr serves aarch64's tpidr: go-callers says so in a note)
        warnings.append("the thread's %s is not known, so its Go TLS slot cannot be read" % a.tp_reg)
    if tp:
        slot = tls_g_slot(binary, tp, arch)
        if slot is not None:
            try:
                out.append((target.read_ptr(slot), "tls"))
            except UserError:
                warnings.append("the thread's Go TLS slot at 0x%x is not readable" % slot)
        else:
            block = tls_block(binary, tp, arch)
            if block is not None:
                start, size = block
                try:
                    raw = target.read(start, size)
                except UserError:
                    raw = b""
                    warnings.append("the thread's static TLS block at 0x%x is not readable" % start)
                for i in range(0, len(raw) - 7, 8):
                    v = _u64(raw, i)
                    if v and _plausible_ptr(target, v):
                        out.append((v, "tls-scan"))
    # The g register last: C code (a cgo call) may reuse it, while TLS is written on every g switch
    # (arm64 non-cgo binaries never write TLS: their slot reads 0 and R28 decides).
    if greg:
        out.append((greg, gname))
    # Drop duplicates, keep the first (best) way each address was found.
    seen = set()
    uniq = []
    for addr, how in out:
        if addr not in seen:
            seen.add(addr)
            uniq.append((addr, how))
    return uniq


def current_goroutine(target, binary, layout: Layout, bias: int = 0,
                      stack_candidates: Sequence[int] = ()) -> CurrentG:
    """The g of the target's selected thread and the goroutine it works for.

    binary: the executable's GoBinary (for PT_TLS and runtime.tlsg; may be None, then only the g
    register is tried). bias: the executable's load bias (link -> run time), used to check that a
    goroutine's start pc lies in the executable's text. stack_candidates: g pointers read from the
    thread's stack (the slot where runtime.asmcgocall saved the caller's g, found through the native
    frames), tried last, when TLS and the g register give nothing valid."""
    warnings: List[str] = []
    try:
        regs = target.registers()
    except UserError:
        raise
    except Exception as e:  # a Target that cannot give registers
        raise UserError("cannot read the thread's registers (%s)" % e, "select a live thread or a core thread")
    found: Optional[Tuple[GInfo, MInfo, str]] = None
    cands = _candidates(target, binary, regs, warnings)
    seen = {a for a, _ in cands}
    cands += [(a, "stack") for a in list(stack_candidates)[:8] if a not in seen]
    for addr, how in cands:
        try:
            why, gi, mi = _why_invalid(target, layout, addr)
        except Exception:
            continue
        if why is None and gi is not None and mi is not None:
            found = (gi, mi, how)
            break
        if how in ("tls", "r28") and addr:
            warnings.append("the %s value 0x%x is not a goroutine: %s" % ("TLS g slot" if how == "tls" else "R28",
                                                                         addr, why))
    if found is None:
        return CurrentG(thread_g=None, g=None, kind="no-go", found_via="", warnings=warnings)
    thread_g, mi, how = found
    if how == "r14" and getattr(binary, "tls", None) is not None and regs.get("fs_base"):
        warnings.append("no g in the thread's TLS; using R14 (0x%x)" % thread_g.addr)
    if how == "stack":
        warnings.append("neither the thread's TLS slot nor its g register holds a valid g; using the g that "
                        "runtime.asmcgocall saved on the system stack (0x%x)" % thread_g.addr)
    if thread_g.addr == mi.g0:
        kind = "g0"
    elif thread_g.addr == mi.gsignal:
        kind = "gsignal"
    else:
        kind = "goroutine"
    if kind == "goroutine" and how == "stack":
        # asmcgocall saved the goroutine that made the cgo call: the thread itself runs on g0 in C.
        try:
            g0 = read_g(target, layout, mi.g0)
        except UserError:
            g0 = None
        res = CurrentG(thread_g=g0, g=thread_g, kind="g0", found_via=how, warnings=warnings, m=mi,
                       on_system_stack=True)
        res.in_cgo = (mi.ncgo > 0 or mi.incgo) and thread_g.base_status == G_SYSCALL
        _check_startpc(binary, bias, res)
        return res
    if kind == "goroutine" and thread_g.goid == 0:
        warnings.append("the thread's g (0x%x) has goid 0, the id of system goroutines (g0, gsignal), yet its M "
                        "calls it curg: the M may be damaged" % thread_g.addr)
    res = CurrentG(thread_g=thread_g, g=None, kind=kind, found_via=how, warnings=warnings, m=mi)
    if kind == "goroutine":
        res.g = thread_g
    else:
        res.on_system_stack = True
        if mi.curg and mi.curg in (mi.g0, mi.gsignal):
            warnings.append("m.curg (0x%x) is the M's own %s, not a goroutine: the M is damaged or inconsistent; "
                            "no goroutine is reported" % (mi.curg, "g0" if mi.curg == mi.g0 else "gsignal"))
        elif mi.curg:
            why, curg, _ = _why_invalid(target, layout, mi.curg)
            if why is None and curg is not None and curg.m == mi.addr:
                if kind == "g0" and mi.is_extra_in_c:
                    # cgocallback leaves a C-created thread's M bound to it (status _Gsyscall, isExtraInC)
                    # when the callback returns (src/runtime/cgocall.go, asm_*.s cgocallback).
                    res.extra_m = True
                    res.in_cgo = True
                    warnings.append("the thread was created by C and runs C code; it called into Go before "
                                    "(goroutine %d ran its last callback)" % curg.goid)
                elif curg.base_status == G_DEAD or G_STATUS.get(curg.base_status) == "deadextra":
                    warnings.append("m.curg (goroutine %d) is %s: the thread runs no goroutine"
                                    % (curg.goid, curg.status_name))
                else:
                    res.g = curg
            else:
                warnings.append("m.curg (0x%x) is not a valid goroutine: %s" % (
                    mi.curg, why or "it is attached to another M"))
        if res.g is not None and kind == "g0":
            res.in_cgo = (mi.ncgo > 0 or mi.incgo) and res.g.base_status == G_SYSCALL
    _check_sp(regs, target.arch, res)
    _check_startpc(binary, bias, res)
    return res


def _check_sp(regs: Dict[str, int], arch: str, res: CurrentG) -> None:
    a = arch_of(arch)
    sp = regs.get(a.sp_reg if a is not None else "sp")
    tg = res.thread_g
    if sp is None or tg is None:
        return
    if not tg.stack_lo <= sp <= tg.stack_hi:
        if res.kind == "goroutine":
            res.warnings.append("the stack pointer 0x%x is outside goroutine %d's stack [0x%x, 0x%x)"
                                % (sp, tg.goid, tg.stack_lo, tg.stack_hi))
            res.on_system_stack = True
        elif res.kind == "g0" and not res.in_cgo:
            res.warnings.append("the stack pointer 0x%x is outside the system stack [0x%x, 0x%x)"
                                % (sp, tg.stack_lo, tg.stack_hi))


def _check_startpc(binary, bias: int, res: CurrentG) -> None:
    g = res.g
    if g is None or binary is None or not g.startpc:
        return
    is_text = getattr(binary, "is_text", None)
    if is_text is None:
        return
    try:
        ok = is_text(g.startpc - bias)
    except Exception:
        return
    if not ok:
        res.warnings.append("goroutine %d's start pc 0x%x is not in the executable's text: is the binary "
                            "the one that runs, with the right load bias?" % (g.goid, g.startpc))
