"""strace's output as records: the tests' one reader of it (ground truth comes from strace, so reading it
wrongly makes a test lie or flake).

strace prints one line per system call, but with -f a call that blocks, or that another thread's event
interrupts, is split in two (strace's "unfinished"/"resumed" pairs, per thread):

    262   ioctl(5</dmabuf:>, DMA_BUF_IOCTL_EXPORT_SYNC_FILE <unfinished ...>
    260   --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=260, si_uid=0} ---
    262   <... ioctl resumed>, 0x7f292ca9ddd8) = 0

parse() joins each pair (by thread id and call name) into one Call, keeps signals and exits apart, and
leaves every other line (the program's own output when strace shares its stream) alone. The thread-id
prefix comes in two forms: `TID   ` with -o FILE, `[pid TID] ` on stderr (the first thread's lines may
have none until a second one exists). -t/-tt/-ttt timestamps and -T durations are accepted. A call whose
thread ended before it returned has result None and `complete` False.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

_PREFIX = re.compile(r"^(?:\[pid +(?P<pid1>\d+)\] |(?P<pid2>\d+) +)?"
                     r"(?:(?P<ts>\d+(?:\.\d+)?|\d\d:\d\d:\d\d(?:\.\d+)?) )?(?P<rest>.*)$")
_NAME = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)\(")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>[a-z_][a-z0-9_]*) resumed>(?P<rest>.*)$")
_UNFINISHED = " <unfinished ...>"
_SIGNAL = re.compile(r"^--- (?P<info>.*?) ---$")        # `--- SIGURG {si_signo=...} ---`, `--- stopped by SIGSTOP ---`
_EXIT = re.compile(r"^\+\+\+ (?P<what>exited with (?P<code>-?\d+)|killed by (?P<sig>SIG[A-Z0-9]+)[^+]*) \+\+\+$")
# `) = 0`, `) = -1 ENOTTY (Inappropriate ioctl for device)`, `) = 4</memfd:lp_dma_buf>`, `) = 0x7f..`,
# `) = ?`, `) = ? ERESTARTSYS (To be restarted ...)`, each maybe followed by ` <0.000012>` (-T). -yy marks a
# file that is gone outside the brackets (strace's util.c): `= 8</memfd:lp_dma_buf>(deleted)`, seen in the lab.
_CLOSE = re.compile(r"\) +=")
_RESULT = re.compile(r"\) += (?P<ret>-?\d+|0x[0-9a-f]+|\?)(?P<deco><.*?>)?(?P<deleted>\(deleted\))?"
                     r"(?: (?P<errno>E[A-Z0-9]+|[A-Z][A-Z0-9_]+)(?: \((?P<errtext>[^)]*)\))?)?"
                     r"(?: \(.*?\))?(?: <\d+\.\d+>)?$")


@dataclass
class Call:
    tid: Optional[int]
    name: str
    args: List[str]                # top-level arguments as strace printed them (decorations kept)
    result: Optional[int]          # None: `?` (the thread ended or the call restarts), or never returned
    errno: Optional[str] = None    # ENOTTY, ERESTARTSYS, ...
    result_deco: Optional[str] = None   # -yy on a returned fd: "/memfd:lp_dma_buf" (" (deleted)" as in fd())
    complete: bool = True          # False: an `<unfinished ...>` that never resumed
    split: bool = False            # True: strace printed it as an unfinished/resumed pair
    line: int = 0                  # the (first) line number, 1-based

    def fd(self, i: int = 0) -> Optional[Tuple[int, Optional[str]]]:
        """Argument i as an fd: (number, -yy path or None), or None when it is not one. A file that is
        gone reads as /proc's link does: "/memfd:lp_dma_buf (deleted)"."""
        if i >= len(self.args):
            return None
        m = re.match(r"^(-?\d+)(?:<(.*)>(\(deleted\))?)?$", self.args[i])
        if not m:
            return None
        return int(m.group(1)), (m.group(2) + " (deleted)" if m.group(3) else m.group(2))


