"""rr's whole output as data: one parser for what rr prints when it aborts a recording (sources:
github.com/rr-debugger/rr at every release since 4.0.0 and before: src/log.cc write_prefix /
EmergencyDebugOstream / start_emergency_debug, src/TraceFrame.cc dump, src/DumpCommand.cc
dump_events_matching / dump_syscallbuf_data, src/Registers.cc print_register_file_compact,
src/launch_debugger.cc and src/GdbServer.cc emergency_debug, src/RecordCommand.cc).

What rr prints, newest format first (older releases differ as noted):

  rr: Saving execution to trace directory `DIR'.          (4.x: "Saving the execution of `EXE' to trace ...")
  [FATAL src/record_syscall.cc:6556:rec_process_syscall_arch() errno: E]   (errno part: old releases, or errno set)
   (task TID (rec:RECTID) at time N)
   -> Assertion `COND' failed to hold. MESSAGE           (4.x and older: "->  Assertion")
  Tail of trace dump:                                     (since 4.5; 20 events)
  {
    real_time:F global_time:N, event:`KIND' (state:STATE) tid:T, ticks:K
  REGISTERS (x86-64: rax:0x.. ... orig_rax:0x.. fs_base:0x..; aarch64: x[0]:0x.. ... sp pc pstate)
    { map_file:"NAME", addr:0x.., length:0x.., prot_flags:"rwxp", ... }
    { syscall:'NAME', ret:0x.., size:0x..(, desched:1) }   (syscallbuf flush records)
    { tid:T, addr:0x.., length:0x.. }                      (recorded data)
  }
  === Start rr backtrace: ... === End rr backtrace
  [FATAL src/log.cc:N:start_emergency_debug()] (session doesn't look interactive, aborting emergency debugging)
  or: Launch debugger with\\n  'gdb' '-l' '10000' '-ex' 'set sysroot /' '-ex' 'target extended-remote 127.0.0.1:PORT' 'EXE'
      (before 5.8: "Launch gdb with\\n  gdb '-l' ..."; 4.0/4.1: "Launch gdb with\\n  gdb EXE\\nand attach to the rr debug
      server with:\\n  target remote :PORT"; before 4.0: "Attach to the rr debug server with this command:")

CI logs put a prefix before each line ("0:03.62 GECKO(32546) ", "[task 2024-...Z] ", timestamps, indentation):
the prefix of the lines that carry rr's anchors is learnt (digits generalised) and taken off every line that
starts with it. ANSI colour codes and CR are dropped. Time is linear in the text; every list is capped.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .arch import X86_64, arch_of
from .versions import RRVersion

if TYPE_CHECKING:  # for the annotations only (rr.py is imported when a message needs it)
    from .rr import RrAssertion

MAX_CHARS = 256 << 20          # what is read at most (explain's MAX_INPUT)
MAX_LINE = 1 << 16             # a longer line is cut here (no rr line is this long)
MAX_EVENTS = 400               # trace-dump events kept (the last ones)
MAX_ASSERTIONS = 64
MAX_ITEMS = 256                # map_file / syscallbuf records per event, backtrace lines, launches
MAX_CONTINUATION = 6           # lines an assertion's message may wrap over

LINES_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rr_lines.json")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
# Anchors: text rr prints that starts a line of its own. The text before one is the log's prefix.
_ANCHOR = re.compile(r"\[(?:FATAL|ERROR) [^\]\s]{0,400}:\d{1,7}:|->\s+Assertion `|Tail of trace dump:|"
                     r"=== Start rr backtrace|Launch (?:gdb|debugger) with|rr: Saving (?:the )?execution|"
                     r"Attach to the rr debug server|\(task \d{1,10} \(rec:\d{1,10}\) at time|"
                     r"(?:real_time:[\d.]{1,30} )?global_time:\d{1,20}, event:`|rax:0x[0-9a-f]{1,16} rbx:|"
                     r"x\[0\]:0x[0-9a-f]{1,16} x\[1\]:|\{ map_file:\"|\{ syscall:'")
_HEADER = re.compile(r"\[(FATAL|ERROR|WARN) ([^\]\s:]{0,400}):(\d{1,7}):([A-Za-z_~][\w:~<>,]{0,200})\(\)"
                     r"(?: errno: ([^\]]{0,60}))?\]")
_TASK = re.compile(r"\(task (\d{1,10}) \(rec:(\d{1,10})\) at time (\d{1,20})\)")
_NOTICE = {"not_interactive": "session doesn't look interactive, aborting emergency debugging",
           "bad_state": "task is in a bad state, aborting emergency debugging",
           "cannot_resume": "Can't resume execution from invalid state"}
_EVENT = re.compile(r"(?:real_time:([\d.]{1,30}) )?global_time:(\d{1,20}), event:`([^'`]{0,200})'"
                    r"(?: \(state:(\w{1,40})\))? tid:(\d{1,10})(?:, ticks:(-?\d{1,20}))?")
_REG = re.compile(r"([a-z_][a-z0-9_]{0,10}(?:\[\d{1,2}\])?):(0x[0-9a-f]{1,16}|\d{1,20})(?=\s|$)")
_MAP = re.compile(r"\{ map_file:\"(.{0,4096}?)\"(?:, addr:(0x[0-9a-f]{1,16}|\(nil\)|0))?(?:, length:(0x[0-9a-f]{1,16}|"
                  r"\(nil\)|0))?(?:, prot_flags:\"([rwxsp-]{4})\")?")
_BUF = re.compile(r"\{ syscall:'([\w?()]{1,64})', ret:(0x[0-9a-f]{1,16}|-?\d{1,20}), size:(0x[0-9a-f]{1,16}|\d{1,20})"
                  r"(, desched:1)?")
_DATA = re.compile(r"\{ tid:(\d{1,10}), addr:")
_SAVING = re.compile(r"Saving (?:the execution of `(.{1,4096}?)' to|execution to) trace directory `(.{1,4096}?)'")
_REMOTE = re.compile(r"target (?:extended-)?remote (?:[\w.]{0,64})?:(\d{1,5})")

# rr record's options that take a value (src/RecordCommand.cc and src/main.cc, master 2026-08).
_RECORD_OPTS_WITH_VALUE = {"-c", "--num-cpu-ticks", "-i", "--ignore-signal", "-p", "--print-trace-dir", "-o",
                           "--output-trace-dir", "-t", "--continue-through-signal", "-v", "--env",
                           "--syscall-buffer-size", "--nested", "--bind-to-cpu", "--disable-cpuid-features",
                           "--disable-cpuid-features-ext", "--disable-cpuid-features-xsave", "--num-cores",
                           "--trace-id", "--syscall-buffer-sig", "--resource-path", "--log", "-A", "--microarch",
                           "-C", "--checksum", "-D", "--dump-on"}  # (-M/--mark-stdio is a flag)
_X86_64 = ("rax", "orig_rax", "rip", "fs_base")
_AARCH64 = ("x[0]", "x[8]", "pstate", "pc")
_X86 = ("eax", "orig_eax", "eip")


@dataclass
class Header:
    level: str
    path: str                       # as rr printed it (its __FILE__)
    line: int
    function: str
    errno: Optional[str] = None

    @property
    def file(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def where(self) -> str:
        return "%s:%d:%s()" % (self.file, self.line, self.function)


@dataclass
class Assertion:
    header: Optional[Header]
    condition: str
    message: str
    task: Optional[int] = None
    rec_tid: Optional[int] = None
    time: Optional[int] = None
    line_no: int = 0                # the log's line (1-based)
    ioctl: Optional[RrAssertion] = None  # when the message is rr's "Unknown ioctl" text
    syscall: Optional[str] = None   # "Expected E for 'SYSCALL' ..."
    expected: Optional[str] = None

    @property
    def key(self) -> Tuple[str, str, str]:
        return (self.header.where if self.header else "", self.condition, self.message)

    def summary(self) -> str:
        where = ("rr's assertion in %s " % self.header.where) if self.header else "rr's assertion "
        msg = (": " + self.message) if self.message else ""
        cond = self.condition if len(self.condition) <= 120 else self.condition[:117] + "..."
        return "%s`%s' failed%s" % (where, cond, msg if len(msg) <= 200 else msg[:197] + "...")


@dataclass
class MapFile:
    name: str
    addr: Optional[int]
    length: Optional[int]
    prot: Optional[str]


@dataclass
class BufRecord:
    syscall: str
    ret: int
    size: int
    desched: bool


@dataclass
class TraceEvent:
    global_time: Optional[int]
    kind: str                       # 'SYSCALL: ioctl', 'SYSCALLBUF_FLUSH', 'SIGNAL: SIGSEGV' ...
    state: Optional[str]            # ENTERING_SYSCALL / EXITING_SYSCALL ...
    tid: Optional[int]
    ticks: Optional[int] = None
    regs: Dict[str, int] = field(default_factory=dict)
    maps: List[MapFile] = field(default_factory=list)
    buffered: List[BufRecord] = field(default_factory=list)
    data_records: int = 0
    line_no: int = 0

    @property
    def syscall(self) -> Optional[str]:
        if self.kind.startswith("SYSCALL: "):
            return self.kind[len("SYSCALL: "):].strip()
        if not self.kind and self.regs:  # registers without their event line (a cut log): the syscall number
            a = arch_of(self.arch)
            if a is not None and self.regs.get(a.rr_log_regs[0]) == a.nr_ioctl:
                return "ioctl"
        return None

    @property
    def arch(self) -> Optional[str]:
        return regs_arch(self.regs)


@dataclass
class IoctlCall:
    """An ioctl the trace dump shows (from its registers)."""
    tid: Optional[int]
    global_time: Optional[int]
    state: str                      # 'entry' | 'exit'
    fd: Optional[int]
    request: Optional[int]
    arg: Optional[int]
    result: Optional[int]           # raw return (negative errno) at exit


@dataclass
class Launch:
    text: str                       # the command rr printed
    argv: List[str]
    port: Optional[int]
    executable: Optional[str]
    line_no: int = 0


@dataclass
class Notice:
    kind: str                       # not_interactive | bad_state | cannot_resume
    header: Optional[Header]
    line_no: int = 0


@dataclass
class Release:
    """The rr release a log came from, inferred from a source line in rr's FATAL header."""
    text: str                       # 'rr 5.8.0' / 'a build of rr from git after 5.8.0' / ...
    version: Optional[RRVersion]    # what the verdict uses (None: not usable)
    releases: List[str]
    builds_after: List[str]
    source: str                     # 'record_syscall.cc:6556'
    how: str                        # one sentence: how it was inferred


