"""Finding the current goroutine (go_runtime/goroutines.py) in real processes, through core files that
real gdb wrote at `catch syscall ioctl` (tests/support/cores.py), and on garbage memory.

Ground truth comes from the program itself (tests/fixtures/go/gstates prints its goroutine id, parsed
from runtime.Stack, and its thread id before the ioctl), from the core file (which thread stopped in
ioctl(9999, ...), the thread ids) and from the binary's pclntab (where worker.run and worker.Start are).
"""
from __future__ import annotations

import random
import re
import struct
from typing import Optional, Tuple

import pytest

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.go_runtime.binary import GoBinary, load_bias
from gdb_rr_dmabuf.go_runtime.goroutines import (CurrentG, current_goroutine, read_g, read_m, tls_g_slot,
                                                 validate_g)
from gdb_rr_dmabuf.go_runtime.layouts import KNOWN, layout_for, parse_go_version
from gdb_rr_dmabuf.target import ARCH_AARCH64, ARCH_X86_64
from gdb_rr_dmabuf.target_core import CoreTarget
from gdb_rr_dmabuf.target_memory import MemoryTarget
from tests.support.gstates import Stop, get_stop
from tests.support.toolchains import DEFAULT_GO, SUPPORTED_GO, build_go


def analyse(stop: Stop, tid: Optional[int] = None) -> Tuple[CurrentG, CoreTarget, int]:
    t = CoreTarget(stop.core, executable=stop.exe)
    t.select_thread(tid if tid is not None else stop.stopped_tid)
    b = stop.binary
    layout, warning = layout_for(b.go_version, b.arch)
    assert warning is None
    bias = load_bias(b, t.auxv())
    return current_goroutine(t, b, layout, bias), t, bias


def func_name(binary: GoBinary, pc: int, bias: int) -> Optional[str]:
    f = binary.pclntab.func_for_pc(pc - bias)
    return f.name if f is not None else None


def check_worker_goroutine(stop: Stop, g, bias: int) -> None:
    """The goroutine that worker.Start started (to run worker.run), created by the main goroutine."""
    assert g.goid == stop.goid
    assert g.status_name == "syscall"
    # `go run(mode, done)` starts a compiler-made wrapper: Start.func2 (1.21), Start.gowrap1 (1.22+).
    start = stop.binary.pclntab.func_for_pc(g.startpc - bias)
    assert start.entry + bias == g.startpc
    # (1.19: a closure Start.funcN as well.)
    assert re.match(r"gstates/worker\.Start\.(func\d+|gowrap1)$", start.name), start.name
    assert func_name(stop.binary, g.gopc, bias) == "gstates/worker.Start"
    if parse_go_version(stop.binary.go_version) >= (1, 21):
        assert g.parent_goid == 1  # main.main runs on goroutine 1 and calls worker.Start
    else:
        assert g.parent_goid is None  # g.parentGoid is 1.21's
    assert g.lockedm == g.m  # worker.run called runtime.LockOSThread
    assert g.stack_lo < g.syscallsp < g.stack_hi
    size = g.stack_hi - g.stack_lo  # a goroutine stack: 2 KB at least, a power of two, small here
    assert 2048 <= size <= 1 << 20 and size & (size - 1) == 0, size


# Builds of the fixture: the default (cgo, since the fixture has C code; external linking), and
# pure Go (CGO_ENABLED=0: static, internal linking, no PT_TLS).
CGO = {}
NOCGO = {"cgo": False}


# Go 1.23.4 in every build flavour -------------------------------------------------------------------

FLAVOURS = [
    ("default", CGO, "tls"),
    ("stripped", dict(stripped=True), "tls-scan"),  # no runtime.tlsg symbol: scan the TLS block
    ("pie", dict(pie=True), "tls"),
    ("nocgo", NOCGO, "tls"),  # no PT_TLS: -8(FS)
    ("nocgo-stripped", dict(NOCGO, stripped=True), "tls"),
    ("nocgo-pie", dict(NOCGO, pie=True), "tls"),
]


