"""`python3 -m gdb_rr_dmabuf explain [FILE]`: what `dmabuf-why --from-log` says, with no debugger.

Reads rr's output (a CI log where no debugger ran, or the lines rr printed) from FILE or standard
input, parses all of it (rrlog.py: every assertion, the trace dump, rr's command line, its notices, the
release that printed it) and prints the same report as `dmabuf-why --from-log-file` in gdb with no
process: the same analysis (why.analyse_log) and the same advice (evidence.advise_report), text or
--json. Exit status: 0 with a report, 1 when the text holds no ioctl assertion or cannot be read (one
line on stderr: what is wrong, naming the assertion it does hold: what to do), 2 for bad usage.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

MAX_INPUT = 256 << 20  # a CI log larger than this is read up to here (the assertion comes near rr's end)

DESCRIPTION = """Explain rr's "Unknown ioctl" abort from its log text, without gdb: what the ioctl is, why rr
stopped, which rr release printed the log and which records the call, what rr's trace dump shows, and what
to do with the log's own program (the report of dmabuf-why --from-log-file).

examples:
  rr record ./prog 2>&1 | tee rr.log;  python3 -m gdb_rr_dmabuf explain rr.log
  python3 -m gdb_rr_dmabuf explain --json < ci-job.log"""


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage("%s: %s: see `%s --help`" % (self.prog, message, self.prog))


def _prog() -> str:
    """How the user called us: the installed command, or the module."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "gdb-rr-dmabuf" if name == "gdb-rr-dmabuf" else "python3 -m gdb_rr_dmabuf"


def build_parser() -> argparse.ArgumentParser:
    from . import options
    p = _Parser(prog=_prog(), description="gdb-rr-dmabuf without gdb.")
    sub = p.add_subparsers(dest="command", metavar="{explain,check}")
    e = sub.add_parser("explain", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       help="explain rr's Unknown ioctl abort from its log text")
    e.error = p.error  # one line for usage errors of the subcommand too
    e.add_argument("file", nargs="?", default="-", metavar="FILE",
                   help="rr's output or a CI log holding it (default: standard input)")
    # dmabuf-why's options (options.py), in this order; --json and --color say what differs without gdb
    options.add(e, "json", help="print one JSON object (dmabuf-why --json's, see the README)")
    options.add(e, "verbose")
    options.add(e, "rr_version")
    options.add(e, "rules")
    options.add(e, "color", help="colour the output (auto: on a terminal with NO_COLOR unset)")
    _add_check(sub, p)
    return p


def _add_check(sub, p) -> None:
    from . import options
    from .check import DESCRIPTION as CHECK_DESCRIPTION
    c = sub.add_parser("check", description=CHECK_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       help="run a program as rr records it and stop where rr would abort (no rr needed)")
    c.error = p.error
    options.add(c, "rr_version", help="the rr release to check against (default: $GDB_RR_DMABUF_RR_VERSION, else "
                "`rr --version` when rr is on PATH, else the newest release)")
    c.add_argument("--all", action="store_true", help="do not stop: list every distinct request some rr release "
                   "aborts on, and the oldest release that records the whole run")
    c.add_argument("--verify", action="store_true", help="re-run the program with each environment setting the "
                   "advice names: is the abort gone, how did the program end")
    options.add(c, "json", help="print one JSON object (the program's stdout goes to stderr)")
    options.add(c, "rules")
    c.add_argument("--timeout", type=float, metavar="S", help="kill the program after S seconds (exit status 2 "
                   "when no abort was seen by then)")
    c.add_argument("--until", metavar="CMD", help="for a program that runs until closed (a GUI, a server): end each "
                   "run with no abort once the shell command CMD succeeds (run every %s s, one at a time; $CHECK_PID "
                   "is the program's pid), e.g. once its window is mapped" % 0.25)
    c.add_argument("program", nargs=argparse.REMAINDER, metavar="-- PROG [ARGS...] | -- rr record [OPTIONS] PROG [ARGS...]")


def _read(path: str) -> str:
    from .errors import UserError
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT)
    except OSError as e:
        raise UserError("cannot read %s (%s)" % (path, e.strerror or e),
                        "give the file with rr's output, or pipe it in")
    return data.decode("utf-8", "replace")


def explain(args) -> str:
    from . import evidence, render, why
    from .report import why_json
    rep = why.analyse_log(_read(args.file), None)
    rep.suggestions = evidence.advise_report(rep, args.rr_version, args.rules)
    if args.json:
        return render.to_json(why_json(rep))
    terminal = sys.stdout.isatty()
    force = {"always": True, "never": False}.get(args.color)
    width = None
    if terminal:
        import shutil
        width = shutil.get_terminal_size().columns
    style = render.Style(render.colour_wanted(terminal, True, force), width=width, verbose=args.verbose)
    return render.why_text(rep, style)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _Usage as e:
        sys.stderr.write("%s\n" % e)
        return 2
    if args.command == "check":
        if args.program and args.program[0] == "--":
            args.program = args.program[1:]
        from . import check
        # check's exit status: 0 rr would record the run (as far as ioctls go), 1 it would abort, 2 usage or
        # the program could not be run (also: killed at --timeout before any abort, or interrupted).
        return _guarded("check", lambda: check.check_command(args), 2,
                        (lambda e: {"tool": "check", "error": {"what": e.what, "todo": e.todo}, "exit_status": 2})
                        if args.json else None, say_with_json=True)
    if args.command != "explain":
        parser.print_help()
        return 2
    return _guarded("explain", lambda: (explain(args), 0), 1,
                    (lambda e: {"error": {"what": e.what, "todo": e.todo}}) if getattr(args, "json", False) else None)


def _guarded(name: str, run, failed: int, json_error=None, say_with_json: bool = False) -> int:
    """Run a subcommand: its text on stdout, its status. A UserError is one line on stderr (with --json,
    json_error(e) on stdout instead, or as well with say_with_json); ^C and a bug of ours are one line each.
    Each failure returns `failed`."""
    from .errors import UserError
    try:
        text, status = run()
    except UserError as e:
        if json_error is not None:
            import json
            sys.stdout.write(json.dumps(json_error(e)) + "\n")
        if json_error is None or say_with_json:
            sys.stderr.write("%s: %s\n" % (name, e))
        return failed
    except KeyboardInterrupt:
        sys.stderr.write("%s: interrupted\n" % name)
        return failed
    except Exception as e:  # a bug of ours: one line, traceback only on request
        if os.environ.get("GDB_RR_DMABUF_DEBUG"):
            raise
        sys.stderr.write("%s: internal error: %s: %s: please report it with this line "
                         "(GDB_RR_DMABUF_DEBUG=1 shows the traceback)\n" % (name, type(e).__name__, e))
        return failed
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