@dataclass
class RrLog:
    assertions: List[Assertion] = field(default_factory=list)
    notices: List[Notice] = field(default_factory=list)
    events: List[TraceEvent] = field(default_factory=list)
    events_dropped: int = 0
    backtrace: List[str] = field(default_factory=list)
    launches: List[Launch] = field(default_factory=list)
    record_argv: Optional[List[str]] = None   # rr's own command line: ['rr', 'record', ...]
    executable: Optional[str] = None
    arguments: List[str] = field(default_factory=list)
    executable_source: Optional[str] = None
    trace_dir: Optional[str] = None
    prefixes: List[str] = field(default_factory=list)
    lines: int = 0
    truncated: bool = False
    headers: List[Header] = field(default_factory=list)
    release: Optional[Release] = None
    record_text: str = ""                     # the line rr's command line was read from, and its number
    record_line: int = 0

    @property
    def arch(self) -> Optional[str]:
        for e in reversed(self.events):
            a = e.arch
            if a:
                return a
        return None

    @property
    def ioctl_assertions(self) -> List[Assertion]:
        return [a for a in self.assertions if a.ioctl is not None]

    def distinct_assertions(self) -> List[Assertion]:
        seen = set()
        out = []
        for a in self.assertions:
            k = (a.condition, a.message, a.header.where if a.header else "")
            if k in seen:
                continue
            seen.add(k)
            out.append(a)
        return out

    @property
    def threads(self) -> List[int]:
        seen: List[int] = []
        for t in [a.task for a in self.assertions] + [e.tid for e in self.events]:
            if t is not None and t not in seen:
                seen.append(t)
        return seen

    def ioctl_calls(self) -> List[IoctlCall]:
        out = []
        for e in self.events:
            if e.syscall != "ioctl" or not e.regs:
                continue
            a = arch_of(e.arch) or X86_64   # a log without the arch's registers: x86-64's spelling
            _, r_fd, r_req, r_arg, r_res = a.rr_log_regs
            if e.state:
                st = "entry" if e.state.startswith("ENTER") else "exit"
            else:  # no event line: -ENOSYS in the result register is what the kernel shows at entry
                st = "entry" if e.regs.get(r_res) == (1 << 64) - 38 else "exit"
            fd = e.regs.get(r_fd) if st == "entry" or not a.result_overwrites_arg0 else None
            req, arg = e.regs.get(r_req), e.regs.get(r_arg)
            res = e.regs.get(r_res) if st == "exit" else None
            if res is not None and res >= 1 << 63:
                res -= 1 << 64
            if fd is not None:
                fd &= 0xFFFFFFFF
                if fd >= 1 << 31:
                    fd -= 1 << 32
            out.append(IoctlCall(e.tid, e.global_time, st, fd, req & 0xFFFFFFFF if req is not None else None,
                                 arg, res))
        return out

    def memfds(self) -> List[Tuple[str, TraceEvent]]:
        out = []
        for e in self.events:
            for m in e.maps:
                if m.name.startswith("/memfd:"):
                    out.append((m.name, e))
        return out


