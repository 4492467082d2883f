"""Typed notes: a note is the one line the user reads (a str, so text and --json print it unchanged) with
a kind that code tests instead of its words."""
from __future__ import annotations

# Kinds of the notes on a pending system call (syscall.py)
ENTRY_OR_EXIT_ASSUMED = "entry_or_exit_assumed"   # aarch64: the registers did not tell entry from exit
FD_LOST = "fd_lost"                               # the result overwrote the fd argument (aarch64 exit stop)
INTERRUPTED = "interrupted"                       # a signal interrupted the call; the kernel restarts it
RR_PAGE = "rr_page"                               # pc in rr's page: the call went through rr's syscall buffer


class Note(str):
    """A note's text, and its kind (one of the constants above)."""

    def __new__(cls, text: str, kind: str = ""):
        note = super().__new__(cls, text)
        note.kind = kind
        return note


def without_kind(notes, kind: str) -> list:
    """notes without those of the given kind (plain strings have none)."""
    return [n for n in notes if not (isinstance(n, Note) and n.kind == kind)]
