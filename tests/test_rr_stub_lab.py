"""The lab (real kernel, real Mesa) through the imitation of rr's gdbserver (tests/support/rrstub.py).

- rr's local layout, in the guest: gdbserver, the imitation and gdb 16.3 all run in the VM, as rr's stub
  listens on 127.0.0.1 of the tracee's machine (/proc readable). gdb 16.3 sends no `x` packet to rr's stub
  (it uses `x` only when the stub offers `binary-upload`, which no rr release does: the qSupported reply is
  the same in 5.7.0-5.9.0), so rr 5.8.0's `x` reply, which breaks gdb 16.1 (rr issue #3901), never comes
  up: memory reads work, and our one-line fix stays silent. With rr 5.7.0's "reading another thread ends
  the session", gdb 16.3's connect and the plugin read no other thread.
- The lab's stops over the host's gdb (the tunnelled remote without /proc, tests/fixtures/lab/stops.py's
  "remote" mode) served through the imitation in its 5.7.0, 5.8.0 and 5.9.0 flavours: the same answers.

Ground truth as in test_lab_stops.py: strace -yy in the guest, and the stops.remote() answers through the
guest's plain gdbserver for the comparison."""
import os
import re

import pytest

from tests.fixtures.lab import stops
from tests.support.gdbrun import REPO
from tests.support.lab import lab_vm  # noqa: F401  (the session fixture)
from tests.support.rrstub import FLAVOURS, RRStub

CMDS = ["python print('GDBT-VERSION', gdb.VERSION)", "x/2gx $sp", "dmabuf-why --json", "go-callers --json"]
# For gdb 13 on the host the three flavours answer alike (it never sends `x`; rr's qSupported is the same in
# each; test_rr_stub.py checks where they differ): by default the seed's release only, every one with
# LAB_RR_STUB_FLAVOURS=all (each lab stop costs about a minute). In the guest, one run (rr 5.7.0's strict
# mode) shows both gdb 16.3 facts; LAB_RR_STUB_FLAVOURS=all adds rr 5.8.0's.
ALL = os.environ.get("LAB_RR_STUB_FLAVOURS") == "all"
HOST_FLAVOURS = list(FLAVOURS) if ALL else ["5.8.0"]
GUEST_RUNS = [("5.7.0", True)] + ([("5.8.0", False)] if ALL else [])


def _guest_session(vm, flavour, strict=False):
    exe = stops.exe("demo")
    argv = ["python3", "-B", "-m", "tests.support.rrstub", vm.to_guest(exe), "--flavour", flavour, "--gdb", vm.gdb,
            "--commands", ";;".join(CMDS)]
    for k, v in stops.PROGRAMS["demo"].env.items():
        argv += ["--env", "%s=%s" % (k, v)]
    if strict:
        argv.append("--strict")
    rc, so, se = vm.run(argv, cwd=vm.to_guest(REPO), env={"PYTHONPYCACHEPREFIX": "/tmp/pycache"}, timeout=900)
    assert rc == 0, (so + se)[-4000:]
    return so + se


def _section(out, i):
    m = re.search(r"^BEGIN c%d\n(.*?)^END c%d$" % (i, i), out, re.S | re.M)
    assert m, out[-4000:]
    return m.group(1)


def _json(out, i):
    import json
    text = _section(out, i)
    return json.JSONDecoder().raw_decode(text[text.find("{"):])[0]


