"""go-goroutines on a real arm64 kernel, live and from gdb's own core (issue 19): tests/fixtures/go/gmany
(cgo through bookworm's cross gcc) runs in the arm64 lab VM under the guest's gdb 16.3, stopped at the entry
of its ioctl(-1, 0x7a7a) on main's thread, as tests/test_goroutines_list.py stops it on x86-64. There the
guest's gdb writes a core of the stop (gcore), lists every goroutine live, and passes SIGQUIT to the program,
whose runtime prints every goroutine (GOTRACEBACK=all): the ground truth. The host's gdb-multiarch and our own
core reader (target_core.CoreTarget) then list them from the core. Every list must agree with the traceback.

The core is what a real gdb writes on a real kernel, unlike qemu-user's (tests/test_goroutines_list_aarch64.py):
its notes are checked here (per thread NT_PRSTATUS, NT_FPREGSET and NT_ARM_TLS; NT_SIGINFO, NT_AUXV, NT_FILE),
and g is found through the thread's TLS (tpidr) as well as R28."""
from __future__ import annotations

import json
import re
import sys
import time

from tests.support.gdbrun import REPO, SCRIPTS, GdbResult
from tests.support.gmany import ARGS, REQUEST, compare
from tests.support.gmany_aarch64 import (AT_ENTRY, NT_AUXV, NT_PRSTATUS, auxv, build, core_notes, multiarch,
                                         prstatus)
from tests.support.lab import lab_vm_arm64  # noqa: F401  (the session fixture)
from tests.support.toolchains import DEFAULT_GO

NT_FPREGSET, NT_ARM_TLS, NT_SIGINFO, NT_FILE = 2, 0x401, 0x53494749, 0x46494C45
WANT = ("running", "runnable", "syscall", "syscall, cgo", "chan receive", "chan send", "select", "sleep",
        "sync.Cond.Wait", "IO wait", "chan receive, locked")


def _pure(core, exe) -> dict:
    from gdb_rr_dmabuf.go_runtime.allgs import analyse_goroutines
    from gdb_rr_dmabuf.report import goroutines_json
    from gdb_rr_dmabuf.target_core import CoreTarget
    rep = analyse_goroutines(CoreTarget(str(core), executable=str(exe)), stacks=True)
    return json.loads(json.dumps(goroutines_json(rep, frames=True)))


def _check(ours: dict, tb: str, exe) -> None:
    states = compare(ours, tb, exe)
    for want in WANT:
        assert states.get(want), (want, states)
    main = int(re.search(r"^MAIN (\d+)$", tb, re.M).group(1))
    sel = [g for g in ours["goroutines"] if g["selected"]]
    assert len(sel) == 1 and sel[0]["id"] == main and sel[0]["stack_from"] == "registers", sel
    assert sel[0]["top"]["function"] == "main.main"


def test_goroutines_live_and_from_gdbs_core_on_a_real_arm64_kernel(lab_vm_arm64):  # noqa: F811
    vm = lab_vm_arm64
    exe = build(DEFAULT_GO, cgo=True)
    core = vm.xdir / "gmany-arm64.core"
    argv = [vm.gdb, "-nx", "-q", "-batch", "-ex", "set environment GODEBUG=asyncpreemptoff=1",
            "-ex", "set environment GOTRACEBACK=all", "-ex", "set args " + " ".join(ARGS)]
    for s in ("lab_arm64_goroutines", "write_core", "load_plugin", "run_commands", "goroutines_sigquit"):
        argv += ["-x", vm.to_guest(SCRIPTS / (s + ".gdb"))]
    env = {"GDB_RR_DMABUF_QUIET": "1", "NO_COLOR": "1", "GDBT_REQUEST": REQUEST, "PYTHONPYCACHEPREFIX": "/tmp/pycache",
           "GDBT_CORE": vm.to_guest(core), "GDBT_CMDS": ";;".join(["go-goroutines --json --stacks", "info threads"])}
    t0 = time.time()
    rc, so, se = vm.run(argv + [vm.to_guest(exe)], env=env, cwd=vm.to_guest(REPO), timeout=600)
    t1 = time.time()
    live = GdbResult(so + "\n" + se, rc)
    tb = so + "\n" + se            # the program's output (MAIN ..., its traceback) goes to gdb's stdout/stderr
    try:
        assert core.exists(), live.output[-3000:]
        notes = core_notes(core)
        res = multiarch(["load_core", "load_plugin", "run_commands"], exe,
                        {"GDBT_CORE": str(core), "GDBT_CMDS": ";;".join(["go-goroutines --json --stacks",
                                                                         "info registers tpidr"])},
                        ex=["set sysroot %s" % vm.rootfs], timeout=300)
        pure = _pure(core, exe)
        size = core.stat().st_size
    finally:
        if core.exists():
            core.unlink()
    sys.stderr.write("test_lab_goroutines_arm64: guest gdb %.1f s (core %.0f MB), host %.1f s\n"
                     % (t1 - t0, size / 1e6, time.time() - t1))
    # Live, in the guest (tpidr served: g from TLS or R28 alike).
    _check(live.json("c0"), tb, exe)
    # gdb's core: a thread's notes as a real kernel's ptrace regsets give them to gdb.
    types = [t for name, t, _ in notes]
    status = [prstatus(d) for name, t, d in notes if name == "CORE" and t == NT_PRSTATUS]
    tids = [int(t) for t in re.findall(r"Thread 0x[0-9a-f]+ \(LWP (\d+)\)", live.section("c1"))]
    assert tids and sorted(s["pid"] for s in status) == sorted(tids), (status, tids)
    assert types.count(NT_FPREGSET) == len(status) and types.count(NT_ARM_TLS) == len(status), types
    assert NT_SIGINFO in types and NT_FILE in types
    [aux] = [d for name, t, d in notes if t == NT_AUXV]
    assert auxv(aux)[AT_ENTRY] > 0
    assert re.search(r"^tpidr\s+0x[0-9a-f]+", res.section("c1"), re.M), res.section("c1")
    ours = res.json("c0")
    _check(ours, tb, exe)
    _check(pure, tb, exe)
    assert pure["goroutines"] == ours["goroutines"]
