"""go-goroutines on a real aarch64 process: tests/fixtures/go/gmany cross-built for arm64 (pure Go, where its
"cgo" kind blocks in a plain system call; and with cgo through bookworm's cross gcc, dynamically linked, where
it blocks in C's read: "syscall, cgo"), run by qemu-user with its gdb stub, debugged by gdb-multiarch with
target remote, stopped in main.main just after the ioctl returned (tests/gdb_scripts/aarch64_stop_in_main.gdb).
Ground truth as on x86-64 (tests/test_goroutines_list.py): the program's own SIGQUIT traceback at the same
stop, given to main's thread with gdb's `signal SIGQUIT` (a SIGQUIT sent to qemu from outside while its stub
holds the process was lost in 5 of 6 tries on a loaded machine; injected through the stub it arrives).
The program's output is qemu's.

Cores: an arm64 core of that stop, written by qemu-user's own core writer (tests/support/gmany_aarch64.py).
The program runs with GOTRACEBACK=crash: the SIGQUIT given at the stop makes it print every goroutine (the
ground truth), relay SIGQUIT to every other M (each prints its own) and die of SIGABRT; qemu writes the core
then. Between the traceback and the core only the signal machinery runs (no goroutine changes state: the
spinners never yield, GC is off, every thread sits in the signal handler), so both describe the same stop.
The core's selected thread is the one that died, in runtime.raise on its gsignal stack (g from R28: a qemu
core has no NT_ARM_TLS, as rr's stub serves no tpidr): main's with Go 1.22+, another M's before. What the core holds is checked against the kernel's format
(include/linux/elfcore.h, fs/binfmt_elf.c): one NT_PRSTATUS (392 bytes, x0-x30 sp pc pstate) per thread the
stub listed at the stop, the signalled thread's first, NT_PRPSINFO, NT_AUXV. Unlike a kernel's or gdb's core
it has no NT_SIGINFO, NT_FILE, NT_PRFPREG or NT_ARM_TLS (go-goroutines needs none of them) and it leaves out
executable mappings that start with an ELF header (the program's text: gdb reads it from the file). The
list is read by gdb-multiarch from the core and by our own core reader (target_core.CoreTarget), and both are
checked against the traceback. A core that a real gdb writes on a real arm64 kernel, at the stop itself,
is read in the arm64 lab (tests/test_lab_goroutines_arm64.py)."""
from __future__ import annotations

import re

import pytest

from tests.support.gmany import compare
from tests.support.gmany_aarch64 import (AT_ENTRY, CROSS_SYSROOT, NEEDS_QEMU, NT_AUXV, NT_PRPSINFO, NT_PRSTATUS,
                                         auxv, build, core_notes, have_cgo, multiarch, prstatus, qemu_gmany,
                                         threads_at_stop, wait_exit, where)
from tests.support.toolchains import DEFAULT_GO, SUPPORTED_GO

pytestmark = NEEDS_QEMU

# (release, stripped, cgo): cgo builds go through bookworm's cross gcc and run dynamically linked
# every supported release (issue 19: the list agrees with the traceback for every release), stripped and cgo
# for the default one
VERSIONS = ([(v, False, False) for v in SUPPORTED_GO] + [(DEFAULT_GO, True, False), (DEFAULT_GO, False, True)])


def _build(version: str, stripped: bool, cgo: bool):
    if cgo and not have_cgo():
        pytest.skip("needs gcc-aarch64-linux-gnu and its libc6-arm64-cross (tools/bootstrap.sh installs them)")
    return build(version, stripped, cgo=cgo), (CROSS_SYSROOT if cgo else None)


def _states(ours: dict, tb: str, exe, cgo: bool) -> None:
    states = compare(ours, tb, exe)
    for want in ("running", "runnable", "syscall", "chan receive", "select", "sleep", "IO wait",
                 "chan receive, locked") + (("syscall, cgo",) if cgo else ()):
        assert states.get(want), (want, states)


def _main_id(tb: str) -> int:
    m = re.search(r"^MAIN (\d+)$", tb, re.M)
    assert m, tb[-2000:]
    return int(m.group(1))


@pytest.mark.parametrize("version,stripped,cgo", VERSIONS)
def test_every_goroutine_agrees_with_the_traceback_on_aarch64(version, stripped, cgo, tmp_path):
    exe, sysroot = _build(version, stripped, cgo)
    log = tmp_path / "qemu.out"
    with qemu_gmany(exe, log, sysroot=sysroot) as port:
        res = multiarch(["aarch64_stop_in_main", "load_plugin", "run_commands", "goroutines_sigquit"], exe,
                        dict(where(exe) if stripped else {}, GDBT_REMOTE="127.0.0.1:%d" % port,
                             GDBT_SIGQUIT_INJECT="1",
                             GDBT_CMDS=";;".join(["go-goroutines --json --stacks", "go-goroutines"])), timeout=120)
    tb = log.read_text(errors="replace")
    ours = res.json("c0")
    assert ours.get("allgs", {}).get("found_via") == ("bss scan" if stripped else "symbols"), ours
    _states(ours, tb, exe, cgo)
    sel = [g for g in ours["goroutines"] if g["selected"]]
    main = _main_id(tb)
    assert len(sel) == 1 and sel[0]["id"] == main
    assert sel[0]["stack_from"] == "registers" and sel[0]["top"]["function"] == "main.main"
    assert re.search(r"^\*\s+%d\s+running\s+LWP \d+\s+main\.main main\.go:\d+" % main, res.section("c1"), re.M)