@pytest.mark.parametrize("flavour,strict", GUEST_RUNS)
def test_guest_gdb16_at_rrs_stub(lab_vm, flavour, strict):
    t = stops.truth(lab_vm, "demo")
    out = _guest_session(lab_vm, flavour, strict)
    assert _section(out, 0).strip().startswith("GDBT-VERSION 16."), _section(out, 0)
    assert re.search(r"^RRSTUB X-PACKETS 0 M-PACKETS [1-9]\d*$", out, re.M), out[-3000:]
    assert re.match(r"0x[0-9a-f]+:\s+0x[0-9a-f]+\s+0x[0-9a-f]+", _section(out, 1).strip()), _section(out, 1)
    assert "cannot read the stopped thread's memory" not in out
    assert "Assertion `stopped_or_unexpected_exit()'" not in out     # strict 5.7.0: nothing read another thread
    why = _json(out, 2)
    assert why["syscall"]["result"] == t.exports[0]["result"] == 0
    assert why["fd"]["number"] == t.exports[0]["fd"] and why["fd"]["target"].startswith("/dmabuf:")  # /proc: local
    assert why["argument"]["fields"]["fd"]["note"] and "sync_file" in why["argument"]["fields"]["fd"]["note"]
    callers = _json(out, 3)
    m = re.search(r"^DEMO goroutine (\d+) \[", out.split("RRSTUB PROGRAM BEGIN")[-1], re.M)
    assert m, out[-3000:]
    assert callers["caller"]["function"] == "example.com/dmademo/internal/gpu.ExportSyncFile"
    assert callers["goroutine"]["id"] == int(m.group(1))


def _host_stub_stop(vm, name, flavour):
    """The lab's remote stop (host gdb, guest gdbserver, the rootfs as sysroot) through the imitation."""
    p = stops.program(vm, name)
    x = stops.exe(name, vm)
    env = {"GDBT_REQUEST": stops.EXPORT, "LABT_SYSROOT": str(vm.rootfs)}
    with vm.gdbserver([vm.to_guest(x)], env=p.env) as gs:
        with RRStub(gs.address, flavour=flavour, exe=str(x)) as stub:
            env["GDBT_REMOTE"] = stub.address
            drv = stops._gdb_held(["lab_remote_stop", "rr_stub_disconnect"], x, env, [], None, None, timeout=300)
            assert stub.stop_tid, drv.output[-3000:]
            env["GDBT_REMOTETIMEOUT"] = "60"
            res = stops._gdb_held(["rr_connect", "load_plugin", "run_commands"], x, env, stops.COMMANDS, None, None,
                                  timeout=300)
            log = gs.log()
    return res, stub, log


def _key(why, callers):
    k = {"request": why["request"]["hex"], "result": why["syscall"]["result"], "fd": why["fd"]["number"],
         "struct": why["argument"]["struct"], "rules": [s["rule_id"] for s in why["suggestions"]]}
    if "error" not in callers:
        k["caller"] = (callers["caller"] or {}).get("function")
        k["go"] = [(f["function"], f["line"]) for f in callers["frames"] if f["kind"] == "go"]
    else:
        k["callers_error"] = callers["error"]["what"]
    return k


@pytest.mark.parametrize("flavour", HOST_FLAVOURS)
@pytest.mark.parametrize("name", stops.NAMES)
def test_lab_remote_stop_through_rrs_stub(lab_vm, name, flavour):
    ref = stops.remote(lab_vm, name)
    t = stops.truth(lab_vm, name)
    res, stub, log = _host_stub_stop(lab_vm, name, flavour)
    assert "Traceback" not in res.output, res.output[-3000:]
    st = stops.Stop("remote-rr-%s" % flavour, name, res, 0.0)
    why, callers = st.why, st.callers
    assert why["syscall"]["result"] == t.exports[0]["result"] == 0
    assert why["fd"]["number"] == t.exports[0]["fd"]
    assert _key(why, callers) == _key(ref.why, ref.callers)
    if stops.PROGRAMS[name].go:
        m = re.search(r"^(?:LAB|DEMO) goroutine (\d+) \[", log, re.M)
        assert m and callers["goroutine"]["id"] == int(m.group(1)), log[-2000:]
    sent = [p for d, p in stub.packets if d == "<"]
    assert not any(p[:1] in (b"M", b"X", b"G", b"P", b"Z", b"x") for p in sent)
