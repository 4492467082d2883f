"""go-goroutines against the program's own traceback at the same stop.

tests/fixtures/go/gmany parks hundreds of goroutines in every state (running, runnable, syscall, cgo call,
chan receive/send, select, sleep, mutexes, cond, WaitGroup, IO wait, locked to thread, dead and reused)
and stops in ioctl(-1, 0x7a7a) on main's thread. gdb runs go-goroutines there, then passes SIGQUIT to the
program, whose runtime prints every goroutine (GOTRACEBACK=all; for a signal it prints at level 2: gp and
m of each, system goroutines and runtime frames too) and exits. Nothing moves in between: the running
goroutines spin without calls (GODEBUG=asyncpreemptoff=1) on every P but main's, main never gives its P
up, so the runnable ones cannot run (the fixture's comment says how each state is reached without timing).

Checked for every goroutine: id, g address (gp=), state (the wait reason by Go's own strings), locked to
thread, its M's id (m=), created by (function, file:line, parent), and every frame (function, file:line)
unless it runs on another thread (Go prints no stack for those; we read no registers of theirs).
Modes: a live process (catch syscall), a core written at that stop (gcore; the traceback comes from the
same process, continued after gcore), gdbserver (target extended-remote); builds: default on every
supported release, stripped (strip --strip-all of the same build: no symbol table, allgs found by the
.bss scan) on every release, PIE + stripped on a few.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.support.gdbrun import GdbResult, gdbserver, run_gdb
from tests.support.gmany import ARGS, INFERIOR_ENV, REQUEST, compare, gmany
from tests.support.gotraceback import parse
from tests.support.toolchains import CACHE, DEFAULT_GO, SUPPORTED_GO

LIST = "go-goroutines --json --stacks"


def _live(exe: Path, commands: List[str]) -> Tuple[GdbResult, str]:
    res = run_gdb(["stop_ioctl_entry", "load_plugin", "run_commands", "goroutines_sigquit"], exe, ARGS,
                  env={"GDBT_REQUEST": REQUEST}, commands=commands, inferior_env=INFERIOR_ENV)
    return res, res.section("sigquit")


def _core(exe: Path, commands: List[str], tmp_path: Path) -> Tuple[GdbResult, str]:
    core = tmp_path / "core"  # gdb writes every mapping (about 1 GB): removed as soon as it is read
    try:
        first = run_gdb(["stop_ioctl_entry", "write_core", "goroutines_sigquit"], exe, ARGS,
                        env={"GDBT_REQUEST": REQUEST, "GDBT_CORE": str(core)}, inferior_env=INFERIOR_ENV)
        assert core.exists(), first.output[-3000:]
        res = run_gdb(["load_core", "load_plugin", "run_commands"], exe, core=core, commands=commands)
    finally:
        if core.exists():
            core.unlink()
    return res, first.output  # what the program printed (MAIN ...) and its traceback


def _remote(exe: Path, commands: List[str], tmp_path: Path) -> Tuple[GdbResult, str]:
    log = tmp_path / "inferior.log"
    env = dict(INFERIOR_ENV)
    with gdbserver(exe, ARGS, env=env, log=log) as addr:
        res = run_gdb(["remote_stop_ioctl_entry", "load_plugin", "run_commands", "goroutines_sigquit"], exe,
                      env={"GDBT_REQUEST": REQUEST, "GDBT_REMOTE": addr}, commands=commands)
    return res, log.read_text(errors="replace")


def stop(mode: str, exe: Path, commands: List[str], tmp_path: Path) -> Tuple[GdbResult, str]:
    if mode == "live":
        return _live(exe, commands)
    if mode == "core":
        return _core(exe, commands, tmp_path)
    return _remote(exe, commands, tmp_path)


def _check_states(states: Dict[str, int], version: str) -> None:
    minor = int(version.split(".")[1])
    for want in ("running", "runnable", "syscall", "syscall, cgo", "chan receive", "chan send", "select",
                 "select (no cases)", "sleep", "sync.Cond.Wait", "IO wait", "chan receive, locked"):
        assert states.get(want), (want, states)
    assert states.get("sync.Mutex.Lock" if minor >= 24 else "semacquire"), states
    assert states["runnable"] >= 1 and states["running"] >= 3, states


@pytest.mark.parametrize("version", SUPPORTED_GO)
@pytest.mark.parametrize("mode", ["live", "core", "remote"])
def test_every_goroutine_agrees_with_the_traceback(version, mode, tmp_path):
    exe = gmany(version)
    res, tb = stop(mode, exe, [LIST, "go-goroutines --all --json"], tmp_path)
    main = re.search(r"^MAIN (\d+)$", res.output + tb, re.M)
    ours = res.json("c0")
    states = compare(ours, tb, exe)
    _check_states(states, version)
    assert ours["allgs"]["found_via"] == "symbols"
    # The selected thread's goroutine is main's, read from its registers, in main.main at the ioctl.
    sel = [g for g in ours["goroutines"] if g["selected"]]
    assert main and len(sel) == 1 and sel[0]["id"] == int(main.group(1)), (main, sel)
    assert sel[0]["stack_from"] == "registers" and sel[0]["top"]["function"] == "main.main"
    # Running on other threads: marked, with the thread's LWP, no frames.
    others = [g for g in ours["goroutines"] if g["state"] == "running" and not g["selected"]]
    assert len(others) == 2 and all(g["m"]["tid"] and not g["frames"] for g in others), others
    assert all("running on LWP %d" % g["m"]["tid"] in g["stack_note"] for g in others)
    # Dead gs stay in allgs (and Go's traceback leaves them out); --all lists them.
    every = res.json("c1")
    dead = [g for g in every["goroutines"] if g["status"] in ("dead", "deadextra", "idle")]
    assert dead and all(g["top"] is None and g["stack_note"] for g in dead)
    assert len(every["goroutines"]) == len(ours["goroutines"]) + len(dead)
    # g.waitsince: the fixture's GC recorded it for each goroutine waiting then (one GC: one value).
    waited = {g["waitsince"] for g in ours["goroutines"] if g["top"] and g["top"]["function"] == "main.sleeper"}
    assert len(waited) == 1 and waited != {None}, waited


@pytest.mark.parametrize("version", SUPPORTED_GO)
def test_stripped(version, tmp_path):
    exe = gmany(version, "stripped")
    res, tb = stop("live", exe, [LIST], tmp_path)
    ours = res.json("c0")
    assert ours.get("allgs", {}).get("found_via") == "bss scan", ours
    _check_states(compare(ours, tb, exe), version)


@pytest.mark.parametrize("version", [SUPPORTED_GO[0], DEFAULT_GO, SUPPORTED_GO[-1]])
@pytest.mark.parametrize("mode", ["live", "core"])
def test_pie_stripped(version, mode, tmp_path):
    exe = gmany(version, "pie-stripped")
    res, tb = stop(mode, exe, [LIST], tmp_path)
    ours = res.json("c0")
    assert ours.get("allgs", {}).get("found_via") == "bss scan", ours
    _check_states(compare(ours, tb, exe), version)


def test_text_filters_and_one_goroutine(tmp_path):
    """The text forms: the table, --running, --own, and one goroutine's whole stack."""
    exe = gmany(DEFAULT_GO)
    res, tb = stop("live", exe, ["go-goroutines", "go-goroutines --running --json", "go-goroutines --own --json",
                                 "go-goroutines 999999", "go-goroutines --json %d" % 1], tmp_path)
    truth = parse(tb)
    table = res.section("c0")
    assert re.search(r"^\*\s+1\s+running\s+LWP \d+\s+main\.main main\.go:\d+", table, re.M), table
    assert "syscall, cgo" in table and "chan receive, locked" in table
    running = res.json("c1")["goroutines"]
    assert {g["id"] for g in running} == {i for i, t in truth.items() if i and t.status in ("running", "syscall")}
    own = res.json("c2")["goroutines"]
    assert own and all(not g["system"] and (g["top"]["package"] == "main" if g["top"] else
                                            g["start"].startswith("main.") and g["stack_note"]) for g in own)
    assert sum(1 for g in own if g["top"] is None) == 2  # the spinners: running elsewhere, started in main
    assert {g["id"] for g in own} >= {i for i, t in truth.items() if t.created_by and t.created_by[0].startswith("main.")
                                       and t.status != "running"}
    assert "no goroutine 999999 among the" in res.section("c3")
    one = res.json("c4")["goroutines"]
    assert len(one) == 1 and one[0]["frames"][-1]["function"] == "runtime.main"


