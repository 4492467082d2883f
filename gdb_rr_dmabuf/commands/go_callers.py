"""go-callers: the Go goroutine, package and module behind the stopped thread."""
from __future__ import annotations

from ..limits import DEFAULT_DEPTH, MAX_DEPTH
from .base import Command

DESCRIPTION = """Find the Go goroutine behind the selected thread (TLS/g register, g0 -> m.curg across
cgo), unwind its Go stack from the binary's pclntab (inlined frames included, stripped binaries too),
show the native frames above it, "created by", and the calling package with its module and version.

examples:
  go-callers                   the selected thread
  go-callers --source 3        with 3 lines of source around the caller
  go-callers --json            one JSON object (see the README)"""


class GoCallers(Command):
    NAME = "go-callers"

    def build_parser(self):
        from .. import options
        p = self.new_parser(DESCRIPTION)
        options.add(p, "thread")
        p.add_argument("--depth", metavar="N", type=int, default=DEFAULT_DEPTH,
                       help="at most N Go frames (default %d)" % DEFAULT_DEPTH)
        p.add_argument("--source", metavar="N", type=int, default=0,
                       help="show N lines of source around the caller when the file exists here")
        options.add(p, "rr_version", help="the rr release that stopped (for the advice)")  # no log here
        options.add(p, "rules")
        return p

    def run(self, args) -> str:
        from .gdbtarget import GdbTarget
        from ..errors import UserError
        if args.depth < 1 or args.depth > MAX_DEPTH:
            raise UserError("--depth must be between 1 and %d" % MAX_DEPTH, "e.g. --depth 200")
        from .. import evidence, render
        self.require_pyelftools()
        target = GdbTarget(args.thread)
        why_rep, rep, sugg, notes = evidence.analyse(target, want_why=False, want_callers=True, depth=args.depth,
                                                     rr_version=args.rr_version, rules_file=args.rules)
        rep.suggestions = sugg
        rep.notes = list(rep.notes) + [n for n in notes if n not in rep.notes]  # keep the analysis' own notes
        if why_rep is not None:
            rep.notes.insert(0, "the thread is in ioctl %s (dmabuf-why decodes it)" % why_rep.name)
        if args.json:
            from ..report import callers_json
            return render.to_json(callers_json(rep))
        return render.callers_text(rep, self.style(args), source_lines=max(0, args.source))
