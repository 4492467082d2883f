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

from collections import Counter

from tests.support.gdbrun import gdbserver, run_gdb
from tests.support.gmany import ARGS, INFERIOR_ENV, REQUEST, gmany
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
