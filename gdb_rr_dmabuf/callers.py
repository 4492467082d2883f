"""go-callers' analysis: the goroutine behind the stopped thread, one stitched stack (native frames
from the debugger's unwinder down to the cgo boundary, then Go frames from the pclntab), created-by, and the caller: the
nearest frame outside the runtime, the standard library and cgo wrappers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from .errors import NOT_GO_PROGRAM, NotGoProgram, UserError
from .arch import SUPPORTED_ARCHES, arch_of
from .target import Target
from .go_runtime.unwind import DEFAULT_DEPTH, GoUnwinder, StackFrame, cut_native
from .rr import in_rr_page

if TYPE_CHECKING:  # for the annotations only
    from .go_runtime.goroutines import GInfo


@dataclass
class CreatedBy:
    function: str
    file: Optional[str]
    line: Optional[int]
    pc: int


@dataclass
class CallersReport:
    executable: Optional[str]
    go_version: Optional[str]
    main_module: Optional[str]
    main_version: Optional[str]
    tid: Optional[int]
    kind: str                                  # 'goroutine' | 'g0' | 'gsignal' | 'no-go'
    on_system_stack: bool
    in_cgo: bool
    found_via: Optional[str]
    extra_m: bool = False                      # a C-created thread that called into Go before (cgo callback)
    goroutine: Optional[GInfo] = None
    created_by: Optional[CreatedBy] = None
    native: List[StackFrame] = field(default_factory=list)
    go: List[StackFrame] = field(default_factory=list)
    unwind_stopped: str = ""
    complete: bool = False
    unwind_end_checked: bool = False           # the last frame (goexit) was at the stack's top
    no_goroutine: Optional[str] = None         # why the thread works for no goroutine (g0 frames shown)
    caller: Optional[StackFrame] = None
    warnings: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    suggestions: List[Any] = field(default_factory=list)


def open_go_binary(target: Target):
    from .go_runtime.binary import GoBinary
    if target.arch not in SUPPORTED_ARCHES:
        raise UserError("architecture %s is not supported" % (target.arch or "unknown"),
                        "go-callers reads amd64 and arm64 Go programs")
    if not target.executable:
        raise UserError("gdb does not know the executable", "load it with `file PATH` (rr prints its path)")
    binary = GoBinary.open(target.executable)
    if not binary.is_go:
        raise NotGoProgram("%s is %s (no Go pclntab or build info)" % (target.executable, NOT_GO_PROGRAM),
                        "go-callers explains Go programs; dmabuf-why works for any program")
    if binary.arch != target.arch:
        raise UserError("%s is built for %s but the thread is %s" % (target.executable, binary.arch, target.arch),
                        "load the executable that is running (`file PATH`)")
    return binary


def analyse_callers(target: Target, depth: int = DEFAULT_DEPTH) -> CallersReport:
    from .go_runtime.goroutines import current_goroutine

    binary = open_go_binary(target)
    rep, unw, layout = _new_report(target, binary)
    a = arch_of(target.arch)
    regs = target.registers()
    pc, sp, lr = regs.get("rip", regs.get("pc", 0)), regs.get("rsp", regs.get("sp", 0)), regs.get("x30")
    first_go = _native_frames(rep, target, unw, pc, sp, depth)
    pc, sp, lr = _past_rr_page(rep, target, unw, pc, sp, lr, first_go)
    cur = current_goroutine(target, binary, layout, unw.bias, stack_candidates=_saved_g_slots(target, unw, first_go))
    _take_thread(rep, cur, a, regs, layout)
    g0_start = _g0_start(unw, pc, sp, lr, first_go)
    if cur.g is None:
        _without_goroutine(rep, unw, cur, pc, first_go, g0_start, depth)
        return rep
    res = _unwind_goroutine(rep, unw, cur, pc, sp, lr, first_go, g0_start, depth)
    rep.warnings.extend(res.warnings)
    rep.unwind_end_checked = res.end_checked
    rep.unwind_stopped = res.stopped
    rep.complete = res.complete
    # Hide the runtime's own frames at the very bottom (goexit) like Go's tracebacks do.
    rep.go = [f for f in res.frames if f.function != "runtime.goexit"]
    rep.created_by = _created_by(unw, cur.g)
    rep.caller = pick_caller(rep.go)
    return rep


def _new_report(target: Target, binary):
    """(report, unwinder, layout): the report with the program's facts and what the target found damaged."""
    from .go_runtime.binary import load_bias
    from .go_runtime.layouts import layout_for
    binary.pclntab  # UserError when missing or corrupt
    bi = binary.buildinfo
    layout, warn = layout_for(binary.go_version, target.arch)
    auxv = target.auxv()  # once: over a remote stub it is an `info auxv` round trip
    bias = load_bias(binary, auxv)
    rep = CallersReport(executable=target.executable, go_version=binary.go_version,
                        main_module=bi.main.path if bi is not None and bi.main is not None else None,
                        main_version=bi.main.version if bi is not None and bi.main is not None else None,
                        tid=target.tid, kind="no-go", on_system_stack=False, in_cgo=False, found_via=None)
    if warn:
        rep.warnings.append(warn)
    rep.warnings.extend(target.warnings)  # what the target itself found damaged (a core's notes)
    if binary.is_pie and not auxv:
        rep.warnings.append("PIE executable but no auxv from the target: addresses assumed unrelocated")
    return rep, GoUnwinder(target, binary, bias, bi), layout


