"""Errors that reach the user as one line: what is wrong and what to do."""
from __future__ import annotations


class UserError(Exception):
    """A problem the user can act on. str(e) is the one line the commands print."""

    def __init__(self, what: str, todo: str = ""):
        self.what = what
        self.todo = todo
        super().__init__(what + (": " + todo if todo else ""))


# What every NotGoProgram's line says; the one text a caller that sees only the printed line (check.py reads
# go-callers' output in gdb) may test for.
NOT_GO_PROGRAM = "not a Go program"


class NotGoProgram(UserError):
    """The executable is not a Go program built by the gc toolchain (go-callers has nothing to read); a
    caller that also runs on other programs (dmabuf-why's evidence, check) skips Go quietly on it. Its line
    contains NOT_GO_PROGRAM."""


class NotInIoctl(UserError):
    """The thread is not stopped in an ioctl (it is in another system call, or in none): dmabuf-why, when
    the user selected no thread, says how to reach the thread that is."""


class TargetReadError(UserError):
    """Memory of the target could not be read."""

    def __init__(self, addr: int, size: int, why: str = ""):
        self.addr = addr
        self.size = size
        super().__init__(
            "cannot read %d bytes at 0x%x%s" % (size, addr, (" (" + why + ")") if why else ""),
            "the pointer is not mapped in the target")


class NoProcessError(UserError):
    def __init__(self, todo: str = "run the program, attach, connect to rr's gdbserver or load a core file"):
        super().__init__("no process to inspect", todo)
