"""Every goroutine at the stop, from memory alone: runtime.allgs, each g's status, wait reason, saved
context, creator and M.

Where the list is (src/runtime/proc.go, Go 1.19..1.27): `allgs []*g` (a slice header in .bss: pointer,
length, capacity), `allglen uintptr` (.noptrbss) and `allgptr **g` (.bss), all written by allgadd under
allglock; a g is appended once and never removed (dead gs stay, to be reused by newproc). With a symbol
table runtime.allgs and runtime.allglen name them. Stripped, the slice header is looked for in the
program's .bss as it is in memory (bounded: at most MAX_BSS_SCAN bytes): a (pointer, length, capacity)
triple whose length is also a word of .noptrbss (allglen), whose pointer is also a word of .bss (allgptr)
and whose first element is a g (rt0_go's newproc of runtime.main puts goroutine 1 first).

What each goroutine shows, and from where (every field is memory; no thread but the selected one is ever
asked for registers):
- status: g.atomicstatus (the _Gscan bit apart), named like Go's traceback (gStatusStrings) and, when
  waiting, by g.waitreason (waitReasonStrings of the binary's release: waitreasons.json);
- waited: g.waitsince, which the GC's stack scan sets for a waiting or syscall g to work.tstart, the start
  of the previous GC cycle (mgcmark.go; gcMark sets tstart at mark termination): 0 until a second GC ran
  while it waited; minutes the way goroutineheader prints them, when the clock at the stop is known;
- locked to thread: g.lockedm != 0; thread: m.procid of g.m (the LWP) when the g has an M;
- frames: for the goroutine of the selected thread, from its registers (callers.analyse_callers); for a
  goroutine in a system call or cgo call, from g.syscallsp/syscallpc (as Go's traceback does); for one
  that is running on another thread, nothing (its saved context is stale; that thread's registers are not
  read): it is marked so, with its M and LWP; for every other one, from g.sched;
- created by: g.gopc (the `go` statement), parent: g.parentGoid (Go 1.21+).

Bounds: at most MAX_GOROUTINES entries are read, a run of MAX_BAD_RUN unreadable or impossible entries ends
the walk (a damaged length does not cost its size), duplicates are reported once, each stack is unwound to
at most `depth` frames. A damaged entry is one line in `problems` and the walk goes on.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import UserError
from .goroutines import (MAX_GOID, MAX_STACK, GInfo, _plausible_ptr, decode_g, g_read_size, read_m)
from ..versions import GoVersion
from .layouts import G_DEAD, G_RUNNING, G_SCAN, G_STATUS, G_SYSCALL, G_WAITING, Layout, release_key

# At most this many allgs entries are read (Go's default thread limit is 10,000; a program with a million
# goroutines is possible but reading them all at a stop is not what a user asks for: --limit says so).
MAX_GOROUTINES = 1 << 20
MAX_BAD_RUN = 64            # consecutive unreadable/impossible entries that end the walk
MAX_PROBLEM_LINES = 16      # damaged entries named one by one; the rest are counted
MAX_BSS_SCAN = 16 << 20     # bytes of .bss read to find allgs without symbols
# g structs and stacks are read in runs of up to 16 KiB: through the imitation of rr's stub, larger reads
# (gdb splits them into several `m` packets) stopped getting replies part-way through a listing.
_G_CHUNK = 1 << 14          # g structs are read in runs of up to this many bytes
_PTR_CHUNK = 1 << 16        # the allgs array is read in chunks of this many bytes
G_LEAKED = 10               # Go 1.26+: _Gleaked (a goroutine the GC proved unreachable, waiting forever)
G_DEADEXTRA = 11            # Go 1.26+: _Gdeadextra (an extra M's g waiting for a cgo callback)

def _tables() -> dict:
    from ..datafiles import load
    return load("go_runtime/waitreasons.json")


def release_strings(go_version: Optional[str]) -> Tuple[dict, Optional[str]]:
    """(the release's {'wait_reasons': [...], 'status_strings': {...}}, a note when another release's
    table stands in: the nearest older one known, else the oldest)."""
    rel = _tables()["releases"]
    parsed = GoVersion.parse(go_version)
    known = sorted(rel, key=GoVersion.parse)
    if parsed is None:
        return rel[known[-1]], "Go version unknown: wait reasons named as in Go %s" % known[-1]
    want = str(parsed)
    if want in rel:
        return rel[want], None
    use = release_key(rel, go_version)
    return rel[use], ("Go %s's wait reasons were not read from its source; named as in Go %s, which may "
                      "differ" % (want, use))


def wait_reason_name(table: dict, code: int) -> str:
    reasons = table["wait_reasons"]
    if 0 <= code < len(reasons) and reasons[code] is not None:
        return reasons[code]
    return "waitReason(%d)" % code


def status_word(table: dict, status: int) -> str:
    """What Go's goroutineheader prints for a status without its wait reason ('runnable', '???')."""
    return table["status_strings"].get(str(status & ~G_SCAN), "???")