def _native_frames(rep: CallersReport, target: Target, unw: GoUnwinder, pc: int, sp: int, depth: int):
    """rep.native: the debugger's native frames down to the first Go frame, which is returned (None: none)."""
    native_raw = target.native_frames(limit=depth, stop=lambda p: unw.func_at(p) is not None)
    native, first_go = cut_native(native_raw, unw)
    if not native_raw and unw.func_at(pc) is None:
        # No native unwinder (core without gdb, bare Target): the innermost frame at least.
        native = [StackFrame(kind="native", pc=pc, sp=sp, function=None)]
    rep.native = native
    return first_go


def _past_rr_page(rep: CallersReport, target: Target, unw: GoUnwinder, pc: int, sp: int, lr: Optional[int],
                  first_go) -> Tuple[int, int, Optional[int]]:
    """(pc, sp, lr) to start Go's frames from: the registers, or, in rr's page, its Go caller's."""
    if not in_rr_page(pc, target.arch):
        return pc, sp, lr
    # rr's page: `syscall; ret` (x86-64: the return address is at [sp]) or `svc #0; ret` (aarch64: in x30).
    a = arch_of(target.arch)
    try:
        ret = target.read_u64(sp) if a.link_reg is None else (lr or 0)
        rep.warnings.append("pc 0x%x is in rr's syscall page; its caller returns to 0x%x" % (pc, ret))
        if unw.func_at(ret) is not None and first_go is None:
            return ret, (sp + a.ptr_size if a.link_reg is None else sp), None
    except UserError:
        rep.warnings.append("pc 0x%x is in rr's syscall page and [sp] is unreadable" % pc)
    return pc, sp, lr


def _take_thread(rep: CallersReport, cur, a, regs, layout) -> None:
    """What current_goroutine found about the thread, and notes on how it was found."""
    from .go_runtime.layouts import layout_note
    rep.kind = cur.kind
    rep.on_system_stack = cur.on_system_stack
    rep.in_cgo = cur.in_cgo
    rep.found_via = cur.found_via
    rep.extra_m = bool(getattr(cur, "extra_m", False))
    rep.warnings.extend(cur.warnings)
    if not a.rr_serves_tp and not regs.get(a.tp_reg):
        # No rr release serves tpidr (rr's aarch64 target description is core + fpu): the Go TLS slot is out
        # of reach, so g comes from R28 (Go code keeps g there) or the g runtime.asmcgocall saved.
        how = {"r28": "from R28", "stack": "from the g runtime.asmcgocall saved on the system stack"}.get(
            cur.found_via, "not at all")
        rep.notes.append("the target serves no tpidr register (rr's gdbserver never does), so the Go TLS slot "
                         "cannot be read: g found %s" % how)
    note = layout_note(layout)
    if note:
        rep.notes.append(note)
    rep.goroutine = cur.g