@pytest.mark.parametrize("name,flags,via", FLAVOURS, ids=[f[0] for f in FLAVOURS])
def test_goroutine_in_a_go_syscall(name, flags, via):
    stop = get_stop(DEFAULT_GO, "go", **flags)
    assert stop.goid is not None and stop.go_tid == stop.stopped_tid
    cur, t, bias = analyse(stop)
    assert cur.kind == "goroutine", cur
    assert cur.found_via == via
    assert cur.thread_g is cur.g
    assert not cur.in_cgo and not cur.on_system_stack
    check_worker_goroutine(stop, cur.g, bias)
    assert func_name(stop.binary, cur.g.syscallpc, bias) == "syscall.Syscall"
    assert cur.m.procid == stop.stopped_tid
    assert cur.g.m == cur.m.addr and cur.m.curg == cur.g.addr
    assert cur.m.ncgo == 0 and not cur.m.incgo
    assert cur.g.stack_lo <= t.registers()["rsp"] < cur.g.stack_hi
    assert cur.warnings == [] and not cur.extra_m


CGO_FLAVOURS = [f for f in FLAVOURS if not f[0].startswith("nocgo")]


@pytest.mark.parametrize("name,flags,via", CGO_FLAVOURS, ids=[f[0] for f in CGO_FLAVOURS])
def test_goroutine_in_a_cgo_call(name, flags, via):
    stop = get_stop(DEFAULT_GO, "cgo", **flags)
    assert stop.go_tid == stop.stopped_tid
    cur, t, bias = analyse(stop)
    assert cur.kind == "g0", cur
    assert cur.found_via == via
    assert cur.in_cgo and cur.on_system_stack
    assert cur.thread_g.goid == 0 and cur.thread_g.addr == cur.m.g0
    assert cur.g is not None and cur.g.addr == cur.m.curg
    check_worker_goroutine(stop, cur.g, bias)
    assert func_name(stop.binary, cur.g.syscallpc, bias) == "runtime.cgocall"
    assert cur.m.ncgo >= 1 and cur.m.incgo
    assert cur.m.procid == stop.stopped_tid
    # C runs on the thread's system stack, whose bounds g0 records.
    assert cur.thread_g.stack_lo <= t.registers()["rsp"] < cur.thread_g.stack_hi
    assert cur.warnings == []


@pytest.mark.parametrize("name,flags,via", CGO_FLAVOURS, ids=[f[0] for f in CGO_FLAVOURS])
def test_c_thread_is_no_go(name, flags, via):
    stop = get_stop(DEFAULT_GO, "cthread", **flags)
    assert stop.go_tid != stop.stopped_tid
    cur, _, _ = analyse(stop)
    assert cur.kind == "no-go"
    assert cur.thread_g is None and cur.g is None and cur.m is None
    assert not cur.in_cgo
    assert cur.found_via == ""


@pytest.mark.parametrize("version", [DEFAULT_GO, "1.26.6"])  # 1.26 added _Gdeadextra for extra Ms
def test_c_thread_after_a_go_callback(version):
    """A C thread that called an exported Go function keeps its extra M; back in C it runs for no
    goroutine, and m.curg is the goroutine that ran the callback (printed as CBGOID)."""
    stop = get_stop(version, "callback")
    cur, t, bias = analyse(stop)
    cb_goid = int(re.search(r"^CBGOID (\d+)$", stop.out, re.M).group(1))
    cb_tid = int(re.search(r"^CBTID (\d+)$", stop.out, re.M).group(1))
    assert cb_tid == stop.stopped_tid != stop.go_tid
    assert (cur.kind, cur.found_via, cur.extra_m, cur.in_cgo, cur.on_system_stack) == ("g0", "tls", True, True, True)
    assert cur.g is None
    assert cur.m.is_extra_in_c and cur.m.procid == cb_tid
    layout = layout_for(stop.binary.go_version, "x86-64")[0]
    assert read_g(t, layout, cur.m.curg).goid == cb_goid
    assert any(str(cb_goid) in w for w in cur.warnings)