# ------------------------------------------------------------------------------------------ finding

@dataclass
class AllgsLocation:
    slice_addr: int          # run-time address of the allgs slice header
    allglen_addr: Optional[int]
    found_via: str           # 'symbols' | 'bss scan'


def _u64(buf, off: int) -> int:
    return struct.unpack_from("<Q", buf, off)[0]


def _section_range(binary, name: str, bias: int) -> Optional[Tuple[int, int]]:
    s = binary.section(name) if binary is not None else None
    if s is None or not s.size:
        return None
    return s.addr + bias, s.size


def find_allgs(target, binary, layout: Layout, bias: int = 0) -> AllgsLocation:
    """Where runtime.allgs is at run time: by symbol, else by a bounded scan of .bss. UserError when
    neither finds it."""
    # Kept on the GoBinary (one per file version): the variable's address never changes for a binary.
    cache = getattr(binary, "_allgs_locations", None)
    if cache is None:
        cache = {}
        try:
            binary._allgs_locations = cache
        except AttributeError:
            pass
    hit = cache.get(bias)
    if hit is not None:
        return hit
    addr = binary.symbol("runtime.allgs")
    if addr:
        glen = binary.symbol("runtime.allglen")
        loc = AllgsLocation(addr + bias, (glen + bias) if glen else None, "symbols")
    else:
        loc = _scan_bss(target, binary, layout, bias)
    cache[bias] = loc
    return loc


def _read_words(target, rng: Optional[Tuple[int, int]]) -> Tuple[int, List[int]]:
    if rng is None:
        return 0, []
    start, size = rng
    size = min(size, MAX_BSS_SCAN) & ~7
    out: List[int] = []
    pos = 0
    while pos < size:
        n = min(1 << 20, size - pos)
        try:
            raw = target.read(start + pos, n)
        except UserError:
            break
        out.extend(w for (w,) in struct.iter_unpack("<Q", raw[:len(raw) & ~7]))
        pos += n
    return start, out


def _scan_bss(target, binary, layout: Layout, bias: int) -> AllgsLocation:
    bss = _section_range(binary, ".bss", bias)
    nptr = _section_range(binary, ".noptrbss", bias)
    if bss is None:
        raise UserError("cannot find runtime.allgs: the executable has no symbol table and no .bss section",
                        "use an executable with its symbol table (built without -ldflags=-s)")
    bstart, words = _read_words(target, bss)
    if not words:
        raise UserError("cannot find runtime.allgs: the program's .bss at 0x%x is not readable" % bss[0],
                        "check that the executable loaded in gdb is the one that runs (`file PATH`)")
    _, nwords = _read_words(target, nptr)
    lengths = set(nwords)
    counts: Dict[int, int] = {}
    for w in words:
        if w:
            counts[w] = counts.get(w, 0) + 1
    best = None
    for i in range(len(words) - 2):
        n = words[i + 1]
        if not 0 < n <= MAX_GOROUTINES:
            continue
        c = words[i + 2]
        if not n <= c <= MAX_GOROUTINES * 4:
            continue
        p = words[i]
        if not _plausible_ptr(target, p):
            continue
        # allglen (in .noptrbss) equals the length; allgptr (in .bss) holds the same array pointer.
        score = (n in lengths) + (counts.get(p, 0) > 1)
        if score == 0:
            continue
        try:
            g0 = target.read_ptr(p)
            gi = decode_g(layout, g0, target.read(g0, g_read_size(layout))) if _plausible_ptr(target, g0) else None
        except UserError:
            gi = None
        if gi is None or _g_problem(gi) is not None or gi.goid == 0 or gi.goid >= MAX_GOID:
            continue
        score += 2 if gi.goid == 1 else 1
        if best is None or score > best[0]:
            best = (score, bstart + 8 * i)
    if best is None:
        raise UserError("cannot find runtime.allgs: no slice of goroutines in the program's .bss (no symbol table)",
                        "use an executable with its symbol table (built without -ldflags=-s)")
    return AllgsLocation(best[1], None, "bss scan")


