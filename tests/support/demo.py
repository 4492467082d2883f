"""The Go demo (tests/fixtures/go/demo) stopped by real gdb: its names, the gdb commands run at its stop, and
the ground truth it prints about itself before the ioctl (pid, tid, goroutine id, its own runtime.Stack).
Used by tests/test_e2e_callers.py and tests/test_go_old.py."""
from __future__ import annotations

import ast
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from tests.support.gdbrun import GdbResult, run_gdb
from tests.support.gotraceback import Traceback, parse_traceback
from tests.support.toolchains import build_go

EXPORT_SYNC_FILE = "0xc0086202"
GPU = "example.com/dmademo/internal/gpu"
RENDER = "example.com/dmademo/render"
MODULE = "example.com/dmademo"
CALLERS_CMDS = ["go-callers --json", "go-callers"]
# Before go-callers: what the kernel says each thread of the stopped process is doing (the goroutine
# may have moved to another thread between printing its TID and the ioctl, so the printed TID is not
# the ground truth for the thread).
KERNEL_CMD = ("python print('KERNEL', [(t, open('/proc/%d/task/%s/syscall' % (gdb.selected_inferior().pid, t))"
              ".read().split()[:3]) for t in __import__('os').listdir('/proc/%d/task' % gdb.selected_inferior().pid)])")


@dataclass
class Demo:
    """What the demo printed about itself before the ioctl."""
    pid: int
    tid: int
    goid: int
    stack: Traceback  # its own runtime.Stack


def parse_demo(out: str) -> Demo:
    m = re.search(r"^DEMO PID (\d+) TID (\d+)$", out, re.M)
    g = re.search(r"^DEMO goroutine (\d+) \[running\]:$", out, re.M)
    s = re.search(r"^DEMO STACK BEGIN\n(.*?)^DEMO STACK END$", out, re.S | re.M)
    assert m and g and s, "the demo printed no ground truth:\n%s" % out[-4000:]
    tb = parse_traceback(s.group(1))
    assert tb.goid == int(g.group(1)) and tb.status == "running"
    assert tb.frames[0].function == RENDER + ".groundTruth", tb.frames
    return Demo(int(m.group(1)), int(m.group(2)), int(g.group(1)), tb)


def run_demo(scripts: List[str], exe: Path, env: Dict[str, str], ienv: Dict[str, str], commands: List[str],
             args: Sequence[str] = ()) -> Tuple[GdbResult, str]:
    """run_gdb with the program's output in its own file: (gdb's result, what the program wrote)."""
    with tempfile.TemporaryDirectory(prefix="e2e-callers-") as tmp:
        log = Path(tmp) / "program.log"
        res = run_gdb(scripts, exe, args=list(args) + [">" + str(log), "2>&1"], env=env, inferior_env=ienv,
                      commands=commands)
        return res, log.read_text(errors="replace")


def kernel_ioctl_threads(res: GdbResult, sec: str, request: str = EXPORT_SYNC_FILE) -> List[int]:
    """The threads that the kernel says are in ioctl(.., request, ..) (x86-64: syscall 16)."""
    m = re.search(r"^KERNEL (\[.*\])$", res.section(sec), re.M)
    assert m, res.section(sec)
    return [int(tid) for tid, sc in ast.literal_eval(m.group(1)) if sc[:1] == ["16"] and sc[2:3] == [request]]


def go_frames(j: dict) -> List[dict]:
    return [f for f in j["frames"] if f["kind"] == "go"]


def relabelled_demo(tmp_path, real: str, claimed: str):
    """A copy of the demo built by Go `real` whose two version strings (build info and runtime) say
    `claimed` instead (same length, so nothing else moves)."""
    exe = build_go("demo", real)
    data = exe.read_bytes()
    old, new = ("go" + real).encode(), ("go" + claimed).encode()
    assert len(old) == len(new) and data.count(old) == 2, data.count(old)
    copy = tmp_path / "demo"
    copy.write_bytes(data.replace(old, new))
    copy.chmod(0o755)
    return copy