def _without_goroutine(rep: CallersReport, unw: GoUnwinder, cur, pc: int, first_go, g0_start, depth: int) -> None:
    """No goroutine was found: why, and g0's frames when the thread works for none."""
    f = unw.func_at(pc)
    if cur.kind == "no-go" and (f is not None or first_go is not None):
        # Go code runs on this thread, so it has a g: it just could not be found or read. A Go frame
        # in the native stack contradicts "a thread created by C".
        rep.kind = "unknown"
        if f is not None:
            rep.warnings.append("the thread runs Go code (pc in %s) but its g could not be found or read: "
                                "memory may be damaged" % f.name)
        else:
            gf = unw.func_at(first_go.pc)
            rep.warnings.append("the native frames reach Go code (%s at 0x%x), so this is not a thread created "
                                "by C, but its g could not be found or read (TLS slot, fs_base or g register "
                                "damaged?)" % (gf.name if gf is not None else "?", first_go.pc))
    elif cur.kind == "g0" and not rep.extra_m and cur.thread_g is not None and g0_start is not None:
        # g0 with no goroutine (runtime start-up, the scheduler, an idle M): g0's frames, as Go's
        # traceback shows them ("goroutine 0"), and why there is no goroutine.
        res = _unwind_g0(unw, cur.thread_g, g0_start, depth)
        rep.go = res.frames
        rep.unwind_stopped = res.stopped
        rep.complete = res.complete
        rep.warnings.extend(res.warnings)
        rep.no_goroutine = _why_no_goroutine(res, cur)


def _unwind_goroutine(rep: CallersReport, unw: GoUnwinder, cur, pc: int, sp: int, lr: Optional[int], first_go,
                      g0_start, depth: int):
    """The goroutine's frames, from where this thread shows them to start."""
    g = cur.g
    g0_frames = _g0_frames_to_systemstack(unw, cur, g0_start, depth)
    if g0_frames:
        res = unw.unwind(g.sched_pc, g.sched_sp, g.sched_lr or None, g.stack_lo, g.stack_hi,
                         depth=max(1, depth - len(g0_frames)), innermost_exact=True, from_sched=True)
        res.frames = g0_frames + res.frames
        return res
    if not cur.on_system_stack and unw.func_at(pc) is not None:
        # On the goroutine's own stack, in Go code: from the registers.
        return unw.unwind(pc, sp, lr, g.stack_lo, g.stack_hi, depth=depth, innermost_exact=True)
    if not cur.on_system_stack and first_go is not None and first_go.sp is not None:
        # C code called on the goroutine stack (rare): from gdb's first Go frame.
        return unw.unwind(first_go.pc, first_go.sp, None, g.stack_lo, g.stack_hi, depth=depth,
                          innermost_exact=False)
    if g.syscallsp:
        return unw.unwind(g.syscallpc, g.syscallsp, None, g.stack_lo, g.stack_hi, depth=depth, innermost_exact=False)
    fs = unw.func_at(g.sched_pc)
    via_switch = fs is not None and fs.name == "runtime.systemstack_switch"
    if via_switch and cur.kind == "g0":
        # On g0 through runtime.systemstack, but g0's own frames could not be followed down to it (e.g.
        # C called through asmcgocall on g0): the goroutine's frames from curg.sched still are.
        rep.warnings.append("g0's frames between the native frames and runtime.systemstack could not be "
                            "unwound; the goroutine's frames continue from its call of runtime.systemstack")
    return unw.unwind(g.sched_pc, g.sched_sp, g.sched_lr or None, g.stack_lo, g.stack_hi, depth=depth,
                      innermost_exact=via_switch, from_sched=via_switch)


def _g0_frames_to_systemstack(unw: GoUnwinder, cur, g0_start, depth: int) -> List[StackFrame]:
    """On g0 for the goroutine, not in a cgo call: runtime.systemstack (an mmap as the heap grows, a GC
    assist, ...). g0's frames down to runtime.systemstack, which the goroutine's frames from curg.sched (that
    systemstack saved, as runtime.systemstack_switch) continue, like Go's traceback (funcID_systemstack).
    Empty when the thread is not there or g0's frames do not reach runtime.systemstack."""
    if not (cur.kind == "g0" and not cur.in_cgo and cur.thread_g is not None and g0_start is not None
            and not cur.g.syscallsp):
        return []
    r0 = _unwind_g0(unw, cur.thread_g, g0_start, depth)
    if r0.frames and r0.frames[-1].function == "runtime.systemstack":
        return r0.frames
    return []