@pytest.mark.parametrize("name,flags", [("default", CGO), ("stripped", dict(stripped=True))])
def test_every_go_thread_of_the_process_has_its_own_m(name, flags):
    """Every thread of the core that is in Go code resolves to a g whose M names that very thread; so
    does any other thread that resolves at all (threads in libc: the main thread in pthread_join on
    g0, or a new M still in its C start-up, which has no g in TLS yet and is rightly 'no-go', or has
    one but no procid yet)."""
    stop = get_stop(DEFAULT_GO, "cthread", **flags)
    t = CoreTarget(stop.core, executable=stop.exe)
    assert len(t.threads) >= 3
    resolved = 0
    for th in t.threads:
        cur, _, bias = analyse(stop, th.tid)
        if th.tid == stop.stopped_tid:
            assert cur.kind == "no-go"
            continue
        if func_name(stop.binary, th.regs["rip"], bias) is not None:
            assert cur.kind in ("goroutine", "g0"), (th.tid, cur)
        if cur.kind == "no-go":
            continue
        if cur.m.procid == 0:  # a new M before minit() has set procid: idle on g0, no curg
            assert cur.kind == "g0" and cur.m.curg == 0, (th.tid, cur)
            continue
        resolved += 1
        assert cur.m.procid == th.tid, (th.tid, cur)
        if cur.g is not None:
            assert cur.g.m == cur.m.addr
    assert resolved >= 2


# Every supported release, default build --------------------------------------------------------------

@pytest.mark.parametrize("version", SUPPORTED_GO)
def test_every_release_go_and_cgo(version):
    stop = get_stop(version, "go")
    cur, _, bias = analyse(stop)
    assert (cur.kind, cur.found_via, cur.in_cgo) == ("goroutine", "tls", False), cur
    check_worker_goroutine(stop, cur.g, bias)
    assert cur.m.procid == stop.stopped_tid

    stop = get_stop(version, "cgo")
    cur, _, bias = analyse(stop)
    assert (cur.kind, cur.found_via, cur.in_cgo) == ("g0", "tls", True), cur
    check_worker_goroutine(stop, cur.g, bias)
    assert cur.m.procid == stop.stopped_tid


class _NoFsBase(CoreTarget):
    """A core whose registers lack fs_base, as over a gdb remote that does not send it."""

    def registers(self):
        regs = super().registers()
        regs.pop("fs_base", None)
        return regs


def test_r14_when_fs_base_is_unknown():
    stop = get_stop(DEFAULT_GO, "go")
    t = _NoFsBase(stop.core, executable=stop.exe)
    t.select_thread(stop.stopped_tid)
    layout = layout_for(stop.binary.go_version, "x86-64")[0]
    cur = current_goroutine(t, stop.binary, layout, 0)
    assert (cur.kind, cur.found_via, cur.g.goid) == ("goroutine", "r14", stop.goid)
    assert any("fs_base" in w for w in cur.warnings)


def test_tls_slot_formula_against_the_code():
    """runtime.tlsg's slot (PT_TLS of an externally linked cgo binary with C thread-locals) is the
    %fs offset the linker wrote into the runtime's code: `mov %fs:OFF, %r14` (64 48 8b 34 25 OFF32)."""
    stop = get_stop(DEFAULT_GO, "go")
    b = stop.binary
    assert b.tls is not None and b.tls[1] > 8  # the fixture's C __thread variables are there too
    text = b.section(".text")
    code = bytes(b.read_static(text.addr, text.size))
    offs = {struct.unpack_from("<i", code, m.end())[0] for m in re.finditer(re.escape(b"\x64\x4c\x8b\x34\x25"), code)}
    assert len(offs) == 1, offs
    fs = 0x7F0000000000
    assert tls_g_slot(b, fs, ARCH_X86_64) - fs == offs.pop() != -8


# Garbage ----------------------------------------------------------------------------------------------

