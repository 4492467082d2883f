"""go-goroutines at rr's emergency stop, through the imitation of rr's gdbserver (tests/support/rrstub.py) in
each flavour: 5.7.0 with strict=True (touching a thread other than the stop thread asserts, as rr's
Task::regs() does), 5.8.0 and 5.9.0 without (strict, they fail at gdb's first `?` with any Go program, before
any command can run).

gmany is brought to the return of its ioctl by a driver gdb through the imitation, which then disconnects;
the user's gdb connects as rr's "Launch debugger with" line says and lists every goroutine, once through
each flavour at that one stop. The stub must not have asserted (no second "Launch debugger with"), and the
list must be the one gdbserver alone gives at
the same kind of stop, which tests/test_goroutines_list.py checks against the program's own traceback: the
same goroutines by state, own-code frame and creator (ids differ between two runs of the program)."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.support.gdbrun import gdbserver, run_gdb
from tests.support.gmany import ARGS, INFERIOR_ENV, REQUEST, compare, gmany
from tests.support.gmany_aarch64 import NEEDS_QEMU, build, multiarch, qemu_gmany
from tests.support.rrstub import FLAVOURS, RRStub
from tests.support.toolchains import DEFAULT_GO

CMDS = ["go-goroutines --json --stacks", "go-goroutines"]


def _shape(j: dict) -> Counter:
    """The program's own goroutines (the runtime's, e.g. the scavenger, vary between two runs)."""
    return Counter((g["state"], g["locked_to_thread"], g["in_cgo"], g["stack_from"],
                    g["top"]["function"] if g["top"] else g["start"],
                    g["created_by"]["function"] if g["created_by"] else None) for g in j["goroutines"] if not g["system"])


def test_go_goroutines_through_rr_stub_imitation(tmp_path):
    exe = gmany(DEFAULT_GO)
    with gdbserver(exe, ARGS, env=dict(INFERIOR_ENV), log=tmp_path / "plain.log") as addr:
        plain = run_gdb(["remote_stop_ioctl_exit", "load_plugin", "run_commands"], exe,
                        env={"GDBT_REQUEST": REQUEST, "GDBT_REMOTE": addr}, commands=CMDS[:1], timeout=120)
    got = []
    with gdbserver(exe, ARGS, env=dict(INFERIOR_ENV), log=tmp_path / "stub.log") as addr:
        with RRStub(addr, exe=str(exe)) as stub:
            drv = run_gdb(["remote_stop_ioctl_exit", "rr_stub_disconnect"], exe,
                          env={"GDBT_REQUEST": REQUEST, "GDBT_REMOTE": stub.address}, timeout=120)
            assert stub.stop_tid, drv.output[-3000:]
            for flavour in FLAVOURS:    # one drive; 5.7.0 strict, 5.8.0+ without (they end at connect with Go)
                with stub.fresh(flavour, strict=flavour == "5.7.0") as one:
                    got.append((one, run_gdb(["rr_connect", "load_plugin", "run_commands"], exe,
                                             env={"GDBT_REMOTE": one.address, "GDBT_REMOTETIMEOUT": "60"},
                                             commands=CMDS, timeout=180)))
    for one, res in got:
        log = list(one.log)
        assert not one.asserted, (one.flavour, log[-10:])
        assert sum(1 for ln in log if ln == "Launch debugger with") <= 1, log[-10:]
        ours, ref = res.json("c0"), plain.json("c0")
        assert "error" not in ours and "error" not in ref, (ours, ref)
        assert not ours["problems"] and ours["total"] > 200
        sel = [g for g in ours["goroutines"] if g["selected"]]
        assert len(sel) == 1 and sel[0]["stack_from"] == "registers" and sel[0]["top"]["function"] == "main.main"
        assert sel[0]["m"]["tid"] == one.stop_tid
        assert _shape(ours) == _shape(ref), one.flavour
        assert "running on LWP" in res.section("c1") or "running" in res.section("c1")


# ------------------------------------------------------------------------------------------- aarch64

def _sigquit_through(stub) -> bytes:
    """After the rr session: SIGQUIT to the stop thread through the real stub (qemu-user's), the way gdb's
    `signal SIGQUIT` gives it (tests/gdb_scripts/goroutines_sigquit.gdb): the program prints its traceback
    and exits. Signals met on the way are passed on. Returns the real stub's last reply (W: exited)."""
    from tests.support.rrstub import decode_rle
    stub.ask(b"Hcp%x.%x" % (stub.stop_pid, stub.stop_tid))
    reply = decode_rle(stub.ask(b"C03"))
    for _ in range(20):
        m = re.match(rb"[TS]([0-9a-fA-F]{2})", reply)
        if not m:
            break
        reply = decode_rle(stub.ask(b"C" + m.group(1)))
    return reply


@NEEDS_QEMU
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_go_goroutines_through_rr_stub_imitation_on_aarch64(flavour, tmp_path):
    """gmany on aarch64 (qemu-user's stub, tests/support/gmany_aarch64.py) behind the imitation of each rr
    release: rr's aarch64 registers are core + fpu (no tpidr), so g comes from R28. The driver gdb, passed
    through unchanged, lists every goroutine at the stop (plain qemu stub) and leaves; the user's gdb meets
    rr's stub at the same stop and lists them again; then SIGQUIT through the real stub makes the program
    print its own traceback of that stop. Both lists must be the same and agree with the traceback. 5.7.0
    strict: touching any thread but the stop thread asserts, as rr's Task::regs() does; 5.8.0 and 5.9.0
    would assert on gdb's first `?` with any Go program in strict mode (thread_info()), so there the packets
    gdb sent are checked instead: no thread but the stop thread is ever selected."""
    from tests.support.rrstub import parse_thread_id
    exe = build(DEFAULT_GO)
    log = tmp_path / "qemu.out"
    with qemu_gmany(exe, log) as port:
        with RRStub("127.0.0.1:%d" % port, flavour=flavour, strict=flavour == "5.7.0", arch="aarch64",
                    exe=str(exe)) as stub:
            plain = multiarch(["aarch64_stop_in_main", "load_plugin", "run_commands", "rr_stub_disconnect"], exe,
                              {"GDBT_REMOTE": stub.address, "GDBT_CMDS": CMDS[0]}, timeout=180)
            assert stub.stop_tid, plain.output[-3000:]
            res = multiarch(["rr_connect", "load_plugin", "run_commands"], exe,
                            {"GDBT_REMOTE": stub.address, "GDBT_REMOTETIMEOUT": "60",
                             "GDBT_CMDS": ";;".join(CMDS + ["info registers tpidr"])}, timeout=300)
            asserted, rr_log, packets = stub.asserted, list(stub.log), list(stub.packets)
            end = _sigquit_through(stub)
    assert not asserted, rr_log[-10:]
    assert sum(1 for ln in rr_log if ln == "Launch debugger with") == 1, rr_log[-10:]
    assert end[:1] == b"W", end
    selected = [parse_thread_id(p[2:].decode(), stub.stop_pid)[1] for d, p in packets if d == "<" and p[:2] == b"Hg"]
    assert set(selected) <= {0, -1, stub.stop_tid}, selected
    assert "Invalid register `tpidr'" in res.section("c2"), res.section("c2")   # gdb itself: rr serves none
    tb = log.read_text(errors="replace")
    ours, ref = res.json("c0"), plain.json("c0")
    assert "error" not in ours and "error" not in ref, (ours, ref)
    compare(ours, tb, exe)
    assert ours["goroutines"] == ref["goroutines"] and ours["total"] == ref["total"] > 200
    sel = [g for g in ours["goroutines"] if g["selected"]]
    main = int(re.search(r"^MAIN (\d+)$", tb, re.M).group(1))
    assert len(sel) == 1 and sel[0]["id"] == main and sel[0]["stack_from"] == "registers"
    assert sel[0]["top"]["function"] == "main.main" and sel[0]["m"]["tid"] == stub.stop_tid
    assert re.search(r"^\*\s+%d\s+running\s+LWP %d\s+main\.main main\.go:\d+" % (main, stub.stop_tid),
                     res.section("c1"), re.M), res.section("c1")