# ------------------------------------------------------------------------------------------ reading

def _g_problem(gi: GInfo) -> Optional[str]:
    """Why a g read from allgs cannot be one, else None (a dead g may have no stack)."""
    base = gi.status & ~G_SCAN
    if gi.status & ~(G_SCAN | 0xFFF) or base not in G_STATUS:
        return "status 0x%x is not a goroutine status" % gi.status
    if gi.goid >= MAX_GOID:
        return "goid %d is not plausible" % gi.goid
    if base != G_DEAD and (gi.stack_lo == 0 or gi.stack_hi <= gi.stack_lo or gi.stack_hi - gi.stack_lo > MAX_STACK):
        return "stack bounds [0x%x, 0x%x) are not a stack" % (gi.stack_lo, gi.stack_hi)
    if gi.sched_g not in (0, gi.addr):
        return "g.sched.g (0x%x) does not point back at it" % gi.sched_g
    return None


@dataclass
class AllgsRead:
    gs: List[GInfo] = field(default_factory=list)
    length: int = 0                      # the slice's length as read
    allglen: Optional[int] = None        # runtime.allglen, when its address is known
    read: int = 0                        # entries looked at
    problems: List[str] = field(default_factory=list)


def read_allgs(target, layout: Layout, loc: AllgsLocation, limit: int = MAX_GOROUTINES) -> AllgsRead:
    """The gs of allgs, in its order; damaged entries become lines in problems. Bounded (see module doc)."""
    out = AllgsRead()
    extra = [0]

    def note(line: str) -> None:  # one line each, the first MAX_PROBLEM_LINES of them; then a count
        if len(out.problems) < MAX_PROBLEM_LINES:
            out.problems.append(line)
        else:
            extra[0] += 1
    try:
        hdr = target.read(loc.slice_addr, 24)
    except UserError as e:
        raise UserError("runtime.allgs at 0x%x is not readable (%s)" % (loc.slice_addr, e.what),
                        "check that the executable loaded in gdb is the one that runs (`file PATH`)")
    ptr, n, cap = struct.unpack("<QQQ", hdr)
    out.length = n
    if loc.allglen_addr:
        try:
            out.allglen = target.read_u64(loc.allglen_addr)
        except UserError:
            note("runtime.allglen at 0x%x is not readable" % loc.allglen_addr)
    if n > cap:
        note("allgs is damaged: length %d is larger than its capacity %d" % (n, cap))
    if out.allglen is not None and out.allglen != n:
        note("allgs has length %d but runtime.allglen says %d: using the smaller" % (n, out.allglen))
        n = min(n, out.allglen)
    if n > limit:
        note("allgs claims %d goroutines; reading the first %d (--limit)" % (n, limit))
        n = limit
    if n and not _plausible_ptr(target, ptr):
        raise UserError("runtime.allgs is damaged: its array pointer 0x%x is not a pointer (length %d)" % (ptr, n),
                        "the program's memory is damaged; `go-callers` still shows the selected goroutine")
    # The array of pointers and the gs it names, a chunk at a time: a damaged length ends at the first
    # unreadable chunk or after MAX_BAD_RUN impossible entries, whatever it claims.
    gsize = g_read_size(layout)
    seen: Dict[int, int] = {}
    bad_run = 0
    pos = 0
    while pos < n:
        k = min(n - pos, _PTR_CHUNK // 8)
        try:
            raw = target.read(ptr + 8 * pos, 8 * k)
        except UserError:
            raw = _readable_prefix(target, ptr + 8 * pos, 8 * k)
            if not raw and pos == 0:
                raise UserError("runtime.allgs is damaged: its array at 0x%x (length %d) is not readable" % (ptr, n),
                                "the program's memory is damaged; `go-callers` still shows the selected goroutine")
            note("allgs entries %d..%d (from 0x%x) are not readable: the list stops there"
                                % (pos + len(raw) // 8, n - 1, ptr + 8 * pos + len(raw)))
            n = pos + len(raw) // 8
        addrs = [w for (w,) in struct.iter_unpack("<Q", raw)]
        for c in range(0, len(addrs), 256):
            part = addrs[c:c + 256]
            blobs = _read_gs(target, [a for a in part if _plausible_ptr(target, a) and a not in seen], gsize)
            for j, a in enumerate(part):
                i = pos + c + j
                if bad_run >= MAX_BAD_RUN:
                    if extra[0]:
                        out.problems.append("and %d more damaged allgs entries" % extra[0])
                    out.problems.append("allgs entries %d..%d skipped: the %d before them were all damaged"
                                        % (i, n - 1, MAX_BAD_RUN))
                    return out
                out.read = i + 1
                if a in seen:
                    bad_run += 1
                    note("allgs entry %d repeats entry %d (g 0x%x): shown once" % (i, seen[a], a))
                    continue
                seen[a] = i
                if not _plausible_ptr(target, a):
                    bad_run += 1
                    note("allgs entry %d (0x%x) is not a pointer to a g" % (i, a))
                    continue
                buf = blobs.get(a)
                if buf is None:
                    bad_run += 1
                    note("allgs entry %d: g at 0x%x is not readable" % (i, a))
                    continue
                gi = decode_g(layout, a, buf)
                why = _g_problem(gi)
                if why is not None:
                    bad_run += 1
                    note("allgs entry %d (g 0x%x, goid %d): %s" % (i, a, gi.goid, why))
                    continue
                bad_run = 0
                out.gs.append(gi)
        pos += len(addrs)
    if extra[0]:
        out.problems.append("and %d more damaged allgs entries" % extra[0])
    return out


def _readable_prefix(target, addr: int, size: int) -> bytes:
    """The bytes of [addr, addr+size) up to the first unreadable page (a damaged length may run the array
    into unmapped memory): page by page, at most 16 reads."""
    out = b""
    for _ in range(16):
        if len(out) >= size:
            break
        cur = addr + len(out)
        n = min(size - len(out), 0x1000 - (cur & 0xFFF))
        try:
            out += target.read(cur, n)
        except UserError:
            break
    return out[:len(out) - len(out) % 8]


def _read_gs(target, addrs: Sequence[int], gsize: int) -> Dict[int, bytes]:
    """g structs by address: neighbours (gs come from the same heap spans) read in runs, not one by one."""
    out: Dict[int, bytes] = {}
    uniq = sorted(set(addrs))
    i = 0
    while i < len(uniq):
        start = uniq[i]
        j = i
        while j + 1 < len(uniq) and uniq[j + 1] + gsize - start <= _G_CHUNK and uniq[j + 1] - uniq[j] <= 4096:
            j += 1
        end = uniq[j] + gsize
        try:
            raw = target.read(start, end - start)
            for a in uniq[i:j + 1]:
                out[a] = raw[a - start:a - start + gsize]
        except UserError:
            for a in uniq[i:j + 1]:
                try:
                    out[a] = target.read(a, gsize)
                except UserError:
                    pass
        i = j + 1
    return out


# ------------------------------------------------------------------------------------------ speed
# Thousands of goroutines park at a handful of pcs: what the pclntab says about a pc is looked up once per
# listing, and the stacks are read in runs (goroutine stacks are carved side by side out of stack spans).

class _CachedPcln:
    """The pclntab calls an unwind makes, memoized per pc (for one listing: a bounded dict each)."""

    def __init__(self, pcln):
        self._p = pcln
        self._func: Dict[int, object] = {}
        self._sp: Dict[Tuple[int, int], Optional[int]] = {}
        self._frames: Dict[Tuple[int, bool], list] = {}

    def __getattr__(self, name):
        return getattr(self._p, name)

    def func_for_pc(self, pc: int):
        if pc in self._func:
            return self._func[pc]
        f = self._p.func_for_pc(pc)
        if len(self._func) < 1 << 16:
            self._func[pc] = f
        return f

    def sp_delta(self, f, pc: int):
        key = (f.entry, pc)
        if key not in self._sp:
            if len(self._sp) >= 1 << 16:
                return self._p.sp_delta(f, pc)
            self._sp[key] = self._p.sp_delta(f, pc)
        return self._sp[key]

    def frames_at(self, pc: int, is_return_address: bool = True):
        key = (pc, is_return_address)
        hit = self._frames.get(key)
        if hit is None:
            hit = self._p.frames_at(pc, is_return_address=is_return_address)
            if len(self._frames) < 1 << 16:
                self._frames[key] = hit
        return hit


def _cached_unwinder(unw):
    """The same GoUnwinder, its pclntab memoized and go_frames_at's results reused (copied, sp set)."""
    from .unwind import StackFrame
    new, cls = object.__new__, StackFrame
    unw.pcln = _CachedPcln(unw.pcln)
    plain = unw.go_frames_at
    memo: Dict[Tuple[int, bool, bool], list] = {}

    def go_frames_at(pc, sp, is_return_address, keep_wrappers=False):
        key = (pc, is_return_address, keep_wrappers)
        frs = memo.get(key)
        if frs is None:
            frs = plain(pc, None, is_return_address, keep_wrappers)
            if len(memo) < 1 << 16:
                memo[key] = frs
        out = []
        for f in frs:
            c = new(cls)
            c.__dict__.update(f.__dict__)
            c.sp = sp
            out.append(c)
        return out

    unw.go_frames_at = go_frames_at
    return unw


class _Prefetched:
    """A Target whose reads inside prefetched ranges come from memory already read; the rest go through.
    A read that straddles a range's edge raises (StackMemory then reads the words it needs one by one)."""

    def __init__(self, target, ranges: List[Tuple[int, bytes]]):
        self._t = target
        self._starts = [a for a, _ in ranges]
        self._data = ranges

    def __getattr__(self, name):
        return getattr(self._t, name)

    def read(self, addr: int, size: int) -> bytes:
        import bisect
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            start, data = self._data[i]
            off = addr - start
            if off + size <= len(data):
                return data[off:off + size]
            if off < len(data):
                from ..errors import TargetReadError
                raise TargetReadError(addr, size, "outside the prefetched stack")
        return self._t.read(addr, size)

    def read_u64(self, addr: int) -> int:
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def read_ptr(self, addr: int) -> int:
        return self.read_u64(addr)


_STACK_RUN = 1 << 14     # bytes a coalesced stack read may span
_STACK_GAP = 4096        # unused stack between two goroutines' used parts that a run still includes


def prefetch_stacks(target, spans: List[Tuple[int, int]]) -> "_Prefetched":
    """Read the used part [sp, hi) of many stacks in coalesced runs; a run that fails is read piecewise."""
    spans = sorted((lo, hi) for lo, hi in spans if 0 < lo < hi and hi - lo <= MAX_STACK)
    runs: List[Tuple[int, int]] = []
    for lo, hi in spans:
        if runs and lo - runs[-1][1] <= _STACK_GAP and hi - runs[-1][0] <= _STACK_RUN:
            runs[-1] = (runs[-1][0], max(runs[-1][1], hi))
        elif runs and lo < runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], hi))
        else:
            runs.append((lo, hi))
    got: List[Tuple[int, bytes]] = []
    for lo, hi in runs:
        try:
            got.append((lo, target.read(lo, hi - lo)))
        except UserError:
            pass  # read again, goroutine by goroutine, when unwound
    return _Prefetched(target, got)