LAYOUT = KNOWN[("1.23", "x86-64")]


class _NoTLSBinary:
    tls = None

    def symbol(self, name):
        return None


class _TLSBinary:
    def __init__(self, tls, symbols=None):
        self.tls = tls
        self._symbols = symbols or {}

    def symbol(self, name):
        return self._symbols.get(name)


def test_random_registers_and_memory_give_no_go_or_user_error():
    rnd = random.Random(1234)
    for i in range(300):
        regions = {}
        base = rnd.randrange(1 << 12, 1 << 46) & ~0xFFF
        for j in range(rnd.randrange(0, 4)):
            regions[base + j * 0x10000] = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([16, 512, 4096])))
        regs = {"fs_base": rnd.choice([0, base + 0x100, rnd.getrandbits(64)]),
                "r14": rnd.choice([0, base, base + 8, rnd.getrandbits(64)]),
                "rsp": rnd.getrandbits(64)}
        t = MemoryTarget(regions, regs)
        binary = rnd.choice([None, _NoTLSBinary(), _TLSBinary((0x1000, 0x40, 0x40)),
                             _TLSBinary((0x1000, 0x40, 0x40), {"runtime.tlsg": 8}),
                             _TLSBinary((0x1000, 1 << 40, 8))])
        try:
            cur = current_goroutine(t, binary, LAYOUT, 0)
        except UserError:
            continue
        assert cur.kind == "no-go", (i, cur)
        assert t.reads < 1200, (i, t.reads)


def test_random_aarch64_registers():
    rnd = random.Random(99)
    for _ in range(100):
        t = MemoryTarget({0x10000: bytes(rnd.getrandbits(8) for _ in range(4096))},
                         {"x28": rnd.choice([0x10000, 0x10008, rnd.getrandbits(64)]), "sp": 0,
                          "tpidr": rnd.choice([0, 0x10000])}, arch=ARCH_AARCH64)
        cur = current_goroutine(t, _TLSBinary((0, 16, 8), {"runtime.tls_g": 0}),
                                KNOWN[("1.23", "aarch64")], 0)
        assert cur.kind == "no-go"


def test_read_g_rejects_non_pointers():
    t = MemoryTarget({0x10000: bytes(4096)}, {})
    for bad in (0, 8, 0x10001, 1 << 63):
        with pytest.raises(UserError):
            read_g(t, LAYOUT, bad)
    with pytest.raises(UserError):
        read_g(t, LAYOUT, 0x20000)  # unmapped
    assert not validate_g(t, LAYOUT, 0x10000)  # all zeros: no stack
    assert not validate_g(t, LAYOUT, 0x20000)


# A synthetic process (memory built from the layout table, for what no machine here can run) -----------

def _put(buf: bytearray, off: int, value: int, width: int = 8) -> None:
    buf[off:off + width] = value.to_bytes(width, "little")


def _fake_process(layout, *, thread_g: str, curg_status: int = 3, ncgo: int = 0, broken_backptr: bool = False):
    """An M with g0, gsignal and curg, laid out at fixed addresses; returns (regions, addresses)."""
    M, G0, GS, CURG = 0x100000, 0x200000, 0x300000, 0x400000
    mbuf = bytearray(2048)
    _put(mbuf, layout.m["g0"], G0)
    _put(mbuf, layout.m["gsignal"], GS)
    _put(mbuf, layout.m["curg"], 0 if broken_backptr else CURG)
    _put(mbuf, layout.m["procid"], 4242)
    _put(mbuf, layout.m["id"], 3)
    _put(mbuf, layout.m["ncgo"], ncgo, 4)
    mbuf[layout.m["incgo"]] = 1 if ncgo else 0
    regions = {M: bytes(mbuf)}
    for addr, goid, status, lo, size in ((G0, 0, 0, 0x7F0000000000, 8 << 20), (GS, 0, 0, 0x7F1000000000, 32768),
                                         (CURG, 77, curg_status, 0xC000100000, 8192)):
        g = bytearray(layout.sizes["g"])
        _put(g, layout.g["stack.lo"], lo)
        _put(g, layout.g["stack.hi"], lo + size)
        _put(g, layout.g["m"], M)
        _put(g, layout.g["atomicstatus"], status, 4)
        _put(g, layout.g["goid"], goid)
        _put(g, layout.sched("g"), addr)
        regions[addr] = bytes(g)
    return regions, {"g0": G0, "gsignal": GS, "goroutine": CURG}[thread_g]


