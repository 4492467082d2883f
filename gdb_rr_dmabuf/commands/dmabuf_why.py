"""dmabuf-why: decode the ioctl rr stopped on, say why rr stopped and what to do."""
from __future__ import annotations

import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing costs gdb's start-up 5 ms; the annotations here are never evaluated
    from typing import Dict, List, Tuple

from ..errors import NoProcessError, NotInIoctl, UserError
from .base import Command

DESCRIPTION = """Decode the pending ioctl of the selected thread (rr's emergency stop: after the call
returned), name its request and argument struct with in/out fields, explain why rr stopped and what to do.

examples:
  dmabuf-why                              the selected thread, stopped in ioctl
  dmabuf-why --request 0xc0086202         a number (or name) alone, no process needed
  dmabuf-why --from-log 'Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); Unknown ioctl(0x...): ...'
                                          rr's text as pasted: everything after --from-log is the text
  dmabuf-why --from-log-file rr.log       rr's whole output from a file (- reads standard input): every
                                          assertion, the trace dump's evidence, the rr release, the program
  dmabuf-why --scan-threads               list the threads stopped in an ioctl (reads EVERY thread: not
                                          at rr's emergency stop, where that can end the session)
  dmabuf-why --json                       one JSON object (see the README)"""


class DmabufWhy(Command):
    NAME = "dmabuf-why"
    _after_log_text = None   # options_after_log_text(self.parser), made on the first --from-log

    def build_parser(self):
        from .. import options
        p = self.new_parser(DESCRIPTION)
        p.add_argument("--request", metavar="VALUE", help="decode this request number or name (no process needed)")
        p.add_argument("--from-log", metavar="TEXT", help="rr's assertion text exactly as rr printed it (quotes and "
                       "backticks are fine): everything after --from-log is the text, so put other options before "
                       "it; with a process, also read the argument at its addr")
        p.add_argument("--from-log-file", metavar="FILE", help="read rr's text from FILE (- for standard input)")
        options.add(p, "thread")
        p.add_argument("--scan-threads", action="store_true",
                       help="list the threads whose pending system call is an ioctl. This reads the registers of "
                       "EVERY thread: at rr's emergency stop, rr asserts when gdb reads a thread that is blocked in "
                       "a system call (every Go program has some) and the session ends (gdb then waits for a reply "
                       "that never comes). Use it with gdbserver, a native process or a core; at rr's stop the "
                       "thread gdb selected is the one that made the call")
        p.add_argument("--at", choices=("entry", "exit"), help="say whether this is the syscall's entry or exit stop "
                       "(x86-64 tells by itself; aarch64 assumes exit)")
        options.add(p, "rr_version")
        options.add(p, "rules")
        return p

    def parse(self, argument: str):
        """Everything after `--from-log` is rr's text as pasted (rr's line has 'ioctl' in single quotes and
        a backtick, which gdb's argument splitting cannot take); options go before it. One pair of quotes
        around the whole text is dropped, and options after that closing quote are still read."""
        import gdb  # type: ignore
        m = _FROM_LOG.search(argument or "")
        if m is None:
            return self.parser.parse_args(gdb.string_to_argv(argument))
        if self._after_log_text is None:
            self._after_log_text = options_after_log_text(self.parser)
        text, tail = _split_log_text(argument[m.end():], gdb.string_to_argv, self._after_log_text)
        args = self.parser.parse_args(gdb.string_to_argv(argument[:m.start()]) + tail)
        if args.from_log is not None:
            raise UserError("--from-log appears twice", "give rr's text once, after the other options")
        if not text.strip():
            raise UserError("--from-log needs rr's text", "paste rr's line after it, e.g. dmabuf-why --from-log "
                            "'Expected EINVAL for 'ioctl' but got result 0 ...; Unknown ioctl(0x...): ...'")
        args.from_log = text
        return args

    def run(self, args) -> str:
        from .gdbtarget import GdbTarget
        from .. import evidence, render, why  # here, not at start-up: gdb's start-up time matters
        if args.scan_threads:
            return _scan_threads(args)
        if args.from_log is not None and args.from_log_file is not None:
            raise UserError("--from-log and --from-log-file exclude each other", "give one of them")
        if args.from_log_file is not None:
            args.from_log = _read_log_file(args.from_log_file)
        if args.request is not None and args.from_log is not None:
            raise UserError("--request and --from-log exclude each other", "give one of them")
        if args.request is not None:
            rep = why.analyse_request(args.request, _arch_or_default())
            rep.suggestions = evidence.advise_report(rep, args.rr_version, args.rules)
        elif args.from_log is not None:
            try:
                target = GdbTarget(args.thread)
            except NoProcessError:
                target = None
            rep = why.analyse_log(args.from_log, target)
            rep.suggestions = evidence.advise_report(rep, args.rr_version, args.rules)
        else:
            target = GdbTarget(args.thread)
            try:
                rep, callers_rep, sugg, notes = evidence.analyse(
                    target, want_why=True, want_callers=False, at=args.at, rr_version=args.rr_version,
                    rules_file=args.rules)
            except NotInIoctl as e:
                if args.thread is None:
                    _point_at_other_threads(e)
                raise
            rep.suggestions = sugg
            rep.notes.extend(notes)
            if callers_rep is not None and callers_rep.caller is not None:
                c = callers_rep.caller
                rep.notes.append("Go caller: %s at %s:%s (go-callers shows the whole stack)" % (c.function, c.file, c.line))
        if args.json:
            from ..report import why_json
            return render.to_json(why_json(rep))
        return render.why_text(rep, self.style(args))