# ------------------------------------------------------------------------------------------ the list

@dataclass
class Goroutine:
    id: int
    address: int
    status: int                          # g.atomicstatus as read (scan bit included)
    status_name: str                     # layouts.status_name: 'waiting', 'scan+running', '?(0x..)'
    state: str                           # what Go's traceback header shows: the wait reason or the status word
    scan: bool
    wait_reason: Optional[str]
    wait_reason_code: int
    waitsince: int                       # g.waitsince (runtime nanotime), 0 when the runtime did not record it
    waited_ns: Optional[int]             # now - waitsince, when the clock at the stop is known
    locked_to_thread: bool
    m: Optional[int]                     # g.m
    m_id: Optional[int]
    tid: Optional[int]                   # m.procid: the LWP the goroutine runs on (running, syscall)
    selected: bool                       # the goroutine of the selected thread
    system: bool                         # a runtime goroutine (Go's traceback hides it below GOTRACEBACK=system)
    in_cgo: bool                         # in a cgo call (status syscall, its M's ncgo > 0)
    start: Optional[str]                 # the function the goroutine started in (g.startpc)
    created_by: Optional[dict]           # {'function', 'file', 'line', 'pc'} of the `go` statement (g.gopc)
    parent_id: Optional[int]             # g.parentGoid (Go 1.21+)
    stack_from: str                      # 'registers' | 'syscall' | 'sched' | 'none'
    stack_note: Optional[str] = None     # why there are no frames (running on another thread, dead)
    top: Optional[object] = None         # unwind.StackFrame: the innermost frame in the program's own code
    frames: List[object] = field(default_factory=list)   # every frame (the ID view; the list keeps top only)
    unwind_stopped: str = ""
    complete: bool = False
    problem: Optional[str] = None        # one line when its stack did not unwind


