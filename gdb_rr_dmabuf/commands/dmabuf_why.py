"""dmabuf-why: decode the ioctl rr stopped on, say why rr stopped and what to do."""
from __future__ import annotations

from .. import render, why
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
        p.add_argument("--rr-version", metavar="X.Y.Z", help="the rr release that stopped (for the advice)")
        return p

    def run(self, args) -> str:
        from .gdbtarget import GdbTarget
        if args.request is not None and args.from_log is not None:
            raise UserError("--request and --from-log exclude each other", "give one of them")
        if args.request is not None:
            rep = why.analyse_request(args.request, _arch_or_default())
        elif args.from_log is not None:
            try:
                target = GdbTarget(args.thread)
            except NoProcessError:
                target = None
            rep = why.analyse_log(args.from_log, target)
        else:
            target = GdbTarget(args.thread)
            rep = why.analyse_thread(target, args.at)
        rep.suggestions = why.basic_suggestions(rep)
        if args.json:
            return render.to_json(why.report_json(rep))
        return render.why_text(rep, render.Style(self.colour(args)))


def _arch_or_default() -> str:
    import gdb  # type: ignore
    from ..target import normalize_arch
    try:
        return normalize_arch(gdb.newest_frame().architecture().name())
    except gdb.error:
        return "x86-64"