_FROM_LOG = re.compile(r"(?:^|(?<=\s))--from-log(?:=|\s+|$)")
MAX_LOG_FILE = 64 << 20  # rr's output in a CI log; rrlog.parse is linear and capped
# The options that say what to decode (one at a time: run() rejects two), and help: none of them follows rr's
# text as an option. Every other option of the parser may (options_after_log_text).
_SOURCES = ("-h", "--help", "--request", "--from-log", "--from-log-file", "--scan-threads")


class LogTextOptions:
    """The options that may follow rr's text after --from-log, from the parser: how many values each takes,
    and the pattern of one at the very end of unquoted text."""

    def __init__(self, values: Dict[str, int]):
        self.values = values
        flags = [re.escape(o) for o, n in values.items() if n == 0]
        with_value = [re.escape(o) + r"(?:=|\s+)[^\s'\"]+" for o, n in values.items() if n]
        self.trailing = re.compile(r"\s(?:%s)\s*$" % "|".join(flags + with_value))


def options_after_log_text(parser) -> LogTextOptions:
    """From the parser's actions (argparse lists them only in _actions): a flag takes no value, the rest one."""
    return LogTextOptions({o: 0 if a.nargs == 0 else 1 for a in parser._actions for o in a.option_strings
                           if o not in _SOURCES})


def _split_log_text(raw: str, argv, options: LogTextOptions) -> Tuple[str, List[str]]:
    """(rr's text, options written after it). When the text starts with a quote and, after the last same
    quote, only known options follow, those are options and the quotes are dropped."""
    s = raw.strip()
    if len(s) >= 2 and s[0] in "'\"":
        q = s[0]
        last = s.rfind(q)
        if last > 0:
            inner, rest = s[1:last], s[last + 1:]
            if not rest.strip():
                return inner, []
            if rest[0].isspace():
                try:
                    toks = argv(rest)
                except Exception:
                    toks = None
                if toks and _only_options(toks, options.values):
                    return inner, toks
    tail: List[str] = []
    while True:  # unquoted text: options at its very end are still options (rr's text never ends so)
        m = options.trailing.search(s)
        if m is None:
            break
        flag = m.group(0).strip()
        tail[:0] = [flag] if options.values.get(flag) == 0 else flag.split(None, 1)
        s = s[:m.start()].rstrip()
    return s, [t.strip() for t in tail]


def _only_options(toks: List[str], values: Dict[str, int]) -> bool:
    i = 0
    while i < len(toks):
        n = values.get(toks[i].split("=", 1)[0])
        if n is None:
            return False
        i += 1 + (n if "=" not in toks[i] else 0)
    return i == len(toks)


def _read_log_file(path: str) -> str:
    import sys
    try:
        if path == "-":
            data = sys.stdin.read(MAX_LOG_FILE + 1)
        else:
            with open(os.path.expanduser(path), encoding="utf-8", errors="replace") as f:
                data = f.read(MAX_LOG_FILE + 1)
    except OSError as e:
        raise UserError("--from-log-file %s: cannot read it (%s)" % (path, e.strerror or e),
                        "give the file with rr's output, or - for standard input")
    except (ValueError, AttributeError) as e:  # no usable standard input inside gdb
        raise UserError("--from-log-file -: cannot read standard input (%s)" % e,
                        "give a file, or run gdb with rr's text on its standard input")
    if len(data) > MAX_LOG_FILE:
        raise UserError("--from-log-file %s: more than %d characters" % (path, MAX_LOG_FILE),
                        "give only the part of the log with rr's output (its [FATAL ...] header to its end)")
    return data


def _point_at_other_threads(e: UserError) -> None:
    """The selected thread is not in an ioctl: say how to reach the one that is, without reading any other
    thread ourselves (rr's emergency gdbserver can end the session when gdb does)."""
    e.todo = ("at rr's stop gdb selects the thread that made the call; otherwise `dmabuf-why --thread N` "
              "(`dmabuf-why --scan-threads` lists the threads in an ioctl, but reads every thread: not at rr's "
              "stop)")
    e.args = (e.what + ": " + e.todo,)


def _scan_threads(args) -> str:
    """dmabuf-why --scan-threads: the threads in an ioctl, after saying what the scan touches."""
    import json
    import gdb  # type: ignore
    from ..errors import NoProcessError
    from ..ioctl.names import names_for
    from ..target import normalize_arch
    from .gdbtarget import SCAN_WARNING, scan_ioctl_threads
    if args.thread is not None or args.request is not None or args.from_log is not None \
            or args.from_log_file is not None:
        raise UserError("--scan-threads stands alone", "then `dmabuf-why --thread N` for the thread it names")
    inferior = gdb.selected_inferior()
    if not inferior.is_valid() or inferior.pid == 0 or gdb.selected_thread() is None:
        raise NoProcessError()
    try:
        arch = normalize_arch(gdb.newest_frame().architecture().name())
    except gdb.error:
        arch = "x86-64"
    found = scan_ioctl_threads()
    rows = [{"thread": n, "lwp": lwp, "request": "0x%08x" % req, "names": names_for(req, arch)}
            for n, lwp, req in found]
    if args.json:
        return json.dumps({"scan": {"warning": SCAN_WARNING, "threads": rows}})
    lines = ["--scan-threads %s" % SCAN_WARNING]
    if not rows:
        lines.append("no thread is in an ioctl")
    for r in rows:
        lines.append("thread %d (LWP %d) is in ioctl %s: `dmabuf-why --thread %d`"
                     % (r["thread"], r["lwp"], " or ".join(r["names"]) or r["request"], r["thread"]))
    return "\n".join(lines)


def _arch_or_default() -> str:
    import gdb  # type: ignore
    from ..target import normalize_arch
    try:
        return normalize_arch(gdb.newest_frame().architecture().name())
    except gdb.error:
        return "x86-64"