@dataclass
class GoroutinesReport:
    executable: Optional[str]
    go_version: Optional[str]
    tid: Optional[int]                   # the selected thread
    selected_id: Optional[int]           # its goroutine
    allgs: Optional[int] = None          # address of the allgs slice header
    found_via: str = ""
    length: int = 0                      # allgs' length as read
    goroutines: List[Goroutine] = field(default_factory=list)   # the ones shown (after filters)
    total: int = 0                       # gs read from allgs (dead ones included)
    counts: Dict[str, int] = field(default_factory=dict)       # by state, over every g read
    hidden: Dict[str, int] = field(default_factory=dict)       # what the filters left out
    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _is_system(start: Optional[str]) -> bool:
    """isSystemGoroutine (src/runtime/traceback.go) by the start function's name: runtime.* except
    runtime.main (the finalizer and cleanup goroutines count as system ones unless running user code,
    which memory alone does not say cheaply: they are counted as system)."""
    return bool(start) and start.startswith("runtime.") and start != "runtime.main"


def _created_by(unw, gopc: int, goid: int) -> Optional[dict]:
    """Where the `go` statement was, as Go's printcreatedby shows it: the function that holds gopc (the
    physical one, inlining aside) with the file:line of the call (the innermost inlined position). None for
    goroutine 1 (runtime.main, made by rt0_go) and when gopc is in no Go function."""
    if not gopc or goid == 1:
        return None
    frs = unw.go_frames_at(gopc, None, is_return_address=True, keep_wrappers=True)
    if not frs:
        return None
    return {"function": frs[-1].function, "file": frs[0].file, "line": frs[0].line, "pc": gopc}


