"""go-callers: the Go goroutine, package and module behind the stopped thread (being built)."""
from __future__ import annotations

from ..errors import UserError
from .base import Command

DESCRIPTION = """Find the Go goroutine behind the selected thread (across cgo), unwind its Go stack from
the binary's pclntab, and name the calling package with its module and version."""


class GoCallers(Command):
    NAME = "go-callers"

    def build_parser(self):
        p = self.new_parser(DESCRIPTION)
        p.add_argument("--thread", metavar="N", type=int, help="gdb thread number (default: the selected thread)")
        return p

    def run(self, args) -> str:
        raise UserError("go-callers is not built yet", "see the README for its status")
