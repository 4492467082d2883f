"""Fuzz and damage: go-goroutines' analysis (go_runtime/allgs.py) over a real core of tests/fixtures/go/gmany
written at its stop, with memory damaged behind the Target seam: allgs' header (a huge length, an array
pointer into nowhere), its entries (pointers into nowhere, repeats), the gs (a status out of range, a saved
context that does not unwind) and random bytes anywhere in them.

Property (tests/support/fuzz.py): a result or one clear UserError line, within the cap; for damage to one
entry, that entry is one line in `problems` and every other goroutine is still listed; the work done does
not grow with a damaged length (counted in reads, not timed).
"""
from __future__ import annotations

import struct
from typing import Dict, List

import pytest
from hypothesis import given, strategies as st

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.go_runtime import allgs as allgs_mod
from gdb_rr_dmabuf.go_runtime.allgs import analyse_goroutines, find_allgs
from gdb_rr_dmabuf.go_runtime.binary import GoBinary, load_bias
from gdb_rr_dmabuf.go_runtime.layouts import layout_for
from gdb_rr_dmabuf.target_core import CoreTarget
from tests.support.cores import make_core
from tests.support.fuzz import check, settings_for
from tests.support.patched import Patched
from tests.support.toolchains import DEFAULT_GO, build_go

from tests.support.fuzz import figures_saved_after_module  # noqa: E402,F401  (writes the figures)

SYS_IOCTL = 16
REQUEST = 0x7a7a


@pytest.fixture(scope="module")
def stop():
    exe = build_go("gmany", DEFAULT_GO)
    core, out = make_core(exe, ["catch syscall ioctl", "condition $bpnum $rsi == %d" % REQUEST, "run 20 3"],
                          env={"GODEBUG": "asyncpreemptoff=1"})
    t = CoreTarget(str(core), executable=str(exe))
    sel = [th.tid for th in t.threads if th.regs.get("orig_rax") == SYS_IOCTL and th.regs.get("rsi") == REQUEST]
    assert len(sel) == 1, out[-2000:]
    t.select_thread(sel[0])
    b = GoBinary.open(str(exe))
    layout, _ = layout_for(b.go_version, t.arch)
    loc = find_allgs(t, b, layout, load_bias(b, t.auxv()))
    ptr, n, cap = struct.unpack("<QQQ", t.read(loc.slice_addr, 24))
    entries = list(struct.unpack("<%dQ" % n, t.read(ptr, 8 * n)))
    intact = analyse_goroutines(t, include_dead=True)
    assert not intact.problems and intact.total == n
    return dict(core=t, loc=loc, ptr=ptr, n=n, entries=entries, layout=layout, intact=intact)


def _ids(rep) -> set:
    return {g.id for g in rep.goroutines}


def _run(stop, patches, **kw):
    t = Patched(stop["core"], patches)
    return t, analyse_goroutines(t, include_dead=True, **kw)


@pytest.mark.parametrize("length", [10 ** 4, 1 << 20, 1 << 40, (1 << 64) - 1])
def test_huge_length_is_bounded(stop, length):
    """allgs' length and allglen both damaged: the real entries are listed, the walk ends after a run of
    impossible entries, and the reads done do not depend on the claimed length."""
    loc = stop["loc"]
    patches = {loc.slice_addr + 8: struct.pack("<QQ", length, length)}
    if loc.allglen_addr:
        patches[loc.allglen_addr] = struct.pack("<Q", length)
    t, rep = _run(stop, patches)
    assert _ids(stop["intact"]) <= _ids(rep)
    assert rep.problems and all("\n" not in p for p in rep.problems)
    assert t.reads < 2000, t.reads
    if length >= 1 << 20:
        assert any("claims" in p or "not readable" in p or "skipped" in p for p in rep.problems), rep.problems


def test_length_disagrees_with_allglen(stop):
    loc = stop["loc"]
    patches = {loc.slice_addr + 8: struct.pack("<Q", stop["n"] + 5000)}
    _, rep = _run(stop, patches)
    assert _ids(rep) == _ids(stop["intact"])
    assert any("runtime.allglen says %d" % stop["n"] in p for p in rep.problems), rep.problems