def _is_own(row: "Goroutine") -> bool:
    """A goroutine of the program's own code: a frame of it on its stack, or, when its stack is not read
    (running on another thread), a start function outside the runtime and the standard library."""
    if row.top is not None:
        return True
    if row.system or not row.start or row.frames:
        return False
    from .pclntab import split_func_name
    from .stdlib import is_std_package
    return not is_std_package(split_func_name(row.start)[0], None)


def _own(frames) -> Optional[object]:
    from ..callers import pick_caller
    return pick_caller(frames)


def analyse_goroutines(target, depth: int = 64, goid: Optional[int] = None, running: bool = False,
                       own: bool = False, include_dead: bool = False, limit: int = MAX_GOROUTINES,
                       now_ns: Optional[int] = None, selected_stack: bool = True,
                       stacks: bool = False) -> GoroutinesReport:
    """Every goroutine of the stopped program (or only goroutine `goid`, with its whole stack).

    running: only running ones and ones in a system call or cgo call; own: only ones with a frame in the
    program's own code; include_dead: dead (and idle) gs too. now_ns: the runtime's clock (CLOCK_MONOTONIC)
    at the stop, when known, for how long each waited. selected_stack: unwind the selected thread's
    goroutine from its registers (callers.analyse_callers); only that thread's registers are read.
    stacks: keep every goroutine's frames (else only goroutine `goid`'s)."""
    from ..callers import analyse_callers, open_go_binary
    from .binary import load_bias
    from .goroutines import current_goroutine
    from .layouts import layout_for, layout_note, status_name
    from .unwind import GoUnwinder

    binary = open_go_binary(target)
    binary.pclntab  # UserError when missing or corrupt
    bi = binary.buildinfo
    layout, warn = layout_for(binary.go_version, target.arch)
    bias = load_bias(binary, target.auxv())
    rep = GoroutinesReport(executable=target.executable, go_version=binary.go_version, tid=target.tid,
                           selected_id=None)
    if warn:
        rep.warnings.append(warn)
    note = layout_note(layout)
    if note:
        rep.notes.append(note)
    rep.warnings.extend(target.warnings)
    table, tnote = release_strings(binary.go_version)
    if tnote:
        rep.notes.append(tnote)
    unw = _cached_unwinder(GoUnwinder(target, binary, bias, bi))

    # The selected thread's goroutine: the one whose registers may be read.
    sel_g = None
    sel_in_cgo = False
    try:
        cur = current_goroutine(target, binary, layout, bias)
        sel_g = cur.g
        sel_in_cgo = cur.in_cgo
    except UserError as e:
        rep.warnings.append("the selected thread's goroutine is not known (%s)" % e.what)
    if sel_g is not None:
        rep.selected_id = sel_g.goid

    loc = find_allgs(target, binary, layout, bias)
    rep.allgs, rep.found_via = loc.slice_addr, loc.found_via
    got = read_allgs(target, layout, loc, limit=limit)
    rep.length = got.length
    rep.problems.extend(got.problems)
    rep.total = len(got.gs)

    m_cache: Dict[int, object] = {}
    # The used part of every stack that will be unwound from memory, read in runs, not one by one.
    spans = []
    for gi in got.gs:
        if goid is not None and gi.goid != goid:
            continue
        sp = gi.syscallsp if gi.syscallsp and gi.status & ~G_SCAN in (G_SYSCALL, G_RUNNING) else gi.sched_sp
        if sp and gi.stack_lo <= sp < gi.stack_hi and gi.status & ~G_SCAN not in (G_DEAD, G_DEADEXTRA, 0):
            spans.append((sp, gi.stack_hi))
    unw.t = prefetch_stacks(target, spans)

    def m_of(addr: int):
        if not addr:
            return None
        if addr not in m_cache:
            try:
                m_cache[addr] = read_m(target, layout, addr)
            except UserError:
                m_cache[addr] = None
                rep.problems.append("M 0x%x is not readable" % addr)
        return m_cache[addr]

    for gi in got.gs:
        base = gi.status & ~G_SCAN
        state = status_word(table, gi.status)
        reason = None
        if base in (G_WAITING, G_LEAKED) and gi.waitreason:
            reason = wait_reason_name(table, gi.waitreason)
            state = reason
        rep.counts[state] = rep.counts.get(state, 0) + 1
        if goid is not None and gi.goid != goid:
            continue
        if goid is None and not include_dead and base in (G_DEAD, G_DEADEXTRA, 0):
            rep.hidden["dead"] = rep.hidden.get("dead", 0) + 1
            continue
        if goid is None and running and base not in (G_RUNNING, G_SYSCALL):
            rep.hidden["not running"] = rep.hidden.get("not running", 0) + 1
            continue
        mi = m_of(gi.m)
        start_f = unw.func_at(gi.startpc) if gi.startpc else None
        start = start_f.name if start_f is not None else None
        selected = sel_g is not None and gi.addr == sel_g.addr
        row = Goroutine(
            id=gi.goid, address=gi.addr, status=gi.status, status_name=status_name(gi.status), state=state,
            scan=bool(gi.status & G_SCAN), wait_reason=reason, wait_reason_code=gi.waitreason,
            waitsince=gi.waitsince if base in (G_WAITING, G_SYSCALL) else 0, waited_ns=None,
            locked_to_thread=bool(gi.lockedm), m=gi.m or None,
            m_id=getattr(mi, "id", None) if mi is not None else None,
            tid=(mi.procid or None) if mi is not None else None, selected=selected, system=_is_system(start),
            in_cgo=(sel_in_cgo if selected else bool(mi is not None and base == G_SYSCALL and (mi.ncgo > 0 or mi.incgo))),
            start=start, created_by=_created_by(unw, gi.gopc, gi.goid), parent_id=gi.parent_goid, stack_from="none")
        if row.waitsince and now_ns is not None and now_ns >= row.waitsince:
            row.waited_ns = now_ns - row.waitsince
        _stack(row, gi, base, unw, target, depth, selected and selected_stack, analyse_callers, rep)
        if own and not _is_own(row):
            rep.hidden["not own code"] = rep.hidden.get("not own code", 0) + 1
            continue
        if goid is None and not stacks:
            row.frames = []
        rep.goroutines.append(row)
    if goid is not None and not rep.goroutines:
        raise UserError("no goroutine %d among the %d in runtime.allgs" % (goid, rep.total),
                        "`go-goroutines --all` lists them all, dead ones too")
    return rep


