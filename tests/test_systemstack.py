"""A thread on the system stack through runtime.systemstack (not cgo): an mmap while the heap grows.

tests/fixtures/go/sysstack (and sysstackcgo, the same with cgo linked in, where the runtime maps
memory through libc: runtime.callCgoMmap -> x_cgo_mmap -> mmap) allocates 64 MB buffers in main.processFile (GOGC=off, GOMAXPROCS=1: only
the heap's growth maps memory). gdb runs it to main.processFile, then stops at the next mmap: x86-64
with `catch syscall mmap` (live), aarch64 under qemu-user at runtime.sysMmap (qemu's stub has no
syscall catchpoints). The thread then runs g0's frames ((*mheap).alloc.func1 ... mmap) for the
goroutine, whose own frames continue from curg.sched, saved by runtime.systemstack.

Ground truth: the goroutine id the program prints (runtime.Stack), its source (the lines of the
allocation and of the go statement, found by text), Go's `go tool addr2line` on every physical frame's
pc, and the call chain of the fixture and of the runtime's allocator (mallocgc -> (*mcache).allocLarge
-> (*mheap).alloc -> systemstack). Go 1.23.4 (in range) and Go 1.19.8 (Debian's).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.support.gdbrun import REPO, SCRIPTS, GdbResult, gdb_env, listening, run_gdb, physical_frames
from tests.support.toolchains import DEFAULT_GO, FIXTURES, build_go, go_root

VERSIONS = [DEFAULT_GO, "1.19.8"]
SRC = FIXTURES / "go" / "sysstack" / "main.go"
IENV = {"GOGC": "off", "GOMAXPROCS": "1"}


def src_line(text: str) -> int:
    return next(i for i, ln in enumerate(SRC.read_text().splitlines(), 1) if text in ln)


def _stop_x86(version: str, fixture: str = "sysstack") -> Tuple[Path, GdbResult, str]:
    exe = build_go(fixture, version)
    with tempfile.TemporaryDirectory(prefix="sysstack-") as tmp:
        log = Path(tmp) / "out.txt"
        res = run_gdb(["stop_mmap_after", "load_plugin", "run_commands"], exe, args=[">" + str(log), "2>&1"],
                      env={"GDBT_FUNC": "main.processFile"}, inferior_env=IENV,
                      commands=["go-callers --json", "go-callers", "info registers rip"])
        return exe, res, log.read_text(errors="replace")


def _stop_arm64(version: str) -> Tuple[Path, GdbResult, str]:
    exe = build_go("sysstack", version, env={"GOARCH": "arm64"}, cgo=False)
    with tempfile.TemporaryDirectory(prefix="sysstack-arm-") as tmp:
        log = Path(tmp) / "out.txt"
        env = dict(os.environ, **IENV)
        with open(str(log), "wb") as out, listening(lambda port: ["qemu-aarch64", "-g", str(port), str(exe)],
                                                     env, out) as port:
            genv = gdb_env({"GDBT_REMOTE": "127.0.0.1:%d" % port, "GDBT_FUNC": "main.processFile",
                            "GDBT_CMDS": ";;".join(["go-callers --json", "go-callers"])})
            proc = subprocess.run(["gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off",
                                   "-x", str(SCRIPTS / "aarch64_stop_mmap_after.gdb"),
                                   "-x", str(SCRIPTS / "load_plugin.gdb"), "-x", str(SCRIPTS / "run_commands.gdb"),
                                   str(exe)], cwd=str(REPO), env=genv, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, universal_newlines=True, timeout=240)
        return exe, GdbResult(proc.stdout, proc.returncode), log.read_text(errors="replace")


CELLS = [("x86-64", v) for v in VERSIONS] + [("x86-64-cgo", v) for v in VERSIONS]
if shutil.which("qemu-aarch64") and shutil.which("gdb-multiarch"):
    CELLS += [("aarch64", v) for v in VERSIONS]
_RUNS: Dict[Tuple[str, str], Tuple[Path, GdbResult, str]] = {}


@pytest.fixture(params=CELLS, ids=["%s-go%s" % c for c in CELLS])
def stop(request):
    if request.param not in _RUNS:
        arch, version = request.param
        if arch == "x86-64-cgo":  # sysstackcgo: the runtime maps memory through libc (runtime.callCgoMmap)
            _RUNS[request.param] = _stop_x86(version, "sysstackcgo")
        else:
            _RUNS[request.param] = (_stop_x86 if arch == "x86-64" else _stop_arm64)(version)
    return request.param + _RUNS[request.param]


def _addr2line(exe: Path, pcs: List[int]) -> List[Tuple[str, str]]:
    goroot = go_root(DEFAULT_GO)
    out = subprocess.run([str(goroot / "bin" / "go"), "tool", "addr2line", str(exe)],
                         input="".join("0x%x\n" % p for p in pcs), stdout=subprocess.PIPE, timeout=120,
                         universal_newlines=True, env=dict(os.environ, GOROOT=str(goroot)), check=True).stdout
    lines = out.splitlines()
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]


def test_goroutine_behind_the_system_stack(stop):
    arch, version, exe, res, out = stop
    j = res.json("c0")
    assert "error" not in j, j
    goid = int(re.search(r"^SYSSTACK GOID (\d+)$", out, re.M).group(1))
    assert j["goroutine"]["id"] == goid and j["goroutine"]["status"] == "running"
    assert j["thread"]["kind"] == "g0" and j["thread"]["on_system_stack"] and not j["thread"]["in_cgo"]
    cb = j["goroutine"]["created_by"]
    assert (cb["function"], cb["line"]) == ("main.main", src_line("go worker(8, done)"))
    assert cb["file"].endswith("/main.go") and "/sysstack" in cb["file"]


def test_frames_continue_through_systemstack_into_the_goroutine(stop):
    arch, version, exe, res, out = stop
    j = res.json("c0")
    go = [f for f in j["frames"] if f["kind"] == "go"]
    names = [f["function"] for f in go]
    k = names.index("runtime.systemstack")
    assert all(f["system_stack"] for f in go[:k + 1]) and not any(f["system_stack"] for f in go[k + 1:])
    assert names[k - 1] == "runtime.(*mheap).alloc.func1"
    assert ("runtime.callCgoMmap" if arch.endswith("cgo") else "runtime.sysMmap") in names[:k]
    assert "runtime.mmap" in names[:k] and "runtime.(*mheap).grow" in names[:k]
    if arch.endswith("cgo"):  # libc's mmap and cgo's x_cgo_mmap, from gdb's unwinder
        assert [f["function"] for f in j["frames"] if f["kind"] == "native"][-1] == "x_cgo_mmap"
    assert names[k + 1:] == ["runtime.systemstack_switch", "runtime.(*mheap).alloc", "runtime.(*mcache).allocLarge",
                             "runtime.mallocgc", "runtime.makeslice", "main.processFile", "main.worker"]
    pf = go[names.index("main.processFile")]
    assert pf["line"] == src_line("b := make([]byte, 64<<20)")
    assert j["caller"]["function"] == "main.processFile" and j["caller"]["line"] == pf["line"]
    # It ended in runtime.goexit exactly at the goroutine stack's top.
    assert j["unwind"]["complete"] and j["unwind"]["end_checked"], j["unwind"]


def test_every_physical_frame_matches_go_addr2line(stop):
    arch, version, exe, res, out = stop
    frames = res.json("c0")["frames"]
    go = [f for f in frames if f["kind"] == "go"]
    first_exact = frames[0]["kind"] == "go"  # else the first Go frame is a return address from C
    groups = physical_frames(go)
    # The innermost frame is exact; the others are return addresses, and so is the sched pc (Go 1.23:
    # systemstack_switch+8, inside it; Go 1.19: its entry, looked up as is).
    switch = next(i for i, g in enumerate(groups) if g[0]["function"] == "runtime.systemstack_switch")
    pcs = [g[0]["pc"] - (0 if (i == 0 and first_exact) or i == switch else 1) for i, g in enumerate(groups)]
    got = _addr2line(exe, pcs)
    for g, (fn, fl) in zip(groups, got):
        assert fn == g[-1]["function"], (fn, g)
        if g[0]["function"] != "runtime.systemstack_switch":  # its line is that of whatever pc sched holds
            assert fl == "%s:%d" % (g[0]["file"], g[0]["line"]), (fl, g)
    assert len(groups) >= 12


def test_text_names_the_goroutine(stop):
    arch, version, exe, res, out = stop
    text = res.section("c1")
    goid = int(re.search(r"^SYSSTACK GOID (\d+)$", out, re.M).group(1))
    assert text.startswith("goroutine %d [running]" % goid), text
    assert "main.processFile" in text and "Go unwind stopped" not in text


def test_cgo_thread_creation_on_g0_continues_into_the_goroutine():
    """runtime.main starts sysmon with systemstack(newm(...)); in a cgo program newm creates the thread
    with pthread_create through asmcgocall on g0, where g0's Go frames cannot be followed (C called from
    g0). The goroutine's frames still come from curg.sched: goroutine 1 in runtime.main, at the line of
    its systemstack call (Go's addr2line), with a warning for the gap."""
    exe = build_go("sysstackcgo", DEFAULT_GO)
    res = run_gdb(["stop_syscall", "load_plugin", "run_commands"], exe,
                  env={"GDBT_SYSCALL": "clone clone3", "GDBT_COND": ""}, commands=["go-callers --json"])
    j = res.json("c0")
    assert j["goroutine"]["id"] == 1 and j["thread"]["kind"] == "g0" and not j["thread"]["in_cgo"]
    natives = [f["function"] for f in j["frames"] if f["kind"] == "native"]
    assert any(n and "pthread_create" in n for n in natives), natives
    go = [f for f in j["frames"] if f["kind"] == "go"]
    assert [f["function"] for f in go] == ["runtime.systemstack_switch", "runtime.main"]
    fn, fl = _addr2line(exe, [go[1]["pc"] - 1])[0]
    assert fn == "runtime.main" and fl == "%s:%d" % (go[1]["file"], go[1]["line"])
    src = Path(go[1]["file"]).read_text().splitlines()[go[1]["line"] - 1]
    assert "systemstack(" in src, src
    assert j["unwind"]["complete"] and j["unwind"]["end_checked"]
    assert any("could not be unwound" in w for w in j["warnings"]), j["warnings"]
