"""A stop in rr's page: tests/fixtures/go/rrpage maps `syscall; ret` at 0x70000000 (rr's page, rr_page.S)
and makes DMA_BUF_IOCTL_EXPORT_SYNC_FILE through it from C code called by Go, as a patched syscall site
does under rr (the stop after the call: pc 0x70000002, the return address at [sp]). gdb has no shared
library for that page (rr presents librrpage like a vdso: gdb.solib_name() is None), so it would be taken
for the executable's code. The frame must be named rr's, and the Go caller and the advice must look past it.

Ground truth: the program's own goroutine line, /proc/PID/maps (the page is an anonymous mapping, not the
executable's), gdb's `info symbol $pc` (no symbol) and the C function gdb's own backtrace shows next."""
import re

import pytest

from tests.support.gdbrun import gdbserver, run_gdb
from tests.support.rrstub import FLAVOURS, RRStub
from tests.support.toolchains import build_go

MAPS_CMD = ("python print('GDBT-MAPS', [l.split()[0] for l in open('/proc/%d/maps' % gdb.selected_inferior().pid) "
            "if l.startswith('70000000-')], [len(l.split()) for l in open('/proc/%d/maps' % "
            "gdb.selected_inferior().pid) if l.startswith('70000000-')])")
COMMANDS = ["dmabuf-why --json", "go-callers --json", "bt 3", "info symbol $pc", MAPS_CMD, "go-callers"]


@pytest.fixture(scope="module")
def exe():
    return build_go("rrpage")


def _checks(res, program_out: str):
    assert "Traceback" not in res.output and "internal error" not in res.output
    why, callers = res.json("c0"), res.json("c1")
    assert why["syscall"]["pc"] == 0x70000002 and why["syscall"]["in_rr_page"] is True
    assert (why["syscall"]["result"], why["syscall"]["errno"]) == (-9, "EBADF")
    assert why["rr"]["would_stop"] is True
    # gdb: no symbol at the pc, the C function rrpage_ioctl next; the kernel: an anonymous mapping there
    assert "No symbol matches $pc." in res.section("c3")
    assert re.search(r"^#1 .* in rrpage_ioctl \(", res.section("c2"), re.M), res.section("c2")
    m = re.search(r"^GDBT-MAPS \['70000000-70001000'\] \[5\]$", res.section("c4"), re.M)
    assert m, res.section("c4")     # five fields: no path, not the executable's file
    native = [f for f in callers["frames"] if f["kind"] == "native"]
    assert native[0]["pc"] == 0x70000002 and native[0]["objfile"] == "librrpage.so", native[0]
    assert not any(0x70000000 <= f["pc"] < 0x70001000 for f in native[1:])
    assert native[1]["function"] == "rrpage_ioctl" and native[1]["objfile"].endswith("/rrpage")
    assert re.search(r"^  #0  \?\?\s+librrpage\.so\s+0x70000002$", res.section("c5"), re.M), res.section("c5")
    goid = int(re.search(r"^RRPAGE goroutine (\d+)$", program_out, re.M).group(1))
    assert callers["goroutine"]["id"] == goid
    assert callers["caller"]["function"] == "main.probeThroughPage"
    assert callers["goroutine"]["created_by"]["function"] == "main.main"
    # the advice names the program's C function, never rr's page, as the code that makes the call
    for rep in (why, callers):
        [s] = [s for s in rep["suggestions"] if s["rule_id"] == "go-cgo-ioctl"]
        assert "makes the ioctl itself (rrpage_ioctl)" in s["title"], s["title"]
        assert not any("native frame #0" in e for e in s["evidence"]), s["evidence"]
        assert any(e.startswith("native frame #1 rrpage_ioctl in rrpage") for e in s["evidence"])
        assert "unnamed function" not in s["title"] + s["action"]


def test_native_stop_in_rrs_page(exe):
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], exe, env={"GDBT_REQUEST": "0xc0086202"},
                  commands=COMMANDS)
    _checks(res, res.output)


def test_rr_stub_stop_in_rrs_page(exe, tmp_path):
    """The same stop served by the imitation of rr's gdbserver, driven there once and met through each flavour:
    5.7.0 in its strict mode (reading another thread would end the session; 5.8.0 and later end it at connect
    for any Go program, so they run without it)."""
    log = tmp_path / "program.log"
    got = []
    with gdbserver(exe, log=log) as addr:
        with RRStub(addr, exe=str(exe)) as stub:
            run_gdb(["remote_stop_ioctl_exit", "rr_stub_disconnect"], exe,
                    env={"GDBT_REQUEST": "0xc0086202", "GDBT_REMOTE": stub.address}, timeout=120)
            for flavour in FLAVOURS:
                with stub.fresh(flavour, strict=flavour == "5.7.0") as one:
                    got.append((flavour, one, run_gdb(["rr_connect", "load_plugin", "run_commands"], exe,
                                                      env={"GDBT_REMOTE": one.address, "GDBT_REMOTETIMEOUT": "60"},
                                                      commands=COMMANDS, timeout=120)))
    for flavour, one, res in got:
        assert not one.asserted, (flavour, "\n".join(one.log))
        _checks(res, log.read_text(errors="replace"))