@pytest.mark.parametrize("kind", ["g0", "gsignal", "goroutine"])
def test_arm64_r28(kind):
    layout = KNOWN[("1.25", "aarch64")]
    regions, addr = _fake_process(layout, thread_g=kind, ncgo=1 if kind == "g0" else 0)
    sp = {"g0": 0x7F0000000100, "gsignal": 0x7F1000000100, "goroutine": 0xC000100100}[kind]
    t = MemoryTarget(regions, {"x28": addr, "sp": sp}, arch=ARCH_AARCH64)
    cur = current_goroutine(t, None, layout, 0)
    assert cur.found_via == "r28"
    assert cur.kind == kind
    assert cur.g.goid == 77 and cur.m.procid == 4242
    assert cur.on_system_stack == (kind != "goroutine")
    assert cur.in_cgo == (kind == "g0")


def test_g0_without_a_valid_curg_has_no_goroutine():
    regions, addr = _fake_process(LAYOUT, thread_g="g0", broken_backptr=True)
    t = MemoryTarget(regions, {"r14": addr, "fs_base": 0, "rsp": 0x7F0000000100})
    cur = current_goroutine(t, None, LAYOUT, 0)
    assert cur.kind == "g0" and cur.g is None and not cur.in_cgo and cur.found_via == "r14"


def test_g_that_its_m_does_not_know_is_rejected():
    regions, addr = _fake_process(LAYOUT, thread_g="goroutine", broken_backptr=True)
    t = MemoryTarget(regions, {"r14": addr, "fs_base": 0})
    assert not validate_g(t, LAYOUT, addr)
    assert current_goroutine(t, None, LAYOUT, 0).kind == "no-go"


def test_read_m_fields():
    regions, _ = _fake_process(LAYOUT, thread_g="g0", ncgo=2)
    m = read_m(MemoryTarget(regions, {}), LAYOUT, 0x100000)
    assert (m.g0, m.gsignal, m.curg, m.procid, m.id, m.ncgo, m.incgo) == (0x200000, 0x300000, 0x400000, 4242, 3, 2,
                                                                        True)


# Quiet wrong answers, checked at a real stop -----------------------------------------------------------
# The demo (cgo path) stopped by real gdb where rr stops; tests/gdb_scripts/damaged_callers.py runs the
# analysis through a Target that damages what it reads. Ground truth: the goroutine id the program
# printed, and gdb's own native frames (which reach runtime.asmcgocall, Go code).

@pytest.fixture(scope="module")
def damaged_runs():
    import json as _json
    import tempfile
    from pathlib import Path
    from tests.support.gdbrun import run_gdb
    hows = ["zero-tls", "zero-tls-bad-m", "curg-is-g0", "stack-hi", "bad-fs-base"]
    exe = build_go("demo", DEFAULT_GO)
    with tempfile.TemporaryDirectory(prefix="damaged-") as tmp:
        log = Path(tmp) / "program.log"
        res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], exe, args=[">" + str(log), "2>&1"],
                      env={"GDBT_REQUEST": "0xc0086202"},
                      inferior_env={"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"},
                      commands=["go-callers --json", "bt", "source tests/gdb_scripts/damaged_callers.py"]
                      + ["damaged-go-callers " + h for h in hows])
        out = log.read_text(errors="replace")
    goid = int(re.search(r"^DEMO goroutine (\d+) \[running\]:$", out, re.M).group(1))
    runs = {h: _json.loads(re.search(r"^DAMAGED (.*)$", res.section("c%d" % (3 + i)), re.M).group(1))
            for i, h in enumerate(hows)}
    return goid, res.json("c0"), res.section("c1"), runs


