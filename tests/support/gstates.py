"""tests/fixtures/go/gstates stopped by real gdb at the entry of its ioctl(9999, ...) in one of its modes
(go, cgo, cthread, callback) and dumped to a core (tests/support/cores.py): the core, what the program
printed (its goroutine id and thread), and the thread the core shows in that ioctl. One stop per
(release, build flags, mode) per test session (tests/test_goroutines.py, test_goroutines_list_data.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from gdb_rr_dmabuf.go_runtime.binary import GoBinary
from gdb_rr_dmabuf.target_core import CoreTarget
from tests.support.cores import ioctl_stop, make_core
from tests.support.toolchains import build_go

BAD_FD = 9999  # the fd of every ioctl in the gstates fixture
SYS_IOCTL = 16


@dataclass
class Stop:
    exe: str
    core: str
    out: str  # gdb's output, with the program's
    goid: Optional[int]  # what the program printed
    go_tid: Optional[int]  # the thread of the goroutine before the ioctl
    stopped_tid: int  # the thread that is in ioctl(9999, ...)
    binary: GoBinary


_STOPS: Dict[Tuple[str, Tuple[Tuple[str, bool], ...], str], Stop] = {}


def get_stop(version: str, mode: str, **flags) -> Stop:
    key = (version, tuple(sorted(flags.items())), mode)
    if key not in _STOPS:
        exe = build_go("gstates", version, **flags)
        core, out = make_core(exe, ioctl_stop(BAD_FD, mode))
        goid = re.search(r"^GOID (\d+)$", out, re.M)
        tid = re.search(r"^TID (\d+)$", out, re.M)
        t = CoreTarget(str(core), executable=str(exe))
        stopped = [th.tid for th in t.threads
                   if th.regs.get("orig_rax") == SYS_IOCTL and th.regs.get("rdi") == BAD_FD]
        assert len(stopped) == 1, "expected one thread in ioctl(%d): %s\n%s" % (BAD_FD, t.threads, out)
        _STOPS[key] = Stop(str(exe), str(core), out, int(goid.group(1)) if goid else None,
                           int(tid.group(1)) if tid else None, stopped[0], GoBinary.open(str(exe)))
    return _STOPS[key]