def _stack(row: Goroutine, gi: GInfo, base: int, unw, target, depth: int, use_regs: bool, analyse_callers,
           rep: GoroutinesReport) -> None:
    """Frames of one goroutine, from the source its state allows (see the module doc)."""
    if base in (G_DEAD, G_DEADEXTRA, 0):
        row.stack_note = "dead: no stack" if base != 0 else "idle: never started"
        return
    if use_regs:
        try:
            cr = analyse_callers(target, depth=depth)
        except UserError as e:
            row.problem = "goroutine %d: its thread's registers gave no stack (%s)" % (row.id, e.what)
        else:
            if cr.goroutine is not None and cr.goroutine.addr == gi.addr:
                row.stack_from = "registers"
                row.frames = list(cr.native) + list(cr.go)
                row.unwind_stopped, row.complete = cr.unwind_stopped, cr.complete
                row.top = _own(cr.go)
                return
    if base == G_RUNNING and not gi.syscallsp:
        where = "LWP %d" % row.tid if row.tid else "another thread"
        row.stack_note = ("running on %s: its stack is not read (only the selected thread's registers are)"
                          % where)
        return
    if gi.syscallsp and base in (G_SYSCALL, G_RUNNING):
        row.stack_from = "syscall"
        res = unw.unwind(gi.syscallpc, gi.syscallsp, None, gi.stack_lo, gi.stack_hi, depth=depth,
                         innermost_exact=False)
    else:
        if not gi.sched_sp:
            row.problem = "goroutine %d (%s) has no saved stack pointer (g.sched.sp is 0)" % (row.id, row.state)
            return
        row.stack_from = "sched"
        f = unw.func_at(gi.sched_pc)
        # A goroutine that never ran has sched.pc at its function's entry (newproc1/gostartcallfn): an exact
        # pc; a parked one has the return address of its mcall/systemstack_switch.
        via_switch = f is not None and f.name == "runtime.systemstack_switch"
        exact = via_switch or (f is not None and f.entry == gi.sched_pc - unw.bias)
        res = unw.unwind(gi.sched_pc, gi.sched_sp, gi.sched_lr or None, gi.stack_lo, gi.stack_hi, depth=depth,
                         innermost_exact=exact, from_sched=via_switch)
    row.frames = [f for f in res.frames if f.function != "runtime.goexit"]
    row.unwind_stopped, row.complete = res.stopped, res.complete
    row.top = _own(row.frames)
    if not res.complete and not res.at_depth_limit:
        row.problem = "goroutine %d: its stack does not unwind past %s (%s)" % (
            row.id, row.frames[-1].function if row.frames else "0x%x" % (gi.sched_pc if row.stack_from == "sched"
                                                                          else gi.syscallpc), res.stopped)