@dataclass
class Signal:
    tid: Optional[int]
    sig: str
    info: str
    line: int = 0


@dataclass
class Exit:
    tid: Optional[int]
    code: Optional[int]            # exited with CODE
    signal: Optional[str]          # killed by SIG
    line: int = 0


@dataclass
class Trace:
    calls: List[Call] = field(default_factory=list)
    signals: List[Signal] = field(default_factory=list)
    exits: List[Exit] = field(default_factory=list)
    other: List[str] = field(default_factory=list)     # lines that are not strace's (program output)
    orphans: List[str] = field(default_factory=list)   # `<... resumed>` with no unfinished start

    def named(self, name: str, request: Optional[str] = None) -> List[Call]:
        """Calls of a syscall; with request, only those whose second argument is it (ioctl's request)."""
        return [c for c in self.calls if c.name == name and (request is None or
                                                            (len(c.args) > 1 and c.args[1] == request))]


def split_args(text: str) -> List[str]:
    """strace's argument text split at top-level commas: quotes, (), [], {} and -yy's <...> nest."""
    out, cur, depth, i, n = [], [], 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i:j + 1])
            i = j + 1
            # strace's `"..."...` (a string it cut short)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "<" and i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_>") :
            depth += 1
        elif ch == ">" and depth > 0 and (i + 1 == n or text[i + 1] in ",>)]} ("):
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    last = "".join(cur).strip()
    if last or out:
        out.append(last)
    return out


def _finish(tid: Optional[int], name: str, body: str, lineno: int, split: bool) -> Optional[Call]:
    """A call from `ARGS) = RESULT...` (the text after `name(`)."""
    m = None
    for at in reversed([x.start() for x in _CLOSE.finditer(body)]):   # the last `) = ` that ends the line
        m = _RESULT.match(body, at)                                    # (a quoted argument may hold one)
        if m is not None:
            break
    if m is None:
        return None
    ret = m.group("ret")
    result = None if ret == "?" else int(ret, 0)
    deco = m.group("deco")
    if deco:
        deco = deco[1:-1] + (" (deleted)" if m.group("deleted") else "")
    return Call(tid, name, split_args(body[:at]), result, m.group("errno"), deco, True, split, lineno)


def parse(text: str) -> Trace:
    """Every record of strace's output (see the module's text)."""
    t = Trace()
    pending: Dict[Tuple[Optional[int], str], Tuple[str, int]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        m = _PREFIX.match(line)
        pid = m.group("pid1") or m.group("pid2")
        tid = int(pid) if pid else None
        rest = m.group("rest")
        s = _SIGNAL.match(rest)
        if s:
            sig = re.search(r"\bSIG[A-Z0-9]+", s.group("info"))
            t.signals.append(Signal(tid, sig.group(0) if sig else "", s.group("info"), lineno))
            continue
        e = _EXIT.match(rest)
        if e:
            t.exits.append(Exit(tid, int(e.group("code")) if e.group("code") else None, e.group("sig"), lineno))
            continue
        r = _RESUMED.match(rest)
        if r:
            name = r.group("name")
            start = pending.pop((tid, name), None)
            if start is None and tid is not None:          # the start was printed before the pid prefix began
                start = pending.pop((None, name), None)
            if start is None:
                t.orphans.append(line)
                continue
            c = _finish(tid, name, start[0] + r.group("rest"), start[1], True)
            if c is None:
                t.orphans.append(line)
            else:
                t.calls.append(c)
            continue
        n = _NAME.match(rest)
        if n:
            name, body = n.group("name"), rest[n.end():]
            if body.endswith(_UNFINISHED):
                pending[(tid, name)] = (body[:-len(_UNFINISHED)], lineno)
                continue
            c = _finish(tid, name, body, lineno, False)
            if c is not None:
                t.calls.append(c)
                continue
        t.other.append(line)
    for (tid, name), (body, lineno) in pending.items():     # never resumed: the thread ended inside it
        t.calls.append(Call(tid, name, split_args(body), None, None, None, False, True, lineno))
    t.calls.sort(key=lambda c: c.line)
    return t
