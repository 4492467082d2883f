"""tests/fixtures/go/gmany (hundreds of goroutines parked in every state, stopped in ioctl(-1, 0x7a7a) on main's
thread): how it is built and run, and go-goroutines' JSON compared with the program's own traceback at the
same stop (tests/support/gotraceback.py). Used on x86-64 (tests/test_goroutines_list.py), on aarch64 under
qemu-user (test_goroutines_list_aarch64.py) and through the imitation of rr's stub
(test_goroutines_list_rrstub.py)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

from tests.support.gotraceback import parse
from tests.support.toolchains import build_go

REQUEST = "0x7a7a"
ARGS = ["20", "3"]          # 20 of each cheap kind, 3 of each kind that holds a thread
INFERIOR_ENV = {"GODEBUG": "asyncpreemptoff=1", "GOTRACEBACK": "all"}


def gmany(version: str, variant: str = "default") -> Path:
    """The fixture built by `version`; 'stripped' is `strip --strip-all` of the default build (what
    -ldflags=-s does to a binary: no .symtab), 'pie-stripped' a -buildmode=pie -s -w build."""
    if variant == "pie-stripped":
        return build_go("gmany", version, pie=True, stripped=True)
    exe = build_go("gmany", version)
    if variant == "default":
        return exe
    out = exe.parent / "gmany-stripped"
    if not out.exists():
        tmp = exe.parent / ("gmany-stripped.tmp%d" % os.getpid())
        subprocess.run(["strip", "--strip-all", "-o", str(tmp), str(exe)], check=True)
        tmp.rename(out)
    return out


def _frames(frames: List[dict]) -> List[Tuple[str, str, int]]:
    return [(f["function"], os.path.basename(f["file"] or "?"), f["line"]) for f in frames
            if f["kind"] == "go" and f["function"] != "runtime.goexit"]


def _wrappers(exe: Path) -> set:
    """Names of the compiler's wrapper functions (funcID wrapper: gowrap, method values...): Go's traceback
    shows them at level 2 (a signal's), at level 1 and in go-goroutines they are hidden."""
    from gdb_rr_dmabuf.go_runtime.binary import GoBinary
    from gdb_rr_dmabuf.go_runtime.pclntab import FUNCID_WRAPPER
    tab = GoBinary.open(str(exe)).pclntab
    return {f.name for f in tab.funcs() if f.func_id == FUNCID_WRAPPER}


def compare(ours: dict, traceback: str, exe: Path) -> Dict[str, int]:
    """Every goroutine of the traceback against ours (and no other live one); returns the states seen."""
    assert "error" not in ours, ours
    truth = parse(traceback)
    wrappers = _wrappers(exe)
    assert len(truth) > 100, traceback[-3000:]
    assert not ours["problems"], ours["problems"]
    rows = {g["id"]: g for g in ours["goroutines"]}
    live = {i for i, g in rows.items() if g["status"] not in ("dead", "idle")}
    assert set(truth) - {0} == live, (sorted(set(truth) - live), sorted(live - set(truth)))
    states: Dict[str, int] = {}
    for goid, t in truth.items():
        if goid == 0:
            continue  # g0 of the thread that took the signal
        g = rows[goid]
        where = "goroutine %d" % goid
        if t.gp is not None:  # Go 1.23+ prints gp= at level 2
            assert g["address"] == t.gp, where
        if g["system"] and t.status == "runnable" and g["status"] == "waiting":
            # The runtime's own goroutines are woken by sysmon and timers on their own schedule (seen: the
            # scavenger, readied after the resume); no P is free to run it, so its frames are still those
            # of the stop. Every goroutine of the program keeps its state.
            pass
        else:
            assert g["state"] == t.status, (where, g["state"], t.status)
        assert g["locked_to_thread"] == t.locked, where
        if t.m is not None:
            assert g["m"] is not None and g["m"]["id"] == t.m, (where, g["m"], t.m)
        if t.created_by is not None:
            cb = g["created_by"]
            assert cb is not None, where
            assert (cb["function"], os.path.basename(cb["file"]), cb["line"]) == (
                t.created_by[0], os.path.basename(t.created_by[2]), t.created_by[3]), (where, cb, t.created_by)
            if t.created_by[1] is not None:
                assert g["parent_id"] == t.created_by[1], where
        else:
            assert g["created_by"] is None, where
        key = t.status + (", locked" if t.locked else "") + (", cgo" if g["in_cgo"] else "")
        states[key] = states.get(key, 0) + 1
        if t.status == "running":
            # Go prints no stack of a goroutine running on another thread (nor do we: no registers of
            # another thread); the one on the signal's thread moved on past the stop.
            assert g["selected"] or g["stack_note"], where
            continue
        assert _frames(g["frames"]) == [(f, os.path.basename(p), ln) for f, p, ln in t.frames
                                        if f != "runtime.goexit" and f not in wrappers], where
        assert g["stack_from"] == ("syscall" if t.status == "syscall" else "sched"), where
    return states
