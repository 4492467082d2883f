"""Our pclntab reading and `go tool addr2line`'s in one form, at pcs spread over the text and over the
functions of the inlines fixture (tests/fixtures/go/inlines): used by tests/test_pclntab.py (every Go
release here) and tests/test_go_old.py (Debian's Go 1.19.8)."""
from __future__ import annotations

from typing import List, Optional, Tuple

from gdb_rr_dmabuf.go_runtime import pclntab as P
from gdb_rr_dmabuf.go_runtime.pclntab import PcLnTab

FIX = "example.com/fix.inlines"


def normalized(a2l: Tuple[str, str, int]) -> Tuple[str, Optional[str], Optional[int]]:
    """addr2line's answer in our terms: '?' -> no function; '' / -1 (no pc table value) -> None."""
    name, file, line = a2l
    if name == "?" or line == -1 or file == "":
        return name, None, None
    return name, file, line


def spread_pcs(tab: PcLnTab, n: int = 200) -> List[int]:
    span = tab.text_end - tab.text_start
    return [tab.text_start + (span * k) // n for k in range(n)]


def fixture_funcs(tab: PcLnTab) -> List[P.Func]:
    names = sorted(n for n in tab.names() if n.startswith(FIX) or n.startswith("main."))
    return [tab.lookup(n) for n in names]


def ours(tab: PcLnTab, pc: int) -> Tuple[str, Optional[str], Optional[int]]:
    f = tab.func_for_pc(pc)
    if f is None:
        return "?", None, None
    file, line = tab.file_line(f, pc)
    return f.name, file, line
