"""go-callers' analysis: the goroutine behind the stopped thread, one stitched stack (native frames
from the debugger's unwinder down to the cgo boundary, then Go frames from the pclntab), created-by, and the caller: the
nearest frame outside the runtime, the standard library and cgo wrappers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from .errors import UserError
from .target import SUPPORTED_ARCHES, Target
from .go_runtime.unwind import DEFAULT_DEPTH, GoUnwinder, StackFrame, cut_native
from .rr import in_rr_page


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
    goroutine: Any = None                      # goroutines.GInfo
    created_by: Optional[CreatedBy] = None
    native: List[StackFrame] = field(default_factory=list)
    go: List[StackFrame] = field(default_factory=list)
    unwind_stopped: str = ""
    complete: bool = False
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
        raise UserError("%s is not a Go program (no Go pclntab or build info)" % target.executable,
                        "go-callers explains Go programs; dmabuf-why works for any program")
    if binary.arch != target.arch:
        raise UserError("%s is built for %s but the thread is %s" % (target.executable, binary.arch, target.arch),
                        "load the executable that is running (`file PATH`)")
    return binary


def analyse_callers(target: Target, depth: int = DEFAULT_DEPTH) -> CallersReport:
    from .go_runtime.binary import load_bias
    from .go_runtime.goroutines import current_goroutine
    from .go_runtime.layouts import layout_for

    binary = open_go_binary(target)
    pcln = binary.pclntab  # UserError when missing or corrupt
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
    if binary.is_pie and not auxv:
        rep.warnings.append("PIE executable but no auxv from the target: addresses assumed unrelocated")
    unw = GoUnwinder(target, binary, bias, bi)

    regs = target.registers()
    pc = regs.get("rip", regs.get("pc", 0))
    sp = regs.get("rsp", regs.get("sp", 0))
    lr = regs.get("x30")

    native_raw = target.native_frames(limit=depth, stop=lambda p: unw.func_at(p) is not None)
    native, first_go = cut_native(native_raw, unw)
    if not native_raw and unw.func_at(pc) is None:
        # No native unwinder (core without gdb, bare Target): the innermost frame at least.
        native = [StackFrame(kind="native", pc=pc, sp=sp, function=None)]
    if in_rr_page(pc, target.arch):
        # rr's page: `syscall; ret` (x86-64: the return address is at [sp]) or `svc #0; ret` (aarch64: in x30).
        try:
            ret = target.read_u64(sp) if target.arch == "x86-64" else (lr or 0)
            rep.warnings.append("pc 0x%x is in rr's syscall page; its caller returns to 0x%x" % (pc, ret))
            if unw.func_at(ret) is not None and first_go is None:
                pc, sp, lr = ret, (sp + 8 if target.arch == "x86-64" else sp), None
        except UserError:
            rep.warnings.append("pc 0x%x is in rr's syscall page and [sp] is unreadable" % pc)
    rep.native = native

    cur = current_goroutine(target, binary, layout, bias)
    rep.kind = cur.kind
    rep.on_system_stack = cur.on_system_stack
    rep.in_cgo = cur.in_cgo
    rep.found_via = cur.found_via
    rep.extra_m = bool(getattr(cur, "extra_m", False))
    rep.warnings.extend(cur.warnings)
    g = cur.g
    rep.goroutine = g
    if g is None:
        f = unw.func_at(pc)
        if cur.kind == "no-go" and f is not None:
            # Go code runs on this thread, so it has a g: it just could not be found or read.
            rep.kind = "unknown"
            rep.warnings.append("the thread runs Go code (pc in %s) but its g could not be found or read: "
                                "memory may be damaged" % f.name)
        return rep

    if not cur.on_system_stack and unw.func_at(pc) is not None:
        # On the goroutine's own stack, in Go code: from the registers.
        res = unw.unwind(pc, sp, lr, g.stack_lo, g.stack_hi, depth=depth, innermost_exact=True)
    elif not cur.on_system_stack and first_go is not None and first_go.sp is not None:
        # C code called on the goroutine stack (rare): from gdb's first Go frame.
        res = unw.unwind(first_go.pc, first_go.sp, None, g.stack_lo, g.stack_hi, depth=depth, innermost_exact=False)
    elif g.syscallsp:
        res = unw.unwind(g.syscallpc, g.syscallsp, None, g.stack_lo, g.stack_hi, depth=depth, innermost_exact=False)
    else:
        res = unw.unwind(g.sched_pc, g.sched_sp, g.sched_lr or None, g.stack_lo, g.stack_hi, depth=depth,
                         innermost_exact=False)
    rep.go = res.frames
    rep.unwind_stopped = res.stopped
    rep.complete = res.complete
    # Hide the runtime's own frames at the very bottom (goexit) like Go's tracebacks do.
    rep.go = [f for f in rep.go if f.function != "runtime.goexit"]

    if g.gopc:
        frs = unw.go_frames_at(g.gopc, None, is_return_address=True)
        if frs:
            outer = frs[0]
            rep.created_by = CreatedBy(outer.function or "?", outer.file, outer.line, g.gopc)
    rep.caller = pick_caller(rep.go)
    return rep


def pick_caller(frames: List[StackFrame]) -> Optional[StackFrame]:
    for f in frames:
        if f.kind == "go" and not f.std and not f.cgo_wrapper and f.package:
            return f
    return None


# The --json object is built in report.py (one place for every command's JSON); the names stay here.
from .report import callers_json as report_json, frame_json, suggestion_json  # noqa: E402,F401