def regs_arch(regs: Dict[str, int]) -> Optional[str]:
    if any(r in regs for r in _AARCH64[:2]) or ("pstate" in regs and "rax" not in regs):
        return "aarch64"
    if any(r in regs for r in _X86_64):
        return "x86-64"
    if any(r in regs for r in _X86):
        return "x86"
    return None


# --------------------------------------------------------------------------------------------------
# Parsing

def _clean_lines(text: str) -> List[str]:
    text = _ANSI.sub("", text)
    out = []
    for ln in re.split(r"\r\n|\r|\n", text):
        out.append(ln[:MAX_LINE])
    return out


def _generalise(prefix: str) -> str:
    """A prefix's pattern: digits become \\d+, runs of spaces \\s+, the rest literal."""
    parts = re.split(r"(\d+|\s+)", prefix)
    out = []
    for p in parts:
        if not p:
            continue
        if p.isdigit():
            out.append(r"\d+")
        elif p.isspace():
            out.append(r"\s+")
        else:
            out.append(re.escape(p))
    return "".join(out)


def _prefixes(lines: List[str]) -> List[Tuple[str, "re.Pattern[str]"]]:
    found: Dict[str, "re.Pattern[str]"] = {}
    for ln in lines:
        m = _ANCHOR.search(ln, 0, 1024)
        if m is None:
            continue
        pre = ln[:m.start()]
        # rr's own indentation (" (task", " -> ") and the "->" of old notices are not a prefix
        pre = re.sub(r"\s*(?:->\s*)?$", "", pre)
        if not pre.strip() or len(pre) > 120 or pre.strip() in ("```", "`"):
            continue
        pat = _generalise(pre)
        if pat not in found:
            found[pat] = re.compile(pat)
            if len(found) >= 4:
                break
    return sorted(found.items(), key=lambda kv: -len(kv[0]))


def _num(s: Optional[str]) -> Optional[int]:
    if s is None or s in ("(nil)",):
        return 0 if s == "(nil)" else None
    try:
        return int(s, 16) if s.startswith("0x") else int(s)
    except ValueError:
        return None


