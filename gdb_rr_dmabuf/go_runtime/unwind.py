"""One stack for the stopped thread: native frames (gdb's unwinder) down to the cgo boundary, then the
goroutine's Go frames unwound from the pclntab (pcsp) and the target's stack memory.

Where the Go unwind starts:
- the thread runs on the goroutine's stack (e.g. a direct syscall.Syscall): from its registers;
- the thread is on g0 (cgo call, or runtime code on the system stack): from curg's syscallsp/syscallpc,
  which entersyscall saved when cgocall left Go, else from curg.sched.
- the thread is on g0 because the goroutine called runtime.systemstack (e.g. an mmap while the heap
  grows): g0's frames from the registers down to runtime.systemstack, then, like Go's own traceback
  (src/runtime/traceback.go, funcID_systemstack), the goroutine's frames from curg.sched, which
  systemstack saved pretending to be runtime.systemstack_switch (gosave_systemstack_switch);
- the thread is on g0 with no goroutine (runtime start-up in rt0_go, the scheduler, an idle M): g0's
  frames from the registers, as Go's traceback shows them.
Every unwind is bounded (depth, stack bounds, strictly growing sp) and never raises for bad memory:
it stops and says why. An unwind is complete only when it ends in runtime.goexit at the sp newproc1
gave it (g.stack.hi minus Arch.go_goexit_sp_offset), or in the thread's first frame (mstart, rt0_go) on g0.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..errors import UserError
from ..arch import arch_of
from ..target import NativeFrame, Target
from .stdlib import is_std_package

from ..limits import DEFAULT_DEPTH  # re-exported
_BLOCK = 0x4000  # stack memory is read in blocks of this size, not word by word

# Functions whose frames end a goroutine's stack, or switch stacks (the unwind cannot go on there).
_STACK_TOP = {"runtime.goexit", "runtime.mstart", "runtime.mstart0", "runtime.rt0_go", "runtime.mcall",
              "runtime.morestack", "runtime.systemstack_switch", "runtime.asmcgocall",
              "runtime.asmcgocall_no_g", "runtime.systemstack", "runtime.cgocallback", "runtime.sigreturn",
              "runtime.sigtramp", "runtime.sigreturn__sigaction", "runtime.goexit0", "runtime.asminit"}
_END_NORMAL = {"runtime.goexit", "runtime.mstart", "runtime.mstart0", "runtime.rt0_go"}
# newproc1 (src/runtime/proc.go, Go 1.18+) starts a goroutine at sp = stack.hi - totalSize with totalSize =
# alignUp(4*PtrSize + MinFrameSize, StackAlign): 32 on amd64 (MinFrameSize 0, StackAlign 8) and 48 on
# arm64 (MinFrameSize 8, StackAlign 16); that is runtime.goexit's frame sp once the goroutine's first
# function is unwound (amd64: gostartcall pushed goexit's pc below it; arm64: it went in LR). That offset is
# Arch.go_goexit_sp_offset (arch.py); the stubs that keep their SP at 0(SP) are Arch.go_sp_saving_stubs.


@dataclass
class StackFrame:
    kind: str                        # 'native' | 'go'
    pc: int                          # runtime address
    sp: Optional[int]
    function: Optional[str]
    file: Optional[str] = None
    line: Optional[int] = None
    objfile: Optional[str] = None    # native frames: the shared object
    package: Optional[str] = None    # go frames
    module: Optional[str] = None
    version: Optional[str] = None
    inlined: bool = False
    cgo_wrapper: bool = False
    std: bool = False
    system_stack: bool = False       # a frame on the thread's system stack (g0), not the goroutine's


@dataclass
class GoUnwind:
    frames: List[StackFrame] = field(default_factory=list)
    stopped: str = ""                # why the unwind ended ('goexit', 'depth', 'unreadable stack at 0x..', ...)
    complete: bool = False           # reached goexit at the stack's top / the thread's first frame on g0
    end_checked: bool = False        # the final frame's sp was checked against the stack's top
    at_depth_limit: bool = False     # stopped at the frame limit the caller gave (not by the stack)
    warnings: List[str] = field(default_factory=list)


class StackMemory:
    """Reads a stack in blocks and caches them: one remote packet per block, not one per word."""

    def __init__(self, target: Target, lo: Optional[int] = None, hi: Optional[int] = None):
        self.target = target
        self.lo = lo
        self.hi = hi
        self._blocks: Dict[int, bytes] = {}
        self.reads = 0

    def u64(self, addr: int) -> int:
        base = addr - (addr % _BLOCK)
        blk = self._blocks.get(base)
        if blk is None:
            start, size = base, _BLOCK
            if self.hi is not None and self.lo is not None and self.lo <= addr < self.hi:
                start = max(base, self.lo)
                size = min(base + _BLOCK, self.hi) - start
            try:
                self.reads += 1
                data = self.target.read(start, size)
            except UserError:
                self.reads += 1
                data = self.target.read(addr, 8)  # raises if really unreadable
                return struct.unpack("<Q", data)[0]
            blk = b"\0" * (start - base) + data
            self._blocks[base] = blk
        off = addr - base
        if off + 8 > len(blk):
            return struct.unpack("<Q", self.target.read(addr, 8))[0]
        return struct.unpack_from("<Q", blk, off)[0]


def is_cgo_wrapper(function: str) -> bool:
    short = function.rsplit("/", 1)[-1]
    short = short.split(".", 1)[1] if "." in short else short
    return short.startswith(("_Cfunc_", "_cgo_", "_Cgo_", "_C2func_", "_cgoexp_"))


class GoUnwinder:
    def __init__(self, target: Target, binary, bias: int, buildinfo=None):
        self.t = target
        self.bin = binary
        self.pcln = binary.pclntab
        self.bias = bias
        self.bi = buildinfo
        self.arch = target.arch
        self.arch_facts = arch_of(self.arch)   # None: unsupported (the unwind stops at the first step)

    # -- frames -----------------------------------------------------------------------------------
    def func_at(self, pc: int):
        return self.pcln.func_for_pc(pc - self.bias)

    def go_frames_at(self, pc: int, sp: Optional[int], is_return_address: bool,
                     keep_wrappers: bool = False) -> List[StackFrame]:
        from .pclntab import FUNCID_WRAPPER, split_func_name
        out: List[StackFrame] = []
        for fr in self.pcln.frames_at(pc - self.bias, is_return_address=is_return_address):
            if fr.func_id == FUNCID_WRAPPER and not keep_wrappers:
                continue  # compiler-made wrappers (gowrap, method value...): Go's tracebacks hide them too
            pkg, _ = split_func_name(fr.function)
            mod = ver = None
            m = self.bi.module_for_package(pkg) if self.bi is not None else None
            if m is not None:
                mod, ver = m.path, m.version
            out.append(StackFrame(kind="go", pc=pc, sp=sp, function=fr.function, file=fr.file, line=fr.line,
                                  package=pkg, module=mod, version=ver, inlined=fr.inlined,
                                  cgo_wrapper=is_cgo_wrapper(fr.function), std=is_std_package(pkg, mod)))
        return out

    def unwind(self, pc: int, sp: int, lr: Optional[int], lo: Optional[int], hi: Optional[int],
               depth: int = DEFAULT_DEPTH, innermost_exact: bool = True, from_sched: bool = False,
               system_stack: bool = False) -> GoUnwind:
        """Walk Go frames from (pc, sp); lo/hi bound the stack. Each step: may a frame be taken here
        (_func_for_step), its frames (_frames), does the stack end at it (_ended), its caller (_caller).

        from_sched: (pc, sp, lr) come from a g.sched that runtime.systemstack saved (pc is in
        runtime.systemstack_switch, a frame that is unwound like any other). system_stack: mark the
        frames as g0's."""
        res = GoUnwind()
        mem = StackMemory(self.t, lo, hi)
        exact = innermost_exact
        physical = 0
        prev_sp = -1
        leaf_step = False  # the last step left an arm64 frameless leaf: its caller has the same sp
        try:
            while True:
                if physical >= depth:
                    res.at_depth_limit = True
                    raise _Stop("depth limit (%d frames; --depth raises it)" % depth)
                f = self._func_for_step(pc, sp, lo, hi, prev_sp, leaf_step)
                prev_sp = sp
                res.frames.extend(self._frames(pc, sp, exact, system_stack))
                physical += 1
                if self._ended(res, f, sp, hi, through_switch=from_sched and physical == 1):
                    return res
                pc, sp, leaf_step = self._caller(mem, f, pc, sp, lr, exact, leaf_step)
                lr, exact = None, False
        except _Stop as e:
            res.stopped = e.why
            return res

    def _func_for_step(self, pc: int, sp: int, lo: Optional[int], hi: Optional[int], prev_sp: int,
                       leaf_step: bool):
        """The Go function at pc, when a frame may be taken at (pc, sp): pc in Go code, sp on the stack and
        grown since the last frame (or the same, past an arm64 frameless leaf)."""
        f = self.func_at(pc)
        if f is None:
            raise _Stop("pc 0x%x is not in a Go function" % pc)
        if lo is not None and hi is not None and not (lo <= sp <= hi):
            raise _Stop("sp 0x%x left the goroutine stack [0x%x, 0x%x)" % (sp, lo, hi))
        if sp < prev_sp or (sp == prev_sp and not leaf_step):
            raise _Stop("sp did not grow (0x%x after 0x%x): stopped to avoid a loop" % (sp, prev_sp))
        return f

    def _frames(self, pc: int, sp: int, exact: bool, system_stack: bool) -> List[StackFrame]:
        """The frames (inlined ones too) of one physical frame."""
        frs = self.go_frames_at(pc, sp, is_return_address=not exact, keep_wrappers=exact)
        if system_stack:
            for fr in frs:
                fr.system_stack = True
        return frs

    def _ended(self, res: GoUnwind, f, sp: int, hi: Optional[int], through_switch: bool) -> bool:
        """Does the stack end at f's frame (goexit, the thread's first frame: True, res says how)? A function
        that switches stacks stops the unwind, except the systemstack_switch frame a g.sched starts in."""
        if f.name == "runtime.goexit":
            res.stopped = f.name
            self._at_goexit(res, sp, hi)
            return True
        if f.name in _END_NORMAL:
            res.complete = True
            res.stopped = f.name
            return True
        if f.name == "runtime.systemstack_switch" and through_switch:
            pass  # the frame systemstack left at the bottom of the goroutine's stack: go on through it
        elif f.name in _STACK_TOP:
            raise _Stop("%s switches stacks" % f.name)
        return False

    def _at_goexit(self, res: GoUnwind, sp: int, hi: Optional[int]) -> None:
        """The unwind reached runtime.goexit: complete when at the sp newproc1 gave it (or the top is unknown)."""
        goexit_off = self.arch_facts.go_goexit_sp_offset if self.arch_facts is not None else None
        want = hi - goexit_off if hi is not None and goexit_off is not None else None
        if want is None:
            res.complete = True
            res.warnings.append("the unwind ends in runtime.goexit but the stack's top is unknown, so "
                                "its sp (0x%x) could not be checked" % sp)
        elif sp == want:
            res.complete = True
            res.end_checked = True
        else:
            res.warnings.append("the unwind reached runtime.goexit at sp 0x%x, not at the stack's top "
                                "(0x%x = stack.hi 0x%x - %d): frames may be missing or made up"
                                % (sp, want, hi, goexit_off))

    def _caller(self, mem: StackMemory, f, pc: int, sp: int, lr: Optional[int], exact: bool,
                leaf_step: bool) -> Tuple[int, int, bool]:
        """One step out of f's frame at (pc, sp): (the return address, the caller's sp, whether the step
        left an arm64 frameless leaf, so that the caller has the same sp)."""
        if self.arch_facts is not None and f.name in self.arch_facts.go_sp_saving_stubs and not exact:
            # These runtime stubs (sys_linux_amd64.s) call C with SP aligned down to 16 and the SP
            # their frame had saved at 0(SP): the pcsp table describes that saved SP.
            try:
                saved = mem.u64(sp)
            except UserError:
                saved = None
            if saved is None or not sp <= saved <= sp + 16:
                raise _Stop("%s: its saved stack pointer is not readable" % f.name)
            sp = saved
        delta = self.pcln.sp_delta(f, pc - self.bias)
        if delta is None or delta < 0 or delta > (1 << 24):
            raise _Stop("no frame size (pcsp) for %s at 0x%x" % (f.name, pc))
        if self.arch_facts is None:
            raise _Stop("unsupported architecture %s" % self.arch)
        try:
            ret, nsp = self._return_address(mem, sp, delta, lr, leaf_step)
        except UserError:
            raise _Stop("stack unreadable at 0x%x" % (sp + delta))
        if ret == 0:
            raise _Stop("return address 0 after %s" % f.name)
        return ret, nsp, nsp == sp

    def _return_address(self, mem: StackMemory, sp: int, delta: int, lr: Optional[int],
                        leaf_step: bool) -> Tuple[int, int]:
        """(return address, caller's sp) of a frame of `delta` bytes at sp, by the arch's calling convention."""
        if self.arch_facts.link_reg is None:   # `call` pushed the return address
            return mem.u64(sp + delta), sp + delta + self.arch_facts.ptr_size
        # Go's arm64 frames keep the return address (LR) at 0(RSP) once the prologue ran;
        # a frameless leaf (pcsp 0) still has it in LR, and its caller's sp is the same.
        if delta == 0:
            if lr is None or leaf_step:
                raise _Stop("leaf frame without LR")
            return lr, sp
        return mem.u64(sp), sp + delta


class _Stop(Exception):
    """Ends an unwind early; why is GoUnwind.stopped."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def cut_native(frames: List[NativeFrame], unwinder: GoUnwinder) -> Tuple[List[StackFrame], Optional[NativeFrame]]:
    """Native frames above the first Go frame, and that first Go frame (None if never reached)."""
    out: List[StackFrame] = []
    for fr in frames:
        if unwinder.func_at(fr.pc) is not None:
            return out, fr
        out.append(StackFrame(kind="native", pc=fr.pc, sp=fr.sp, function=fr.function, file=fr.file,
                              line=fr.line, objfile=fr.objfile))
    return out, None

