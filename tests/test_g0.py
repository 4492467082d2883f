"""go-callers on g0 before any goroutine exists: runtime start-up, at the first system call the Go
runtime itself makes (runtime.osinit -> getproccount -> sched_getaffinity, called from rt0_go on the
main thread's g0, before runtime.main's goroutine is created).

Go's own traceback prints such a thread as "goroutine 0" with g0's frames; go-callers shows g0's frames
from the pclntab and says why there is no goroutine. Ground truth: the runtime's source (rt0_go calls
osinit, which calls getproccount, which makes the syscall) and Go's `go tool addr2line` on every pc.
Subjects: the sysstack fixture (static, pure Go) built by Go 1.23.4 and 1.19.8, and Debian's fzf (cgo,
dynamically linked: the C start-up runs before rt0_go).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List

import pytest

from tests.support.gdbrun import run_gdb, physical_frames
from tests.support.toolchains import DEFAULT_GO, build_go, go_root, package_root


CHAIN = ["runtime.sched_getaffinity", "runtime.getproccount", "runtime.osinit", "runtime.rt0_go"]


def _exe(which: str) -> Path:
    if which == "debian-fzf":
        return package_root("fzf") / "usr/bin/fzf"
    return build_go("sysstack", which)


@pytest.fixture(params=[DEFAULT_GO, "1.19.8", "debian-fzf"], scope="module")
def startup(request):
    exe = _exe(request.param)
    res = run_gdb(["stop_syscall", "load_plugin", "run_commands"], exe,
                  env={"GDBT_SYSCALL": "sched_getaffinity", "GDBT_COND": ""},
                  commands=["go-callers --json", "go-callers", "bt"])
    return exe, res


def _addr2line(exe: Path, pcs: List[int]) -> List[str]:
    goroot = go_root(DEFAULT_GO)
    out = subprocess.run([str(goroot / "bin" / "go"), "tool", "addr2line", str(exe)],
                         input="".join("0x%x\n" % p for p in pcs), stdout=subprocess.PIPE, timeout=120,
                         universal_newlines=True, env=dict(os.environ, GOROOT=str(goroot)), check=True).stdout
    return out.splitlines()[0::2]


def test_g0_frames_and_why_there_is_no_goroutine(startup):
    exe, res = startup
    j = res.json("c0")
    assert "error" not in j, j
    assert j["goroutine"] is None
    assert j["thread"]["kind"] == "g0" and j["thread"]["on_system_stack"]
    assert "start-up" in j["no_goroutine"] and "rt0_go" in j["no_goroutine"]
    assert not [w for w in j["warnings"] if "curg" in w], j["warnings"]
    go = [f for f in j["frames"] if f["kind"] == "go"]
    assert [f["function"] for f in go] == CHAIN
    assert all(f["system_stack"] for f in go)
    assert j["unwind"]["complete"] and j["caller"] is None
    if "fzf" not in str(exe):
        # (Go 1.23's addr2line misnames pcs of Debian's stripped Go 1.19 binaries: it has no symbol
        # table to start from; the chain above is the runtime's source.)
        pcs = [f["pc"] - (0 if i == 0 else 1) for i, f in enumerate(go)]
        assert _addr2line(exe, pcs) == CHAIN


def test_text_says_why(startup):
    exe, res = startup
    text = res.section("c1")
    assert "no goroutine" in text and "start-up" in text and "no goroutine found" not in text
    assert "runtime.osinit" in text


# Where an idle M's g0 stack begins: mstart (the M's own start), mcall (gopark's park_m and the like
# run on g0), morestack (newstack's preemption, gopreempt_m -> goschedImpl -> schedule).
G0_BOTTOMS = ("runtime.mcall", "runtime.mstart", "runtime.mstart0", "runtime.morestack")


def test_idle_m_in_the_scheduler():
    """An M with no goroutine, sleeping or waking another in the scheduler (futex on g0): g0's frames down
    to runtime.mcall (park_m ran on g0), runtime.mstart, or runtime.morestack (morestack switched to g0
    and called newstack, which preempted the goroutine into schedule), named by Go's addr2line."""
    exe = _exe(DEFAULT_GO)
    cmds = []
    for _ in range(6):
        cmds += ["go-callers --json", "continue"]
    res = run_gdb(["stop_syscall", "load_plugin", "run_commands"], exe,
                  env={"GDBT_SYSCALL": "futex", "GDBT_COND": ""}, inferior_env={"GOMAXPROCS": "2"}, commands=cmds)
    found = None
    for i in range(0, len(cmds), 2):
        try:
            j = res.json("c%d" % i)
        except AssertionError:
            break  # the program ended
        if j.get("goroutine") is None and j.get("thread", {}).get("kind") == "g0":
            found = j
            break
    assert found is not None, res.output[-4000:]
    assert "scheduler" in found["no_goroutine"] or "sysmon" in found["no_goroutine"], found["no_goroutine"]
    go = [f for f in found["frames"] if f["kind"] == "go"]
    assert go[-1]["function"] in G0_BOTTOMS, [f["function"] for f in go]
    assert all(f["system_stack"] for f in go)
    groups = physical_frames(go)
    pcs = [g[0]["pc"] - (0 if i == 0 else 1) for i, g in enumerate(groups)]
    assert _addr2line(exe, pcs) == [g[-1]["function"] for g in groups]