def _split_command(text: str) -> List[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def parse(text: str) -> RrLog:
    """Everything rr printed in the text (other lines are skipped). Never raises on bad input."""
    log = RrLog()
    if text is None:
        return log
    if len(text) > MAX_CHARS:
        text = text[-MAX_CHARS:]
        log.truncated = True
    lines = _clean_lines(text)
    log.lines = len(lines)
    pres = _prefixes(lines)
    log.prefixes = [p for p, _ in pres]
    _Reader(log, lines, pres).read()
    _finish(log)
    return log


class _Reader:
    """One pass over a log's lines into an RrLog. Each part of rr's output has a method that is given a line
    (its text without the log's prefix) and says whether the line was its own; a line no part takes may be
    the user's rr command line."""

    def __init__(self, log: RrLog, lines: List[str], pres):
        self.log = log
        self.lines = lines
        self.pres = pres
        self.i = 0                                # the next line; the one just read is line i (1-based)
        self.event: Optional[TraceEvent] = None   # the trace-dump event being read
        self.in_backtrace = False
        self.pending_launch = 0                   # lines after "Launch gdb with" that may hold the command

    def read(self) -> None:
        while self.i < len(self.lines):
            s = self._next_text()
            if not s:
                continue
            if (self._backtrace(s) or self._header(s) or self._assertion_alone(s) or self._notice_alone(s)
                    or self._trace_directory(s) or self._launch(s) or self._trace_dump(s)):
                continue
            if self.log.record_argv is None and "rr " in s:   # the user's shell line, pasted with the log
                _record_line(self.log, s, self.lines, self.i)

    def _next_text(self) -> str:
        s = _strip(self.lines[self.i], self.pres)
        self.i += 1
        if s.startswith("```"):                   # a Markdown fence around pasted lines
            s = s.strip("`").strip()
        return s

    # --- rr's backtrace
    def _backtrace(self, s: str) -> bool:
        """`=== Start rr backtrace`, one `binary(symbol+off)[0xaddr]` a line, `=== End rr backtrace`."""
        if s.startswith("=== Start rr backtrace"):
            self.in_backtrace = True
            return True
        if s.startswith("=== End rr backtrace"):
            self.in_backtrace = False
            return True
        if self.in_backtrace:
            if s.endswith("]") and "[0x" in s[-40:]:
                if len(self.log.backtrace) < MAX_ITEMS:
                    self.log.backtrace.append(s)
                return True
            self.in_backtrace = False  # the backtrace was cut: this line is something else
        return False

    # --- headers, notices, assertions
    def _header(self, s: str) -> bool:
        """rr's `[FATAL file:line:function()]` and what it heads: a notice on its line (old releases: on the
        next line), else an assertion."""
        hm = _find_header(s)
        if hm is None:
            return False
        header = Header(hm.group(1), hm.group(2), int(hm.group(3)), hm.group(4), (hm.group(5) or "").strip() or None)
        if len(self.log.headers) < MAX_ASSERTIONS * 2:
            self.log.headers.append(header)
        rest = s[hm.end():].strip()
        notice = _notice_kind(rest)
        if notice is None and not rest and self.i < len(self.lines):
            notice = _notice_kind(_strip(self.lines[self.i], self.pres))
            if notice is not None:
                self.i += 1
        if notice is not None:
            self.log.notices.append(Notice(notice, header, self.i))
        else:
            self._assertion_after(header)
        return True

    def _assertion_after(self, header: Header) -> None:
        """The header's assertion, within its next 3 lines, after rr's `(task T (rec:R) at time N)` line."""
        task = None
        for j in range(self.i, min(len(self.lines), self.i + 3)):
            t = _strip(self.lines[j], self.pres)
            tm = _TASK.search(t, 0, 200)
            if tm is not None:
                task = tm
            am = _find_assertion(t)
            if am is not None:
                a, self.i = _assertion(am, self.lines, j + 1, self.pres)
                a.header = header
                if task is not None:
                    a.task, a.rec_tid, a.time = int(task.group(1)), int(task.group(2)), int(task.group(3))
                a.line_no = j + 1
                _add_assertion(self.log, a)
                return

    def _assertion_alone(self, s: str) -> bool:
        """An assertion without its header (pasted alone)."""
        am = _find_assertion(s)
        if am is None:
            return False
        a, self.i = _assertion(am, self.lines, self.i, self.pres)
        a.line_no = self.i
        _add_assertion(self.log, a)
        return True

    def _notice_alone(self, s: str) -> bool:
        notice = _notice_kind(s)
        if notice is None:
            return False
        self.log.notices.append(Notice(notice, None, self.i))
        return True

    # --- the trace directory, the debugger's launch command
    def _trace_directory(self, s: str) -> bool:
        """`rr: Saving execution to trace directory `DIR'.` (4.x: "Saving the execution of `EXE' to ..."),
        with the user's command line when a terminal wrapped it into this line."""
        sm = _SAVING.search(s) if "trace directory `" in s else None
        if sm is None:
            return False
        log = self.log
        log.trace_dir = sm.group(2)
        if sm.group(1) and not log.executable:
            log.executable, log.executable_source = sm.group(1), "rr's \"Saving the execution of\" line"
        if sm.start() > 0:
            head = re.sub(r"\s*rr:\s*$", "", s[:sm.start()]).rstrip()
            if log.record_argv is not None and log.record_line == self.i - 1:
                log.record_argv = None
                head = log.record_text + head
            if log.record_argv is None and head:
                _record_line(log, head, self.lines, self.i)
        return True

    def _launch(self, s: str) -> bool:
        """rr's "Launch debugger with" (older: "Launch gdb with", "Attach to the rr debug server") and, on
        the next few lines, the command and the port."""
        log = self.log
        if s.startswith(("Launch gdb with", "Launch debugger with", "Attach to the rr debug server")):
            self.pending_launch = 4
            if len(log.launches) < MAX_ITEMS:
                log.launches.append(Launch(s, [], None, None, self.i))
            return True
        if not (self.pending_launch and log.launches):
            return False
        self.pending_launch -= 1
        la = log.launches[-1]
        if s.startswith(("gdb ", "'gdb'", "gdb'", "lldb", "'lldb'")) or "gdb" in s.split(" ", 1)[0]:
            _launch_command(la, s)
            return True
        rm = _REMOTE.search(s)
        if rm:
            la.port = int(rm.group(1))
            return True
        if s.startswith("and attach to"):
            return True
        self.pending_launch = 0
        return False

    # --- the trace dump
    def _trace_dump(self, s: str) -> bool:
        """rr's "Tail of trace dump:": events in braces, each its event line, registers and records."""
        if s == "Tail of trace dump:":
            return True
        if s == "{":
            self.event = _new_event(self.log, None, self.i)
            return True
        if s == "}":
            self.event = None
            return True
        return self._event_line(s) or self._event_record(s) or self._event_registers(s)

    def _current_event(self) -> TraceEvent:
        """The event being read; a new one when a cut log shows its records without its opening line."""
        if self.event is None:
            self.event = _new_event(self.log, None, self.i)
        return self.event

    def _event_line(self, s: str) -> bool:
        """`real_time:F global_time:N, event:`KIND' (state:STATE) tid:T, ticks:K`: a new event once this
        one has its own."""
        gt = s.find("global_time:", 0, 64)
        em = _EVENT.search(s, max(0, gt - 32), gt + 400) if gt >= 0 else None
        if em is None:
            return False
        if self.event is None or self.event.kind:
            self.event = _new_event(self.log, None, self.i)
        ev = self.event
        ev.global_time = int(em.group(2))
        ev.kind = em.group(3)
        ev.state = em.group(4)
        ev.tid = int(em.group(5))
        ev.ticks = int(em.group(6)) if em.group(6) else None
        return True

    def _event_record(self, s: str) -> bool:
        """`{ map_file:... }` (a mapping), `{ syscall:... }` (a syscallbuf record), `{ tid:... }` (data)."""
        if s.startswith("{ map_file:"):
            mm = _MAP.match(s)
            if mm is not None:
                ev = self._current_event()
                if len(ev.maps) < MAX_ITEMS:
                    ev.maps.append(MapFile(mm.group(1), _num(mm.group(2)), _num(mm.group(3)), mm.group(4)))
            return True
        if s.startswith("{ syscall:"):
            bm = _BUF.match(s)
            if bm is not None:
                ev = self._current_event()
                if len(ev.buffered) < MAX_ITEMS:
                    ev.buffered.append(_buf_record(bm))
            return True
        if s.startswith("{ tid:") and _DATA.match(s):
            if self.event is not None:
                self.event.data_records += 1
            return True
        return False

    def _event_registers(self, s: str) -> bool:
        """The REGISTERS line (print_register_file_compact): a new event when this one has its own."""
        if not _looks_like_registers(s):
            return False
        regs = _registers(s)
        if self.event is None or self.event.regs:
            self.event = _new_event(self.log, None, self.i)
        self.event.regs = regs
        return True


def _launch_command(la: Launch, s: str) -> None:
    """The debugger command rr printed after "Launch debugger with": its argv, executable and port."""
    la.text = s
    la.argv = _split_command(s)
    la.executable = la.argv[-1] if len(la.argv) > 1 and not la.argv[-1].startswith("-") and \
        not la.argv[-1].startswith("target ") else None
    rm = _REMOTE.search(s)
    if rm:
        la.port = int(rm.group(1))


def _buf_record(bm: "re.Match[str]") -> BufRecord:
    ret = _num(bm.group(2)) or 0
    if ret >= 1 << 63:
        ret -= 1 << 64
    return BufRecord(bm.group(1), ret, _num(bm.group(3)) or 0, bool(bm.group(4)))


def _registers(s: str) -> Dict[str, int]:
    """`name:value` pairs of a register line (at most 80), each as an unsigned 64-bit value."""
    regs = {}
    for rm in _REG.finditer(s):
        if len(regs) >= 80:
            break
        v = _num(rm.group(2))
        if v is not None:
            regs[rm.group(1)] = v & 0xFFFFFFFFFFFFFFFF
    return regs


class _AssertMatch:
    def __init__(self, cond: str, msg: str):
        self._g = (cond, msg)

    def group(self, n: int) -> str:
        return self._g[n - 1]


def _find_assertion(s: str) -> Optional[_AssertMatch]:
    """`-> Assertion `COND' failed to hold. MSG` without a regular expression (COND may hold anything)."""
    j = s.find("' failed to hold.")
    if j < 0:
        return None
    i = s.rfind("Assertion `", 0, j)
    if i < 0 or "->" not in s[max(0, i - 6):i]:
        return None
    return _AssertMatch(s[i + len("Assertion `"):j], s[j + len("' failed to hold."):].strip())


def _find_header(s: str):
    for tag in ("[FATAL ", "[ERROR ", "[WARN "):
        k = s.find(tag, 0, 4096)
        if k >= 0:
            return _HEADER.match(s, k)
    return None


def _unprefix(line: str, pres) -> str:
    """The line without the log's prefix; a prefix that opens a quote (a harness that quotes each line of the
    process's output) takes the closing quote with it."""
    for pat, rx in pres:
        m = rx.match(line)
        if m is not None:
            rest = line[m.end():]
            if pat.endswith(('"', "'")) and rest.rstrip().endswith(pat[-1]):
                rest = rest.rstrip()[:-1]
            return rest
    return line


def _strip(line: str, pres) -> str:
    return _unprefix(line, pres).strip()


def _notice_kind(s: str) -> Optional[str]:
    if not s:
        return None
    for k, t in _NOTICE.items():
        if t in s[:200]:
            return k
    return None


def _assertion(am, lines: List[str], i: int, pres) -> Tuple[Assertion, int]:
    """The assertion whose `-> Assertion` match is am; its message may wrap onto following lines (a terminal
    or a paste that broke it): those lines join it until rr's next structure. Returns (assertion, next line)."""
    cond, msg = am.group(1), am.group(2).strip()
    parts = [msg]
    k = 0
    while i < len(lines) and k < MAX_CONTINUATION:
        t = _strip(lines[i], pres)
        if not t or _ANCHOR.search(t, 0, 1024) or t in ("{", "}") or t.startswith(("Tail of trace", "===", "Launch ", "[")) \
                or _notice_kind(t):
            break
        if not re.match(r"^(?:0x[0-9a-fA-F]|\d|[):;,]|type:|nr:|dir:|size:|addr:|Unknown ioctl|unknown ETHTOOL)", t):
            break
        parts.append(t)
        i += 1
        k += 1
    joined = "".join(p if (n == 0 or parts[n - 1].endswith(("(", ":"))) else " " + p for n, p in enumerate(parts))
    a = Assertion(None, cond, joined.strip())
    from .errors import UserError
    from .rr import parse_assertion
    em = re.search(r"Expected\s+(\w+)\s+for\s+'(\w+)'", joined)
    if em is not None:
        a.expected, a.syscall = em.group(1), em.group(2)
    if "Unknown ioctl" in joined or "unknown ETHTOOL" in joined:
        try:
            a.ioctl = parse_assertion(joined)
        except UserError:
            a.ioctl = None
    return a, i


def _add_assertion(log: RrLog, a: Assertion) -> None:
    if len(log.assertions) < MAX_ASSERTIONS:
        log.assertions.append(a)


def _new_event(log: RrLog, kind: Optional[str], line_no: int) -> TraceEvent:
    e = TraceEvent(None, kind or "", None, None, line_no=line_no)
    log.events.append(e)
    if len(log.events) > MAX_EVENTS:
        del log.events[0]
        log.events_dropped += 1
    return e


def _looks_like_registers(s: str) -> bool:
    head = s[:12]
    return head.startswith(("rax:", "eax:", "x[0]:")) and s.count(":") >= 8


def _record_line(log: RrLog, s: str, lines: List[str], i: int) -> None:
    """`[PROMPT] [path/]rr [rr options] record [record options] EXE ARGS` (or, before rr 4, `path/rr EXE ARGS`)."""
    if len(s) > 16384:
        return
    toks = s.split()
    for k, t in enumerate(toks[:40]):
        if t.rsplit("/", 1)[-1] != "rr":
            continue
        rest_toks = toks[k + 1:]
        j = 0
        while j < len(rest_toks) and j < 6 and rest_toks[j].startswith("-"):
            j += 1
        if j < len(rest_toks) and rest_toks[j] == "record":
            pos = _token_end(s, k + 1 + j)
            argv_head = toks[k:k + 1 + j + 1]
            rest = _split_command(s[pos:])
            break
        if "/" in t and rest_toks and "/" in rest_toks[0] and not rest_toks[0].startswith("-"):
            pos = _token_end(s, k)
            argv_head = [t]
            rest = _split_command(s[pos:])
            break
    else:
        return
    k = 0
    while k < len(rest) and rest[k].startswith("-") and rest[k] != "--":
        opt = rest[k].split("=", 1)[0]
        k += 1
        if "=" not in rest[k - 1] and opt in _RECORD_OPTS_WITH_VALUE:
            k += 1
    if k < len(rest) and rest[k] == "--":
        k += 1
    if k >= len(rest):
        return
    log.record_argv = (argv_head + rest)[:64]
    log.record_text, log.record_line = s, i
    log.executable = rest[k]
    log.arguments = rest[k + 1:k + 65]
    log.executable_source = "rr's command line"


def _token_end(s: str, n: int) -> int:
    """The index just past the n-th whitespace-separated token of s (0-based)."""
    for m_i, m in enumerate(re.finditer(r"\S+", s)):
        if m_i == n:
            return m.end()
    return len(s)


def _finish(log: RrLog) -> None:
    if log.executable and log.executable_source != "rr's command line" and "/" not in log.executable:
        for la in log.launches:  # old releases' "Saving the execution of `NAME'": the launch command has the path
            if la.executable and la.executable.rsplit("/", 1)[-1] == log.executable:
                log.executable, log.executable_source = la.executable, "rr's \"Launch gdb with\" command"
                break
    if not log.executable:
        for la in log.launches:
            if la.executable:
                log.executable, log.executable_source = la.executable, "rr's \"Launch gdb with\" command"
                break
    if not log.executable and log.trace_dir:
        base = log.trace_dir.rstrip("/").rsplit("/", 1)[-1]
        m = re.match(r"^(.+)-\d+$", base)
        if m:
            log.executable, log.executable_source = m.group(1), "the trace directory's name"
    log.release = infer_release(log)


# --------------------------------------------------------------------------------------------------
# The release

def lines_table() -> dict:
    from .datafiles import load
    return load("rr_lines.json")        # LINES_PATH


def _vkey(v: str) -> Tuple[int, ...]:
    """A tag's RRVersion; (-1,) (before every release) for anything that is not a release tag."""
    return RRVersion.from_tag(v) or (-1,)


def release_for(marker: str, line: int) -> Optional[dict]:
    for e in lines_table()["markers"][marker]["lines"]:
        if e["line"] == line:
            return e
    return None


def infer_release(log: RrLog) -> Optional[Release]:
    """From the expect_errno assertion's record_syscall.cc line, else log.cc's non-interactive notice."""
    cands: List[Tuple[str, Header]] = []
    for a in log.assertions:
        if a.header and a.header.file == "record_syscall.cc" and "expect_errno" in a.condition:
            cands.append(("expect_errno", a.header))
    for nt in log.notices:
        if nt.header and nt.header.file == "log.cc" and nt.kind in ("not_interactive", "bad_state"):
            cands.append((nt.kind, nt.header))
    for marker, h in cands:
        r = _release(marker, h)
        if r is not None:
            return r
    if cands:
        marker, h = cands[0]
        t = lines_table()
        return Release("not known", None, [], [], "%s:%d" % (h.file, h.line),
                       "line %d of %s is a line no rr commit up to %s %s had for this %s (a patched build?)" % (
                           h.line, h.file, t["rr"]["master_date"], t["rr"]["master_commit"],
                           "assertion" if marker == "expect_errno" else "notice"))
    return None


def _release(marker: str, h: Header) -> Optional[Release]:
    from .rr import table
    e = release_for(marker, h.line)
    if e is None:
        return None
    oldest = table().oldest
    rels, after = list(e["releases"]), list(e["builds_after"])
    src = "%s:%d" % (h.file, h.line)
    what = "its assertion `...expect_errno'" if marker == "expect_errno" else "its notice"
    if len(rels) == 1:
        v = _vkey(rels[0])
        text = "rr %s" % rels[0]
        how = "%s is where %s sits in rr %s's %s" % (src, what, rels[0], h.file)
        prior = [a for a in after if a not in rels and a != "before-first-release"]
        if prior:
            how += "; builds from git after %s had it too" % " or ".join(prior)
    elif rels:
        v = None
        text = "rr %s" % " or ".join(rels)
        how = "%s is where %s sits in rr %s" % (src, what, ", ".join(rels))
    else:
        base = [a for a in after if a != "before-first-release"]
        newest = max(base, key=_vkey) if base else None
        v = _vkey(newest) if newest else None
        text = ("a build of rr from git after %s" % newest) if newest else "a build of rr from git"
        how = "no release has %s at %s; commits after %s do" % (what, src, newest or "the first release")
    if v is not None and v < _vkey(oldest):
        how += " (older than %s, the oldest release whose ioctl handling is known here)" % oldest
        v = None
    return Release(text, v, rels, after, src, how)


# --------------------------------------------------------------------------------------------------
# What the log yields for the report and the advice

UDMABUF_REQUESTS = (0x40187542, 0x40087543)  # UDMABUF_CREATE, UDMABUF_CREATE_LIST (only /dev/udmabuf serves them)


def _ev_where(e: TraceEvent) -> str:
    bits = []
    if e.global_time is not None:
        bits.append("event %d" % e.global_time)
    if e.tid is not None:
        bits.append("tid %d" % e.tid)
    if e.kind:
        bits.append(e.kind + ((" " + e.state.split("_")[0].lower()) if e.state else ""))
    return ", ".join(bits) or "a cut event"


def ioctl_text(c: IoctlCall, arch: str = "x86-64") -> str:
    from .errnos import describe_result
    from .ioctl.names import names_for
    names = names_for(c.request, arch) if c.request is not None else []
    req = " or ".join(names) if names else ("0x%x" % c.request if c.request is not None else "?")
    fd = "fd %d" % c.fd if c.fd is not None else "fd ?"
    out = "ioctl(%s, %s)" % (fd, req)
    if c.state == "exit" and c.result is not None:
        out += " returned %s" % (c.result if c.result >= 0 else describe_result(c.result)[1] or c.result)
    elif c.state == "entry":
        out += " entered"
    where = []
    if c.global_time is not None:
        where.append("event %d" % c.global_time)
    if c.tid is not None:
        where.append("tid %d" % c.tid)
    return out + (" (%s)" % ", ".join(where) if where else "")


def evidence_items(log: RrLog) -> List[Tuple[str, str, str]]:
    """(kind, label, text) for the advice rules: what a live stop would show as memfd names, fd links and
    objfiles, as the trace dump shows them."""
    out: List[Tuple[str, str, str]] = []
    seen = set()
    for e in log.events:
        for m in e.maps:
            if m.name.startswith("/memfd:"):
                name = re.sub(r"^/memfd:(.*?)(?: \(deleted\))?$", r"\1", m.name)
                k = ("memfd_names", name)
                if k not in seen:
                    seen.add(k)
                    out.append(("memfd_names", "memfd %s mapped (rr's trace dump: map_file \"%s\", %s)" % (
                        name, m.name, _ev_where(e)), name))
            elif m.prot and "x" in m.prot and m.name.startswith("/"):
                k = ("objfiles", m.name)
                if k not in seen:
                    seen.add(k)
                    out.append(("objfiles", "%s mapped executable (rr's trace dump, %s)" % (m.name, _ev_where(e)),
                                m.name))
    for c in log.ioctl_calls():
        if c.request in UDMABUF_REQUESTS and c.state == "exit" and c.result is not None and c.result >= 0:
            k = ("fd_links", "/dev/udmabuf", c.fd)
            if k not in seen:
                seen.add(k)
                out.append(("fd_links", "%s: fd %s is /dev/udmabuf, the only device that serves it" % (
                    ioctl_text(c, log.arch or "x86-64"), c.fd if c.fd is not None else "?"), "/dev/udmabuf"))
    return out[:64]


def failing_call(log: RrLog, a: Assertion) -> Optional[IoctlCall]:
    """The trace dump's entry of the ioctl the assertion is about (same thread and request), if shown."""
    if a.ioctl is None:
        return None
    for c in reversed(log.ioctl_calls()):
        if c.request == a.ioctl.request and (a.task is None or c.tid in (None, a.task)) and c.state == "entry":
            return c
    return None


NOT_INTERACTIVE = ("rr found no terminal on its standard error, so it did not start its emergency debugger (\"session "
                   "doesn't look interactive\"): the recording ended here. To get the debugger, run rr record in a "
                   "terminal, or add -F (--force-things): %s; rr then prints a \"Launch debugger with\" gdb command "
                   "(source gdbinit.py in that gdb and run dmabuf-why). `python3 -m gdb_rr_dmabuf check` reproduces "
                   "the stop without rr.")
BAD_STATE = ("rr did not start its emergency debugger because the failing task was already in a bad state (\"task is "
             "in a bad state\", it had no thread group: exiting); no debugger can attach to this stop. "
             "`python3 -m gdb_rr_dmabuf check` reproduces the stop without rr.")
STUB_FAILED = ("rr printed \"Launch debugger with\" %d times: its own gdb server asserted while serving gdb (%s), which "
               "starts a second emergency debugger on another port while the first gdb waits for a reply that never "
               "comes. rr's stub reads every thread's registers (since rr 5.8.0 on gdb's first packet) and asserts on a "
               "thread blocked in a system call, which every Go program has; it cannot serve this session. Quit both "
               "gdbs; `python3 -m gdb_rr_dmabuf check` reproduces the stop without rr, and this log's facts are "
               "above.")


def record_command(log: RrLog, extra: str = "") -> str:
    exe = log.executable or "./prog"
    if "/" not in exe:
        exe = "./" + exe
    return " ".join(["rr record" + (" " + extra if extra else ""), shlex.quote(exe)] +
                    [shlex.quote(a) for a in log.arguments])


def is_regs_assertion(a: Assertion) -> bool:
    """Task::regs() on a task that is not stopped (`is_stopped` before 5.x, `stopped_or_unexpected_exit()`)."""
    return "stopped_or_unexpected_exit" in a.condition or a.condition.strip() == "is_stopped" or \
        (a.header is not None and a.header.function == "regs")


def stub_assertions(log: RrLog) -> List[Assertion]:
    """Assertions rr hit while its emergency gdb server served gdb: after a "Launch debugger with", or in the
    server's own files."""
    first = min((la.line_no for la in log.launches), default=None)
    return [a for a in log.assertions
            if (first is not None and a.line_no > first and is_regs_assertion(a)) or
            (a.header is not None and a.header.file in ("GdbServer.cc", "GdbServerConnection.cc", "GdbConnection.cc"))]


def notes(log: RrLog, primary: Optional[Assertion]) -> List[str]:
    """One line each: the rr release, what the trace dump shows, the notices, the other assertions."""
    out: List[str] = []
    if log.release is not None:
        r = log.release
        out.append("rr release: %s, inferred from the log's %s (%s)" % (r.text, r.source, r.how))
    if log.executable:
        out.append("program: %s (from %s)" % (" ".join([log.executable] + [shlex.quote(x) for x in log.arguments]),
                                             log.executable_source))
    if log.trace_dir:
        out.append("trace directory: %s" % log.trace_dir)
    if log.events:
        arch = log.arch
        out.append("rr's trace dump: %d event%s%s, threads %s" % (
            len(log.events), "" if len(log.events) == 1 else "s", (", %s registers" % arch) if arch else "",
            ", ".join(str(t) for t in log.threads[:12]) or "?"))
    calls = log.ioctl_calls()
    if primary is not None:
        fc = failing_call(log, primary)
        if fc is not None and fc.fd is not None:
            out.append("the failing call's entry is in rr's trace dump: %s" % ioctl_text(fc, log.arch or "x86-64"))
    for c in calls[-6:]:
        if primary is not None and primary.ioctl is not None and c.request == primary.ioctl.request \
                and c.state == "entry":
            continue
        out.append("earlier in rr's trace dump: %s" % ioctl_text(c, log.arch or "x86-64"))
    for name, e in log.memfds()[:4]:
        out.append("rr's trace dump: %s mapped (%s)" % (name, _ev_where(e)))
    nbuf = sum(1 for e in log.events for b in e.buffered if b.syscall == "ioctl")
    if nbuf:
        out.append("rr's trace dump: %d ioctl%s through rr's syscall buffer (requests not shown)" % (
            nbuf, "" if nbuf == 1 else "s"))
    kinds = [nt.kind for nt in log.notices]
    if "not_interactive" in kinds:
        out.append(NOT_INTERACTIVE % record_command(log, "-F"))
    if "bad_state" in kinds:
        out.append(BAD_STATE)
    if log.launches and not kinds:
        la = log.launches[-1]
        cmd = la.text if la.argv else la.text
        if la.port and "target" not in cmd:
            cmd += ", then `target remote :%d`" % la.port
        out.append("rr started its emergency debugger and printed how to connect: %s; in that gdb, `source "
                   "gdbinit.py` of gdb-rr-dmabuf and run `dmabuf-why` (the argument's fields) and `go-callers` (who "
                   "made the call). Any resume (continue, step, detach) ends the recording." % cmd)
    stub = stub_assertions(log)
    if len(log.launches) >= 2 or stub:
        out.append(STUB_FAILED % (max(len(log.launches), 2), stub[0].summary() if stub else "a second assertion"))
    for a in log.distinct_assertions():
        if a is primary or (primary is not None and a.key == primary.key):
            continue
        if a.ioctl is not None:
            continue  # explained in full below the main report
        out.append("the log also holds %s: %s" % (a.summary(), explain_other(a)))
    return out


def explain_other(a: Assertion) -> str:
    """One sentence on an assertion that is not rr's "Unknown ioctl"."""
    if a.syscall and a.expected:
        if "unsupported by rr" in a.message or a.expected == "ENOSYS":
            return ("rr does not support the %s system call (it expected %s); the program must avoid it under rr "
                    "(rr sets RUNNING_UNDER_RR=1), or a newer rr may support it" % (a.syscall, a.expected))
        return ("rr expected %s from %s (a request or option of it that rr does not know) and the kernel accepted "
                "it; a newer rr may handle it, else the program must avoid it under rr" % (a.expected, a.syscall))
    if is_regs_assertion(a):
        return ("rr read the registers of a task that was not stopped (Task::regs(); rr issues #1878, #3741): a "
                "failure inside rr, not the program's; with a \"Launch debugger with\" before it, rr's gdb server hit "
                "it while serving gdb; report it to rr (https://github.com/rr-debugger/rr/issues) with the whole log")
    return ("an internal consistency check of rr failed, not an ioctl rr does not know: report it to rr "
            "(https://github.com/rr-debugger/rr/issues) with the whole log")


def no_ioctl_error(log: RrLog):
    """The one-line UserError for a log that holds no "Unknown ioctl" assertion."""
    from .errors import UserError
    if log.assertions:
        a = log.assertions[0]
        more = len(log.distinct_assertions()) - 1
        return UserError("rr's log holds no \"Unknown ioctl\" assertion: it holds %s%s" % (
            a.summary(), (" (and %d more)" % more) if more > 0 else ""),
            explain_other(a) + "; dmabuf-why explains rr's \"Unknown ioctl\" aborts only")
    bits = []
    if log.events:
        bits.append("%d trace-dump event%s" % (len(log.events), "" if len(log.events) == 1 else "s"))
    if log.notices:
        bits.append("rr's notice \"%s\"" % _NOTICE[log.notices[0].kind])
    if log.launches:
        bits.append("a \"Launch debugger with\" command")
    if log.backtrace:
        bits.append("rr's backtrace (%d frames)" % len(log.backtrace))
    if bits:
        return UserError("rr's log holds no assertion (it holds %s)" % ", ".join(bits),
                         "paste the lines from rr's [FATAL ...] header down to its assertion too")
    return None


def log_json(log: RrLog, primary: Optional[Assertion] = None) -> Dict[str, Any]:
    r = log.release
    calls = log.ioctl_calls()
    return {
        "release": ({"text": r.text, "version": str(r.version) if r.version else None,
                     "releases": r.releases, "builds_after": r.builds_after, "source": r.source, "how": r.how,
                     "inferred": True} if r else None),
        "arch": log.arch,
        "executable": log.executable,
        "arguments": log.arguments,
        "executable_source": log.executable_source,
        "record_command": log.record_argv,
        "trace_dir": log.trace_dir,
        "threads": log.threads,
        "assertions": [{"file": a.header.file if a.header else None, "line": a.header.line if a.header else None,
                        "function": a.header.function if a.header else None, "condition": a.condition,
                        "message": a.message, "task": a.task, "time": a.time,
                        "request": a.ioctl.request if a.ioctl is not None else None,
                        "primary": primary is not None and a.key == primary.key}
                       for a in log.distinct_assertions()],
        "notices": [nt.kind for nt in log.notices],
        "launches": [{"command": la.text, "port": la.port, "executable": la.executable} for la in log.launches],
        "events": len(log.events),
        "ioctls": [{"tid": c.tid, "time": c.global_time, "state": c.state, "fd": c.fd, "request": c.request,
                    "result": c.result} for c in calls],
        "memfds": [name for name, _ in log.memfds()],
        "backtrace": len(log.backtrace),
        "prefixes": log.prefixes,
    }
