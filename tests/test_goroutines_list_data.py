"""go-goroutines' data and JSON, without gdb: Go's wait-reason and status strings per release
(gdb_rr_dmabuf/go_runtime/waitreasons.json) read again from each release's own runtime source (the GOROOT
the tests install), the nearest-release fallback, and the --json object against the README."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from gdb_rr_dmabuf.go_runtime import allgs
from tests.support.toolchains import SUPPORTED_GO, go_root

REPO = Path(__file__).resolve().parents[1]


def _gen():
    spec = importlib.util.spec_from_file_location("gen_waitreasons", str(REPO / "tools" / "gen_waitreasons.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("version", SUPPORTED_GO)
def test_wait_reasons_are_the_release_source(version):
    rel = allgs._tables()["releases"][".".join(version.split(".")[:2])]
    fresh = _gen().parse_runtime(go_root(version) / "src")
    assert rel["wait_reasons"] == fresh["wait_reasons"]
    assert rel["status_strings"] == fresh["status_strings"]
    assert rel["read_from"] == "go" + version
    assert rel["wait_reasons"][0] == "" and "chan receive" in rel["wait_reasons"]


def test_release_fallbacks():
    t, note = allgs.release_strings("go1.23.4")
    assert note is None and allgs.wait_reason_name(t, t["wait_reasons"].index("select")) == "select"
    t20, note = allgs.release_strings("go1.20.3")
    assert t20 is allgs._tables()["releases"]["1.19"] and "1.20" in note and "1.19" in note
    t30, note = allgs.release_strings("go1.30")
    assert t30 is allgs._tables()["releases"]["1.27"] and note
    t18, note = allgs.release_strings("go1.18")
    assert t18 is allgs._tables()["releases"]["1.19"] and note
    assert allgs.wait_reason_name(t, 250) == "waitReason(250)"
    assert allgs.status_word(t, 0x1004) == "waiting" and allgs.status_word(t, 0x77) == "???"
    # The order moved between releases: the same string, different numbers (why it is data per release).
    r19 = allgs._tables()["releases"]["1.19"]["wait_reasons"]
    r27 = allgs._tables()["releases"]["1.27"]["wait_reasons"]
    assert r19.index("chan receive (nil chan)") != r27.index("chan receive (nil chan)")


def test_json_matches_the_readme():
    from gdb_rr_dmabuf.go_runtime.unwind import StackFrame
    from gdb_rr_dmabuf.report import goroutines_json
    top = StackFrame(kind="go", pc=0x401000, sp=0xc000010000, function="main.f", file="/x/main.go", line=3,
                     package="main")
    g = allgs.Goroutine(id=7, address=0xc000001000, status=4, status_name="waiting", state="chan receive", scan=False,
                        wait_reason="chan receive", wait_reason_code=14, waitsince=5, waited_ns=None,
                        locked_to_thread=False, m=0xc000002000, m_id=3, tid=1234, selected=False, system=False,
                        in_cgo=False, start="main.f", created_by={"function": "main.main", "file": "/x/main.go",
                                                                  "line": 9, "pc": 0x401234},
                        parent_id=1, stack_from="sched", top=top, frames=[top])
    rep = allgs.GoroutinesReport(executable="/x/prog", go_version="go1.23.4", tid=1234, selected_id=1,
                                 allgs=0x500000, found_via="symbols", length=1, goroutines=[g], total=1,
                                 counts={"chan receive": 1})
    j = goroutines_json(rep, frames=True)
    text = (REPO / "README.md").read_text()
    i = text.index("`go-goroutines --json`")
    block = text[i:text.index("\n\n", text.index("\n\n", i) + 2)].split("\n", 1)[1]
    documented = set(re.findall(r'(?<![:|] )(?<!\[)"([a-z_]+)"', block)) - {"symbols", "bss", "registers",
                                                                              "syscall", "sched", "none"}

    def keys(o):
        out = set()
        if isinstance(o, dict):
            for k, v in o.items():
                out.add(k)
                out |= keys(v) if k not in ("top", "frames", "counts", "hidden") else set()
        elif isinstance(o, list):
            for v in o:
                out |= keys(v)
        return out

    assert documented == keys(j), (documented ^ keys(j))


@pytest.mark.gdb  # the cores are written by gdb (tests/support/gstates.py)
@pytest.mark.parametrize("mode", ["go", "cgo", "cthread", "callback"])
def test_selected_thread_of_every_kind(mode):
    """gstates' cores (tests/test_goroutines.py): the goroutine of the selected thread is the one the program
    printed (GOID), in a Go syscall or a cgo call; a C thread (with or without an extra M) runs none, and the
    list is read all the same."""
    from gdb_rr_dmabuf.go_runtime.allgs import analyse_goroutines
    from gdb_rr_dmabuf.target_core import CoreTarget
    from tests.support.gstates import get_stop
    from tests.support.toolchains import DEFAULT_GO
    stop = get_stop(DEFAULT_GO, mode)
    t = CoreTarget(stop.core, executable=stop.exe)
    t.select_thread(stop.stopped_tid)
    rep = analyse_goroutines(t)
    assert not rep.problems and rep.total >= 4
    ids = {g.id for g in rep.goroutines}
    if mode in ("go", "cgo"):
        assert rep.selected_id == stop.goid
        sel = [g for g in rep.goroutines if g.selected]
        assert len(sel) == 1 and sel[0].state == "syscall" and sel[0].stack_from == "registers"
        assert sel[0].in_cgo == (mode == "cgo")
        assert sel[0].top is not None and sel[0].top.function.startswith("gstates/worker.")
    else:
        assert rep.selected_id is None and not any(g.selected for g in rep.goroutines)
    assert 1 in ids