def test_undamaged_is_the_programs_goroutine(damaged_runs):
    goid, good, bt, _ = damaged_runs
    assert good["goroutine"]["id"] == goid and good["thread"]["kind"] == "g0" and good["thread"]["in_cgo"]
    assert good["unwind"]["complete"] and good["unwind"]["end_checked"]
    assert "runtime.asmcgocall" in bt  # gdb's own unwind reaches Go code


@pytest.mark.parametrize("how", ["zero-tls", "bad-fs-base"])
def test_zeroed_tls_finds_g_where_asmcgocall_saved_it(damaged_runs, how):
    goid, good, _, runs = damaged_runs
    j = runs[how]
    assert j["thread"]["found_via"] == "stack" and j["thread"]["kind"] == "g0" and j["thread"]["in_cgo"]
    assert j["goroutine"]["id"] == goid
    assert [f["function"] for f in j["frames"]] == [f["function"] for f in good["frames"]]
    assert any("asmcgocall saved" in w for w in j["warnings"]), j["warnings"]


def test_damaged_m_is_not_called_a_c_thread(damaged_runs):
    _, _, _, runs = damaged_runs
    j = runs["zero-tls-bad-m"]
    assert j["thread"]["kind"] == "unknown" and j["goroutine"] is None
    assert any("native frames reach Go code (runtime.asmcgocall" in w and "not a thread created by C" in w
               for w in j["warnings"]), j["warnings"]


def test_curg_that_is_g0_is_no_goroutine_0(damaged_runs):
    _, _, _, runs = damaged_runs
    j = runs["curg-is-g0"]
    assert j["goroutine"] is None
    assert any("is the M's own g0" in w for w in j["warnings"]), j["warnings"]


def test_goexit_off_the_stack_top_is_not_complete(damaged_runs):
    goid, good, _, runs = damaged_runs
    j = runs["stack-hi"]
    assert j["goroutine"]["id"] == goid
    assert [f["function"] for f in j["frames"]] == [f["function"] for f in good["frames"]]
    assert not j["unwind"]["complete"] and not j["unwind"]["end_checked"]
    assert any("not at the stack's top" in w for w in j["warnings"]), j["warnings"]


# The same heuristics on synthetic memory (arm64 too) ----------------------------------------------------

@pytest.mark.parametrize("arch,layout_key", [(ARCH_X86_64, ("1.19", "x86-64")), (ARCH_AARCH64, ("1.20", "aarch64"))])
def test_stack_candidate_when_tls_and_register_fail(arch, layout_key):
    layout = KNOWN[layout_key]
    regions, _ = _fake_process(layout, thread_g="g0", ncgo=1)
    regs = {"r14": 0, "fs_base": 0, "rsp": 0x7F0000000100} if arch == ARCH_X86_64 else \
        {"x28": 0, "tpidr": 0, "sp": 0x7F0000000100}
    t = MemoryTarget(regions, regs, arch=arch)
    assert current_goroutine(t, None, layout, 0).kind == "no-go"
    cur = current_goroutine(t, None, layout, 0, stack_candidates=[0x1234, 0x400000])
    assert cur.kind == "g0" and cur.found_via == "stack" and cur.g.goid == 77 and cur.in_cgo
    assert cur.thread_g is not None and cur.thread_g.addr == 0x200000


def test_curg_equal_to_g0_on_synthetic_memory():
    regions, addr = _fake_process(LAYOUT, thread_g="g0")
    m = bytearray(regions[0x100000])
    _put(m, LAYOUT.m["curg"], 0x200000)
    regions[0x100000] = bytes(m)
    cur = current_goroutine(MemoryTarget(regions, {"r14": addr, "fs_base": 0, "rsp": 0x7F0000000100}), None,
                            LAYOUT, 0)
    assert cur.kind == "g0" and cur.g is None
    assert any("M's own g0" in w for w in cur.warnings)