def test_array_pointer_into_nowhere(stop):
    loc = stop["loc"]
    for bad in (0, 0x10, 0x7ff000000000, 0xdead_0000_0001):
        with pytest.raises(UserError) as ei:
            _run(stop, {loc.slice_addr: struct.pack("<Q", bad)})
        assert "\n" not in str(ei.value) and "allgs" in str(ei.value)


@pytest.mark.parametrize("bad", [0, 0x18, 0x7ff000000000, 0xffff_ffff_ffff_fff8])
def test_entry_into_nowhere(stop, bad):
    """One entry damaged: one problem line naming it, every other goroutine still listed."""
    i = stop["n"] // 2
    victim = stop["entries"][i]
    _, rep = _run(stop, {stop["ptr"] + 8 * i: struct.pack("<Q", bad)})
    gone = {g.id for g in stop["intact"].goroutines if g.address == victim}
    assert _ids(rep) == _ids(stop["intact"]) - gone
    assert len(rep.problems) == 1 and ("entry %d" % i) in rep.problems[0], rep.problems


def test_repeated_entries_shown_once(stop):
    """A 'cycle': entries that point back at earlier gs (here the second half repeats the first)."""
    n, ptr, entries = stop["n"], stop["ptr"], stop["entries"]
    half = n // 2
    patch = struct.pack("<%dQ" % (n - half), *[entries[k % half] for k in range(n - half)])
    _, rep = _run(stop, {ptr + 8 * half: patch})
    first = {g.id for g in stop["intact"].goroutines if g.address in set(entries[:half])}
    assert _ids(rep) == first
    assert len({g.address for g in rep.goroutines}) == len(rep.goroutines)
    assert any("repeats entry" in p for p in rep.problems)


def test_status_out_of_range(stop):
    layout = stop["layout"]
    victim = next(g for g in stop["intact"].goroutines if g.state == "chan receive")
    _, rep = _run(stop, {victim.address + layout.g["atomicstatus"]: struct.pack("<I", 0x77)})
    assert _ids(rep) == _ids(stop["intact"]) - {victim.id}
    assert len(rep.problems) == 1 and "status 0x77 is not a goroutine status" in rep.problems[0]


def test_stack_that_does_not_unwind(stop):
    """A waiting goroutine whose saved pc is in no function: listed, with one line saying so."""
    layout = stop["layout"]
    victim = next(g for g in stop["intact"].goroutines if g.state == "select")
    _, rep = _run(stop, {victim.address + layout.sched("pc"): struct.pack("<Q", 0x1000)}, stacks=True)
    assert _ids(rep) == _ids(stop["intact"])
    row = next(g for g in rep.goroutines if g.id == victim.id)
    assert row.problem and "does not unwind" in row.problem and "\n" not in row.problem
    others = [g for g in rep.goroutines if g.problem and g.id != victim.id]
    assert not others, [g.problem for g in others]


@settings_for(150)
@given(data=st.data())
def test_random_damage(stop, data):
    """Random bytes over the allgs header, its array and the gs: a result or one line, within the cap."""
    n, ptr, loc, layout = stop["n"], stop["ptr"], stop["loc"], stop["layout"]
    gsize = allgs_mod.g_read_size(layout)
    patches: Dict[int, bytes] = {}
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.sampled_from(["header", "array", "g"]))
        if where == "header":
            base, span = loc.slice_addr, 24
        elif where == "array":
            base, span = ptr, 8 * n
        else:
            base, span = stop["entries"][data.draw(st.integers(0, n - 1))], gsize
        off = data.draw(st.integers(0, span - 1))
        width = data.draw(st.sampled_from([1, 4, 8]))
        val = data.draw(st.sampled_from([0, 1, 0xFF, 0x7FFFFFFF, (1 << 63) + 1, (1 << 64) - 1, None]))
        raw = (data.draw(st.binary(min_size=width, max_size=width)) if val is None
               else (val & ((1 << (8 * width)) - 1)).to_bytes(width, "little"))
        patches[base + off] = raw
    check("goroutines", lambda: _run(stop, patches)[1],
          warned=lambda rep: bool(rep.problems or rep.warnings or any(g.problem for g in rep.goroutines)))
