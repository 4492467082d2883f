"""dmabuf-why: decode the ioctl rr stopped on, say why rr stopped and what to do."""
from __future__ import annotations

from ..errors import NoProcessError, UserError
from .base import Command

DESCRIPTION = """Decode the pending ioctl of the selected thread (rr's emergency stop: after the call
returned), name its request and argument struct with in/out fields, explain why rr stopped and what to do.

examples:
  dmabuf-why                              the selected thread, stopped in ioctl
  dmabuf-why --request 0xc0086202         a number (or name) alone, no process needed
  dmabuf-why --from-log "Unknown ioctl(0xc0086202): type:0x62 nr:0x2 dir:0x3 size:8 addr:0x7ffc..."
  dmabuf-why --json                       one JSON object (see the README)"""


class DmabufWhy(Command):
    NAME = "dmabuf-why"

    def build_parser(self):
        p = self.new_parser(DESCRIPTION)
        p.add_argument("--request", metavar="VALUE", help="decode this request number or name (no process needed)")
        p.add_argument("--from-log", metavar="TEXT", help="rr's assertion text; with a process, also read the argument at its addr")
        p.add_argument("--thread", metavar="N", type=int, help="gdb thread number (default: the selected thread)")
        p.add_argument("--at", choices=("entry", "exit"), help="say whether this is the syscall's entry or exit stop "
                       "(x86-64 tells by itself; aarch64 assumes exit)")
        p.add_argument("--rr-version", metavar="X.Y.Z", help="the rr release that stopped (for the advice; "
                       "default: $GDB_RR_DMABUF_RR_VERSION, else `rr --version` when rr is on PATH)")
        p.add_argument("--rules", metavar="FILE", help="extra advice rules (JSON; also $GDB_RR_DMABUF_RULES)")
        return p

    def run(self, args) -> str:
        from .gdbtarget import GdbTarget
        from .. import evidence, render, why  # here, not at start-up: gdb's start-up time matters
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
            except UserError as e:
                if args.thread is None and ("not ioctl" in e.what or "not stopped in a system call" in e.what):
                    _point_at_ioctl_threads(e)
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


def _point_at_ioctl_threads(e: UserError) -> None:
    """When the selected thread is not in an ioctl but others are, say which (one line still)."""
    from .gdbtarget import threads_in_ioctl
    nums = threads_in_ioctl()
    if nums:
        e.todo = "thread%s %s %s in ioctl: `dmabuf-why --thread %d`" % (
            "s" if len(nums) > 1 else "", ", ".join(str(n) for n in nums[:8]), "are" if len(nums) > 1 else "is",
            nums[0])
        e.args = (e.what + ": " + e.todo,)


def _arch_or_default() -> str:
    import gdb  # type: ignore
    from ..target import normalize_arch
    try:
        return normalize_arch(gdb.newest_frame().architecture().name())
    except gdb.error:
        return "x86-64"