def _unwind_g0(unw: GoUnwinder, tg, g0_start, depth: int):
    """The thread's g0 frames from _g0_start's (pc, sp, lr, exact), within g0's stack."""
    return unw.unwind(g0_start[0], g0_start[1], g0_start[2], tg.stack_lo, tg.stack_hi, depth=depth,
                      innermost_exact=g0_start[3], system_stack=True)


def _created_by(unw: GoUnwinder, g) -> Optional[CreatedBy]:
    """The go statement that created the goroutine (g.gopc), as its outermost frame there."""
    if g.gopc:
        frs = unw.go_frames_at(g.gopc, None, is_return_address=True)
        if frs:
            outer = frs[0]
            return CreatedBy(outer.function or "?", outer.file, outer.line, g.gopc)
    return None


def _saved_g_slots(target: Target, unw: GoUnwinder, first_go) -> List[int]:
    """The g that runtime.asmcgocall saved on the system stack before calling C, when gdb's native
    unwind reached asmcgocall: 8(SP) on amd64, 0(RSP) on arm64 (src/runtime/asm_*.s), at the sp of that
    frame (both slots are read; current_goroutine validates whatever they hold)."""
    if first_go is None or not first_go.sp:
        return []
    f = unw.func_at(first_go.pc)
    if f is None or f.name not in ("runtime.asmcgocall", "runtime.asmcgocall_landingpad"):
        return []
    # asmcgocall's slots: Go 1.21+ g at 8(SP) on amd64, 0(RSP) on arm64; Go 1.18-1.20 amd64 at 48(SP)
    # (a 64-byte area). Above landingpad's frame (Go 1.22+) is asmcgocall's: 8 bytes further.
    base = first_go.sp + (8 if f.name == "runtime.asmcgocall_landingpad" else 0)
    out = []
    for off in (8, 0, 48, 40):
        try:
            out.append(target.read_u64(base + off))
        except UserError:
            pass
    return out


def _g0_start(unw: GoUnwinder, pc: int, sp: int, lr: Optional[int], first_go):
    """(pc, sp, lr, exact) to unwind the thread's g0 stack from: the registers when pc is in Go code,
    else gdb's first Go frame (a return address); None when neither is known."""
    if unw.func_at(pc) is not None and sp:
        return pc, sp, lr, True
    if first_go is not None and first_go.sp:
        return first_go.pc, first_go.sp, None, False
    return None


_SCHEDULER = ("runtime.schedule", "runtime.findRunnable", "runtime.findrunnable", "runtime.stopm",
              "runtime.park_m", "runtime.mPark", "runtime.notesleep", "runtime.gcBgMarkWorker", "runtime.sysmon",
              "runtime.templateThread", "runtime.startTheWorldWithSema", "runtime.stopTheWorldWithSema")


def _why_no_goroutine(res, cur) -> str:
    names = [f.function for f in res.frames if f.function]
    if "runtime.rt0_go" in names:
        return ("runtime start-up: the thread runs runtime.rt0_go on its system stack (g0) before any goroutine "
                "runs (m.curg is nil); these are g0's frames")
    if "runtime.sysmon" in names:
        return ("the thread is the runtime's sysmon monitor, which runs on its system stack (g0) with no goroutine; "
                "these are g0's frames")
    hit = next((n for n in _SCHEDULER if n in names), None)
    if hit is not None:
        return ("the thread runs the scheduler on its system stack (g0) in %s and no goroutine is assigned to it "
                "(m.curg is nil): an idle or spinning M; these are g0's frames" % hit)
    return ("the thread runs runtime code on its system stack (g0) and m.curg is nil: it works for no goroutine; "
            "these are g0's frames")


def pick_caller(frames: List[StackFrame]) -> Optional[StackFrame]:
    for f in frames:
        if f.kind == "go" and not f.std and not f.cgo_wrapper and f.package:
            return f
    return None


# The --json object is built in report.py (one place for every command's JSON); the names stay here.
from .report import callers_json as report_json, frame_json, suggestion_json  # noqa: E402,F401