def test_errors_are_one_line():
    """No process, bad options, a goroutine that is not there: one line each, never a traceback."""
    exe = gmany(DEFAULT_GO)
    res = run_gdb(["load_plugin", "run_commands"], exe, commands=["go-goroutines", "go-goroutines --json",
                                                                  "go-goroutines --depth 0", "go-goroutines x"])
    for i in range(4):
        text = res.section("c%d" % i).strip()
        assert len(text.splitlines()) == 1 and "Traceback" not in text and "internal error" not in text, text
    assert res.section("c0").startswith("go-goroutines: ")
    assert '"error"' in res.section("c1")


def test_remote_packets_touch_no_other_thread(tmp_path):
    """Over gdbserver (rr's stub speaks the same protocol): what go-goroutines makes gdb send is memory reads
    and reads of the selected thread's own state only: no thread switch (Hg/Hc), no resume, no write, no
    breakpoint, so rr's stub is never asked for a thread it would assert on."""
    import re as _re
    exe = gmany(DEFAULT_GO)
    log = tmp_path / "packets.log"
    with gdbserver(exe, ARGS, env=dict(INFERIOR_ENV)) as addr:
        res = run_gdb(["remote_stop_ioctl_entry", "load_plugin", "remote_packets"], exe,
                      env={"GDBT_REQUEST": REQUEST, "GDBT_REMOTE": addr, "GDBT_PACKETS_LOG": str(log),
                           "GDBT_PACKETS_CMD": "go-goroutines --stacks"})
    assert "END packets" in res.output, res.output[-3000:]
    sent = _re.findall(r"Sending packet: \$([^#]*)#", log.read_text(errors="replace"))
    kinds = {p[:1] for p in sent}
    assert sent and "m" in kinds, sent[:20]
    bad = [p for p in sent if p[:1] in ("H", "c", "s", "C", "S", "M", "X", "G", "P", "Z", "z", "T")
           or p.startswith(("vCont", "vFile:open", "qThreadExtraInfo"))]
    assert not bad, bad[:10]
