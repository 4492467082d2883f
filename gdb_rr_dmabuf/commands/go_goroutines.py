"""go-goroutines: every goroutine at the stop, read from memory alone."""
from __future__ import annotations

from ..limits import MAX_DEPTH
from .base import Command

DESCRIPTION = """List every goroutine of the stopped Go program from its memory (runtime.allgs): id, state
(Go's own wait reasons), how long it has waited when the runtime recorded it, locked to a thread, the
thread (LWP) it runs on, its innermost frame in the program's own code, and who created it. Works on
stripped binaries, cores and remote stubs. Only the selected thread's registers are read: a goroutine
running on another thread is shown from memory (its M and LWP) and its stack is not read.

examples:
  go-goroutines                every goroutine (not dead ones)
  go-goroutines --running      only running ones and ones in a system call or cgo call
  go-goroutines --own          only ones with a frame in the program's own code
  go-goroutines 17             goroutine 17 with its whole stack
  go-goroutines --stacks       every goroutine with its whole stack
  go-goroutines --json         one JSON object (see the README)"""


class GoGoroutines(Command):
    NAME = "go-goroutines"

    def build_parser(self):
        p = self.new_parser(DESCRIPTION)
        p.add_argument("id", metavar="ID", nargs="?", type=int, help="one goroutine, with its whole stack")
        p.add_argument("--running", action="store_true", help="only running goroutines and ones in a system or cgo call")
        p.add_argument("--own", action="store_true",
                       help="only goroutines with a frame in the program's own code (or started there)")
        p.add_argument("--all", action="store_true", help="dead and idle goroutines too")
        p.add_argument("--stacks", action="store_true", help="every goroutine with its whole stack")
        p.add_argument("--depth", metavar="N", type=int, default=64, help="at most N frames a goroutine (default 64)")
        p.add_argument("--limit", metavar="N", type=int, default=1 << 20,
                       help="read at most N entries of runtime.allgs (default %d)" % (1 << 20))
        return p

    def run(self, args) -> str:
        import time
        from ..errors import UserError
        from .gdbtarget import GdbTarget
        if args.depth < 1 or args.depth > MAX_DEPTH:
            raise UserError("--depth must be between 1 and %d" % MAX_DEPTH, "e.g. --depth 200")
        if args.limit < 1:
            raise UserError("--limit must be at least 1", "e.g. --limit 100000")
        from .. import render
        from ..go_runtime.allgs import analyse_goroutines
        target = GdbTarget()
        # The runtime's clock is CLOCK_MONOTONIC: the same as ours only for a process on this machine.
        now = time.monotonic_ns() if target.pid is not None and target.kind == "live" else None
        rep = analyse_goroutines(target, depth=args.depth, goid=args.id, running=args.running, own=args.own,
                                 include_dead=args.all, limit=args.limit, now_ns=now,
                                 stacks=args.stacks)
        if args.json:
            from ..report import goroutines_json
            return render.to_json_rows(goroutines_json(rep, frames=args.id is not None or args.stacks), "goroutines")
        return render.goroutines_text(rep, self.style(args), one=args.id is not None, stacks=args.stacks)