@pytest.mark.parametrize("version,stripped,cgo", VERSIONS)
def test_every_goroutine_from_an_aarch64_core(version, stripped, cgo, tmp_path):
    exe, sysroot = _build(version, stripped, cgo)
    log, run = tmp_path / "qemu.out", tmp_path / "run"
    with qemu_gmany(exe, log, traceback="crash", core_dir=run, sysroot=sysroot) as port:
        drv = multiarch(["aarch64_stop_in_main", "run_commands", "goroutines_sigquit"], exe,
                        dict(where(exe) if stripped else {}, GDBT_REMOTE="127.0.0.1:%d" % port,
                             GDBT_SIGQUIT_INJECT="1", GDBT_CMDS="info threads"),
                        ex=["handle SIGABRT nostop noprint pass"], timeout=120)
        rc = wait_exit(run)
    cores = sorted(run.glob("qemu_*.core"))
    try:
        assert rc == 128 + 6 and len(cores) == 1, (rc, cores, drv.output[-3000:])
        stop_tid, tids = threads_at_stop(drv.section("c0"))
        notes = core_notes(cores[0])
        res = multiarch(["load_core", "load_plugin", "run_commands"], exe,
                        {"GDBT_CORE": str(cores[0]),
                         "GDBT_CMDS": ";;".join(["go-goroutines --json --stacks", "go-goroutines",
                                                 "info registers tpidr"])}, timeout=120)
        pure = _pure(cores[0], exe)
    finally:
        for c in cores:
            c.unlink()
        for c in run.glob("core*"):   # qemu's own core, where the host's core_pattern is not plain "core"
            if c.is_file():
                c.unlink()
    tb = log.read_text(errors="replace")
    # What the core holds, against the kernel's format and what the stub showed at the stop.
    status = [prstatus(d) for name, t, d in notes if name == "CORE" and t == NT_PRSTATUS]
    assert sorted(s["pid"] for s in status) == sorted(tids), (status, tids)
    # The thread that died of SIGABRT comes first. Go 1.22+ crashes on the thread that took the SIGQUIT first
    # (runtime/signal_unix.go, isCrashThread): main's; before, on the last M the SIGQUIT was relayed to.
    crashed = status[0]["pid"]
    assert crashed in tids and status[0]["cursig"] == 6, status[0]
    if int(version.split(".")[1]) >= 22:
        assert crashed == stop_tid, (crashed, stop_tid)
    assert [t for name, t, _ in notes if t == NT_PRPSINFO] == [NT_PRPSINFO]
    [aux] = [d for name, t, d in notes if t == NT_AUXV]
    from elftools.elf.elffile import ELFFile
    with open(str(exe), "rb") as f:
        assert auxv(aux)[AT_ENTRY] == ELFFile(f)["e_entry"]
    assert "Invalid register `tpidr'" in res.section("c2"), res.section("c2")
    # The list, from gdb's reading of the core and from ours, against the traceback.
    ours = res.json("c0")
    assert ours.get("allgs", {}).get("found_via") == ("bss scan" if stripped else "symbols"), ours
    _states(ours, tb, exe, cgo)
    _states(pure, tb, exe, cgo)
    assert pure["goroutines"] == ours["goroutines"]
    # The selected thread is the one that died; its goroutine is the one its M runs (main on main's thread).
    sel = [g for g in ours["goroutines"] if g["selected"]]
    assert ours["thread"]["tid"] == crashed and all(g["m"]["tid"] == crashed for g in sel), (ours["thread"], sel)
    if crashed == stop_tid:
        assert len(sel) == 1 and sel[0]["id"] == _main_id(tb) == ours["thread"]["goroutine"], sel
        assert re.search(r"^\*\s+%d\s+running\s+LWP %d\s" % (sel[0]["id"], stop_tid), res.section("c1"), re.M), \
            res.section("c1")


def _pure(core, exe) -> dict:
    """go-goroutines --json --stacks without gdb: our own core reader."""
    import json
    from gdb_rr_dmabuf.go_runtime.allgs import analyse_goroutines
    from gdb_rr_dmabuf.report import goroutines_json
    from gdb_rr_dmabuf.target_core import CoreTarget
    rep = analyse_goroutines(CoreTarget(str(core), executable=str(exe)), stacks=True)
    return json.loads(json.dumps(goroutines_json(rep, frames=True)))
