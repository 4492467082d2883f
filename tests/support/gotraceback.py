"""The Go runtime's own traceback of every goroutine (SIGQUIT with GOTRACEBACK=all, or runtime.Stack(all)),
parsed: the ground truth go-goroutines is checked against.

    goroutine 18 gp=0xc000086540 m=nil [chan receive, locked to thread]:
    main.recvWaiter()
    \t/src/gmany/main.go:61 +0x3c
    created by main.main in goroutine 1
    \t/src/gmany/main.go:160 +0x2a5

The header's "gp=... m=..." part appears when the runtime prints at level 2 (as it does for SIGQUIT);
"[running]" goroutines of other threads have no frames ("goroutine running on other thread").

parse_traceback reads one goroutine's block (the first, or a given id) with each frame's pc (printed in a
runtime throw's traceback: fp= sp= pc=) and its inlined mark ("(...)" and no +0x offset): the ground truth
go-callers is checked against (tests/test_e2e_callers.py, test_debian_go.py, the lab's GUI programs).
SIGQUIT_CMDS are the gdb commands that make a stopped Go program print its traceback and exit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

_HEADER = re.compile(r"^goroutine (\d+)(?: gp=(0x[0-9a-f]+))?(?: m=(\d+|nil))?(?: mp=0x[0-9a-f]+)? \[(.*)\]:$")
_FILE = re.compile(r"^\t(.*?):(\d+)(?: \+0x[0-9a-f]+)?(?: fp=.*)?$")
_CREATED = re.compile(r"^created by (\S+?)(?: in goroutine (\d+))?$")


@dataclass
class TracedGoroutine:
    id: int
    gp: Optional[int]
    m: Optional[int]
    status: str                                   # the bracket's first part: 'chan receive', 'running'
    extras: List[str] = field(default_factory=list)   # 'locked to thread', '2 minutes', '(scan)'
    frames: List[Tuple[str, Optional[str], Optional[int]]] = field(default_factory=list)
    created_by: Optional[Tuple[str, Optional[int], Optional[str], Optional[int]]] = None  # func, parent, file, line
    unavailable: bool = False                     # "goroutine running on other thread; stack unavailable"

    @property
    def locked(self) -> bool:
        return "locked to thread" in self.extras


def parse(text: str) -> Dict[int, TracedGoroutine]:
    """Every goroutine block of a traceback, by id (the first block of an id wins)."""
    out: Dict[int, TracedGoroutine] = {}
    cur: Optional[TracedGoroutine] = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        m = _HEADER.match(ln)
        if m:
            inside = m.group(4)
            parts = [p.strip() for p in inside.split(",")]
            status = parts[0]
            extras = parts[1:]
            if status.endswith(" (scan)"):
                status = status[:-7]
                extras.append("(scan)")
            cur = TracedGoroutine(int(m.group(1)), int(m.group(2), 16) if m.group(2) else None,
                                  int(m.group(3)) if m.group(3) and m.group(3) != "nil" else None, status, extras)
            if cur.id not in out:
                out[cur.id] = cur
            i += 1
            continue
        if cur is None:
            i += 1
            continue
        if not ln.strip():
            cur = None
            i += 1
            continue
        if "goroutine running on other thread" in ln:
            cur.unavailable = True
            i += 1
            continue
        c = _CREATED.match(ln)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        fm = _FILE.match(nxt)
        if c:
            cur.created_by = (c.group(1), int(c.group(2)) if c.group(2) else None,
                              fm.group(1) if fm else None, int(fm.group(2)) if fm else None)
            i += 2 if fm else 1
            continue
        if ln.endswith(")") and "(" in ln and fm:
            cur.frames.append((ln[:ln.rindex("(")], fm.group(1), int(fm.group(2))))
            i += 2
            continue
        i += 1
    return out


# ----------------------------------------------------------------- one goroutine, with pcs and inlined marks

# After go-callers: let the thread take SIGQUIT (gdb must pass it, not stop on it); the Go runtime
# prints every goroutine's stack and exits with status 2.
SIGQUIT_CMDS = ["delete", "handle SIGQUIT nostop noprint pass", "signal SIGQUIT"]


@dataclass
class TFrame:
    function: str
    file: str
    line: int
    pc: Optional[int]  # only in tracebacks of a runtime throw (fp= sp= pc=)
    inlined: bool  # "(...)" arguments and no +0x offset


@dataclass
class Traceback:
    goid: int
    status: str
    frames: List[TFrame] = field(default_factory=list)
    created_by: Optional[str] = None
    parent: Optional[int] = None
    created_file: Optional[str] = None
    created_line: Optional[int] = None


_ONE_HEADER = re.compile(r"^goroutine (\d+)(?: gp=\S+)?(?: m=\S+)?(?: mp=\S+)? \[([^\]]*)\]:$")
_FUNC = re.compile(r"^(\S.*)\(([^()]*)\)$")
_WHERE = re.compile(r"^\t(\S+):(\d+)(?: \+0x[0-9a-f]+)?(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=(0x[0-9a-f]+))?$")


def parse_traceback(text: str, goid: Optional[int] = None) -> Traceback:
    """The block of goroutine `goid` (or the first block) in Go traceback text."""
    lines = text.splitlines()
    start = None
    for i, ln in enumerate(lines):
        m = _ONE_HEADER.match(ln)
        if m and (goid is None or int(m.group(1)) == goid):
            start = i
            break
    if start is None:
        raise AssertionError("no traceback of goroutine %s in:\n%s" % (goid, text[-4000:]))
    m = _ONE_HEADER.match(lines[start])
    tb = Traceback(int(m.group(1)), m.group(2))
    i = start + 1
    while i + 1 < len(lines) and lines[i].strip():
        ln, nxt = lines[i], lines[i + 1]
        cm = _CREATED.match(ln)
        wm = _WHERE.match(nxt)
        if wm is None:
            raise AssertionError("unexpected traceback lines %r / %r" % (ln, nxt))
        if cm:
            tb.created_by, tb.parent = cm.group(1), int(cm.group(2)) if cm.group(2) else None
            tb.created_file, tb.created_line = wm.group(1), int(wm.group(2))
            break
        fm = _FUNC.match(ln)
        if fm is None:
            raise AssertionError("unexpected traceback line %r" % ln)
        tb.frames.append(TFrame(fm.group(1), wm.group(1), int(wm.group(2)),
                                int(wm.group(3), 16) if wm.group(3) else None,
                                fm.group(2) == "..." and "+0x" not in nxt))
        i += 2
    assert tb.frames, "empty traceback of goroutine %d" % tb.goid
    return tb
