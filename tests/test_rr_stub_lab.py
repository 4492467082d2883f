"""The lab (real kernel, real Mesa) through the imitation of rr's gdbserver (tests/support/rrstub.py), in each
of its 5.7.0, 5.8.0 and 5.9.0 flavours. Driving a program to its stop under TCG is the costly part (10-30 s;
gdb's session at the stop 2-9 s), so each program is driven there once and each flavour then meets it in
turn: a fresh imitation in front of the same gdbserver, whose program stays stopped (RRStub.fresh()).

- rr's local layout, in the guest: gdbserver, the imitation and gdb 16.3 all run in the VM, as rr's stub
  listens on 127.0.0.1 of the tracee's machine (/proc readable): one stop of the demo, then rr 5.7.0 in its
  strict mode, 5.8.0 and 5.9.0. gdb 16.3 sends no `x` packet to rr's stub (it uses `x` only when the stub
  offers `binary-upload`, which no rr release does: the qSupported reply is the same in 5.7.0-5.9.0), so rr
  5.8.0's `x` reply, which breaks gdb 16.1 (rr issue #3901), never comes up: memory reads work, and our
  one-line fix stays silent. With rr 5.7.0's "reading another thread ends the session", gdb 16.3's connect
  and the plugin read no other thread. (Strict 5.8.0 and later fail at connect with any Go program:
  tests/test_rr_stub_e2e.py shows what the user sees then.)
- The lab's stops over the host's gdb (the tunnelled remote without /proc, tests/fixtures/lab/stops.py's
  "remote" mode), the four lab programs and the GUI programs others built (tests/fixtures/lab/gui.py:
  nwg-look, ymuse, nwg-bar), served through each flavour: the same answers as through plain gdbserver.
- The arm64 lab's stops (qemu-system-aarch64 TCG; gdb-multiarch on the host over the guest's gdbserver):
  rr serves core + fpu with no tpidr, so go-callers finds g from R28 (demo) or from the g that
  runtime.asmcgocall saved (eglgo) and says so; 5.7.0 strict, 5.8.0 and 5.9.0, compared with gdbserver's
  own answers at the very stop (the driver gdb's, tpidr served). Measured under TCG on the loaded 2-core
  host (drive, then each flavour's session): demo 14 s + 2-4 s each, demo-direct 15 s + 2-6 s, eglgo 23-31 s
  + 2-6 s, vkgo 42 s + 5 s, egl_c 15 s + 4-5 s, demo stripped / PIE 12-13 s + 2-5 s, eglgo stripped / PIE
  20-29 s + 1-7 s: by default demo and eglgo (the two ways g is found, about 70 s), LAB_ARM64_RRSTUB=all (or
  a comma list) for demo-direct, vkgo, egl_c and the stripped / PIE builds too (about 4 minutes more).

Ground truth as in test_lab_stops.py and test_lab_gui.py: strace -yy in the guest, the guest's /proc at the
very stop the imitation serves, the program's own goroutine (printed before the call), and the answers
through the guest's plain gdbserver for the comparison (stops.remote / gui.remote, which test_lab_gui.py
checks against the GUI program's own SIGQUIT traceback; for nwg-bar, which test_lab_gui.py does not stop,
the driver gdb's own answers at the same stop, relayed unchanged)."""
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Dict, List, Tuple

import pytest

from tests.fixtures.lab import gui, stops
from tests.support.gdbrun import REPO, GdbResult
from tests.support.lab import lab_vm, lab_vm_arm64  # noqa: F401  (the session fixtures)
from tests.support.rrstub import FLAVOURS, RRStub, parse_thread_id

CMDS = ["python print('GDBT-VERSION', gdb.VERSION)", "x/2gx $sp", "dmabuf-why --json", "go-callers --json"]
# In the guest: rr 5.7.0 strict (nothing may read another thread), 5.8.0 and 5.9.0 (strict would end the
# session at gdb's connect for this Go program, as rr's source says).
GUEST_RUNS = [("5.7.0", True), ("5.8.0", False), ("5.9.0", False)]
GUI_NAMES = gui.NAMES

_memo: Dict[tuple, object] = {}


def _guest_sessions(vm) -> Tuple[str, float]:
    """ONE run of `python3 -m tests.support.rrstub` in the guest: the demo driven to its stop once (the driver
    gdb runs the commands too: gdbserver's answers), then gdb 16.3 through each of GUEST_RUNS. (its output,
    seconds)"""
    k = (id(vm), "guest")
    if k not in _memo:
        exe = stops.exe("demo")
        argv = ["python3", "-B", "-m", "tests.support.rrstub", vm.to_guest(exe), "--gdb", vm.gdb, "--plain",
                "--commands", ";;".join(CMDS)]
        for flavour, strict in GUEST_RUNS:
            argv += ["--flavour", _run_name(flavour, strict)]
        for kk, v in stops.PROGRAMS["demo"].env.items():
            argv += ["--env", "%s=%s" % (kk, v)]
        t0 = time.time()
        rc, so, se = vm.run(argv, cwd=vm.to_guest(REPO), env={"PYTHONPYCACHEPREFIX": "/tmp/pycache"}, timeout=900)
        assert rc == 0, (so + se)[-4000:]
        _memo[k] = (so + se, time.time() - t0)
    return _memo[k]


def _between(out, begin, end):
    m = re.search(r"^%s\n(.*?)^%s$" % (re.escape(begin), re.escape(end)), out, re.S | re.M)
    assert m, "no %r ... %r in:\n%s" % (begin, end, out[-4000:])
    return m.group(1)


def _run_name(flavour, strict):
    return flavour + (":strict" if strict else "")


def _guest_run(whole, name):
    return _between(whole, "RRSTUB RUN %s BEGIN" % name, "RRSTUB RUN %s END" % name)


def _section(out, i):
    return _between(out, "BEGIN c%d" % i, "END c%d" % i)


def _json(out, i):
    text = _section(out, i)
    return json.JSONDecoder().raw_decode(text[text.find("{"):])[0]


@pytest.mark.parametrize("flavour,strict", GUEST_RUNS)
def test_guest_gdb16_at_rrs_stub(lab_vm, flavour, strict):
    t = stops.truth(lab_vm, "demo")
    whole, _ = _guest_sessions(lab_vm)
    out = _guest_run(whole, _run_name(flavour, strict))
    assert _section(out, 0).strip().startswith("GDBT-VERSION 16."), _section(out, 0)
    assert re.search(r"^RRSTUB X-PACKETS 0 M-PACKETS [1-9]\d*$", out, re.M), out[-3000:]
    assert re.match(r"0x[0-9a-f]+:\s+0x[0-9a-f]+\s+0x[0-9a-f]+", _section(out, 1).strip()), _section(out, 1)
    assert "cannot read the stopped thread's memory" not in out
    assert "Assertion `stopped_or_unexpected_exit()'" not in out     # strict 5.7.0: nothing read another thread
    assert "record_syscall.cc:" in _between(out, "RRSTUB LOG BEGIN", "RRSTUB LOG END")
    why = _json(out, 2)
    assert why["syscall"]["result"] == t.exports[0]["result"] == 0
    assert why["fd"]["number"] == t.exports[0]["fd"] and why["fd"]["target"].startswith("/dmabuf:")  # /proc: local
    assert why["argument"]["fields"]["fd"]["note"] and "sync_file" in why["argument"]["fields"]["fd"]["note"]
    callers = _json(out, 3)
    m = re.search(r"^DEMO goroutine (\d+) \[", _between(whole, "RRSTUB PROGRAM BEGIN", "RRSTUB PROGRAM END"), re.M)
    assert m, whole[-3000:]
    assert callers["caller"]["function"] == "example.com/dmademo/internal/gpu.ExportSyncFile"
    assert callers["goroutine"]["id"] == int(m.group(1))
    # the same stop through every flavour: the same answers (rr's stub differs in none that gdb 16.3 uses), and
    # those of gdb 16.3 over the guest's gdbserver alone (the driver's, relayed unchanged, at the same stop)
    first = _guest_run(whole, _run_name(*GUEST_RUNS[0]))
    assert (why, callers) == (_json(first, 2), _json(first, 3))
    plain = _between(whole, "RRSTUB PLAIN BEGIN", "RRSTUB PLAIN END")
    assert _key(why, callers) == _key(_json(plain, 2), _json(plain, 3))
    assert why["fd"] == _json(plain, 2)["fd"]


# ------------------------------------------------------------------------------ the host's gdb, each flavour

@dataclass
class FlavourRun:
    result: GdbResult
    sent: List[bytes]          # what gdb sent to the imitation
    log: List[str]             # what rr would have printed
    seconds: float
    stop_tid: int = 0          # the thread rr stopped in
    asserted: bool = False     # strict: gdb touched another thread (rr's assertion)


@dataclass
class StubStops:
    """One program driven to its stop once, then met through each flavour."""
    runs: Dict[str, FlavourRun]
    driver: GdbResult
    drive_seconds: float
    fds: Dict[int, str]        # the guest's /proc/PID/fd at the stop (readlink in the guest)
    log: str                   # the program's output up to the end


def _through_each_flavour(vm, argv, exe_host, env, driver_commands=(), flavours=None,
                          commands=None) -> StubStops:
    """gdbserver in the guest on argv, the imitation in front of it, a driver gdb (host, lab_remote_stop.gdb;
    on aarch64 gdb-multiarch, lab_arm64_remote_stop.gdb) to the probe's return (with driver_commands run
    there, relayed unchanged: gdbserver's own answers), then each flavour's fresh imitation with the user's
    gdb (rr_connect.gdb, gdbinit.py, stops.COMMANDS or commands). flavours: [(flavour, strict)], default
    each of FLAVOURS not strict; runs are keyed by flavour."""
    genv = {"GDBT_REQUEST": stops.EXPORT, "LABT_SYSROOT": str(vm.rootfs), "GDBT_REMOTETIMEOUT": "60"}
    arch = getattr(vm, "arch", "x86-64")
    gdb = stops.host_gdb(vm)
    runs: Dict[str, FlavourRun] = {}
    t0 = time.time()
    with vm.gdbserver(argv, env=env) as gs:
        with RRStub(gs.address, exe=str(exe_host), arch=arch) as stub:
            genv["GDBT_REMOTE"] = stub.address
            scripts = ["lab_arm64_remote_stop" if arch == "aarch64" else "lab_remote_stop"]
            scripts += ["load_plugin", "run_commands"] if driver_commands else []
            drv = stops._gdb_held(scripts + ["rr_stub_disconnect"], exe_host, genv, list(driver_commands), None, None,
                                  timeout=900 if arch == "aarch64" else 600, gdb=gdb)
            assert stub.stop_tid, drv.output[-3000:]
            drive = time.time() - t0
            fds = stops._proc_fds(vm, gs.pid)
            for flavour, strict in flavours or [(f, False) for f in FLAVOURS]:
                t1 = time.time()
                with stub.fresh(flavour, strict=strict) as one:
                    res = stops._gdb_held(["rr_connect", "load_plugin", "run_commands"], exe_host,
                                          dict(genv, GDBT_REMOTE=one.address), list(commands or stops.COMMANDS),
                                          None, None, timeout=600 if arch == "aarch64" else 300, gdb=gdb)
                runs[flavour] = FlavourRun(res, [p for d, p in one.packets if d == "<"], list(one.log),
                                           time.time() - t1, stub.stop_tid, one.asserted)
        log = gs.log()
    return StubStops(runs, drv, drive, fds, log)


def lab_stops(vm, name) -> StubStops:
    k = (id(vm), "lab", name)
    if k not in _memo:
        x = stops.exe(name, vm)
        _memo[k] = _through_each_flavour(vm, [vm.to_guest(x)], x, stops.program(vm, name).env)
    return _memo[k]


def gui_stops(vm, name) -> StubStops:
    k = (id(vm), "gui", name)
    if k not in _memo:
        gui.xserver(vm)
        gui.first_gtk_client(vm)
        ref_here = not gui.PROGRAMS[name].stops     # nwg-bar: no gui.remote() stop to compare with
        _memo[k] = _through_each_flavour(vm, [gui.PROGRAMS[name].exe], gui.host_exe(vm, name), gui.ENV,
                                         driver_commands=stops.COMMANDS if ref_here else ())
    return _memo[k]


def _key(why, callers):
    k = {"request": why["request"]["hex"], "result": why["syscall"]["result"], "fd": why["fd"]["number"],
         "struct": why["argument"]["struct"], "rules": [s["rule_id"] for s in why["suggestions"]]}
    if "error" not in callers:
        k["caller"] = (callers["caller"] or {}).get("function")
        k["go"] = [(f["function"], f["line"]) for f in callers["frames"] if f["kind"] == "go"]
    else:
        k["callers_error"] = callers["error"]["what"]
    return k


def _check_flavour_run(st: StubStops, name: str, flavour: str, commands=None) -> stops.Stop:
    run = st.runs[flavour]
    assert "Traceback" not in run.result.output, run.result.output[-3000:]
    one = stops.Stop("remote-rr-%s" % flavour, name, run.result, run.seconds,
                     commands=list(commands or stops.COMMANDS))
    why = one.why
    # the stop the imitation serves, by the guest's /proc at that stop: the fd is the dma-buf
    assert why["syscall"]["result"] == 0
    assert st.fds[why["fd"]["number"]].startswith("/dmabuf:"), st.fds
    assert st.fds[why["argument"]["fields"]["fd"]["value"]] == "anon_inode:sync_file", st.fds
    assert not any(p[:1] in (b"M", b"X", b"G", b"P", b"Z", b"x") for p in run.sent)
    assert not any(p.startswith((b"vCont;", b"c", b"s")) for p in run.sent), "we resumed the target"
    assert sum(ln == "Launch debugger with" for ln in run.log) == 1, run.log
    return one


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", stops.NAMES)
def test_lab_remote_stop_through_rrs_stub(lab_vm, name, flavour):
    ref = stops.remote(lab_vm, name)
    t = stops.truth(lab_vm, name)
    st = lab_stops(lab_vm, name)
    one = _check_flavour_run(st, name, flavour)
    why, callers = one.why, one.callers
    assert why["syscall"]["result"] == t.exports[0]["result"] == 0
    assert why["fd"]["number"] == t.exports[0]["fd"]
    assert _key(why, callers) == _key(ref.why, ref.callers)
    if stops.PROGRAMS[name].go:
        m = re.search(r"^(?:LAB|DEMO) goroutine (\d+) \[", st.log, re.M)
        assert m and callers["goroutine"]["id"] == int(m.group(1)), st.log[-2000:]
    else:
        assert "not a Go program" in callers["error"]["what"], callers


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", GUI_NAMES)
def test_gui_stop_through_rrs_stub(lab_vm, name, flavour):
    """Debian's Go GUI programs (issue 20) stopped at GTK's GLX probe, served through each flavour."""
    st = gui_stops(lab_vm, name)
    t = gui.truth(lab_vm, name)
    one = _check_flavour_run(st, name, flavour)
    why, callers = one.why, one.callers
    assert t.exports and why["syscall"]["result"] == t.exports[0]["result"] == 0, t.exports
    assert why["fd"]["number"] == t.exports[0]["fd"]
    if gui.PROGRAMS[name].stops:
        ref = gui.remote(lab_vm, name)        # test_lab_gui.py checks it against the program's own traceback
    else:
        ref = stops.Stop("remote", name, st.driver, st.drive_seconds)   # gdbserver's answers, relayed unchanged
    assert _key(why, callers) == _key(ref.why, ref.callers)
    gtk_call = gui.PROGRAMS[name].gtk_call    # gotk3's function that calls GTK (or its closure)
    f = callers["caller"]["function"]
    assert f == gtk_call or f.startswith(gtk_call + ".func"), callers["caller"]
    assert callers["goroutine"]["id"] == ref.callers["goroutine"]["id"]


# ------------------------------------------------------------------------------ the arm64 lab, each flavour

# aarch64 (qemu-system-aarch64 TCG): gdb-multiarch on the host over the guest's gdbserver, through each
# flavour; rr serves core + fpu, no tpidr (tests/support/rrstub.py), so go-callers finds g otherwise and says
# how. 5.7.0 runs strict (reading another thread ends rr's session); 5.8.0+ strict would end it at gdb's
# first packet for any threaded program (tests/test_rr_stub_e2e.py), so there every packet that names a
# thread is checked instead. A drive costs minutes under TCG: by default demo (Go -> cgo -> C) and eglgo
# (Go -> cgo -> Mesa); LAB_ARM64_RRSTUB=all (or a comma list) for demo-direct, vkgo, egl_c and the stripped
# and PIE builds of demo and eglgo too.
ARM64_ALL = ["demo", "demo-direct", "eglgo", "vkgo", "egl_c", "demo-stripped", "demo-pie", "eglgo-stripped",
             "eglgo-pie"]
_arm64_env = os.environ.get("LAB_ARM64_RRSTUB", "demo,eglgo")
ARM64_NAMES = ARM64_ALL if _arm64_env == "all" else [n for n in ARM64_ALL if n in _arm64_env.split(",")]
ARM64_RUNS = [("5.7.0", True), ("5.8.0", False), ("5.9.0", False)]
# JSON answers and gdb's own word on tpidr (the text forms are checked by test_lab_stops.py's remote stops)
ARM64_COMMANDS = ["dmabuf-why --json", "go-callers --json", "info registers tpidr"]


def arm64_stops(vm, name) -> StubStops:
    """The program driven once by gdb-multiarch through the relay (which runs ARM64_COMMANDS there: plain
    gdbserver's answers, tpidr served, at the very stop), then met through each of ARM64_RUNS."""
    k = (id(vm), "arm64", name)
    if k not in _memo:
        x = stops.exe(name, vm)
        _memo[k] = _through_each_flavour(vm, [vm.to_guest(x)], x, stops.program(vm, name).env,
                                         driver_commands=ARM64_COMMANDS, flavours=ARM64_RUNS,
                                         commands=ARM64_COMMANDS)
    return _memo[k]


def _threads_named(sent: List[bytes], pid: int) -> List[int]:
    """The threads the packets gdb sent name (H, T, qThreadExtraInfo; 0 and -1 left out)."""
    out = []
    for p in sent:
        m = re.match(rb"(?:H[a-z]|T|qThreadExtraInfo,)(p?[-0-9a-fA-F.]+)$", p)
        if m:
            tid = parse_thread_id(m.group(1).decode(), pid)[1]
            if tid > 0:
                out.append(tid)
    return out


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", ARM64_NAMES)
def test_arm64_lab_remote_stop_through_rrs_stub(lab_vm_arm64, name, flavour):
    vm = lab_vm_arm64
    p = stops.program(vm, name)
    # strace -yy in the guest; a stripped / PIE build's is its default build's, as in test_lab_stops.py (the
    # same program: the same fds; the guest's /proc at the variant's own stop confirms them)
    t = stops.truth(vm, name if p.kind == "default" else name[:-len("-" + p.kind)])
    st = arm64_stops(vm, name)
    run = st.runs[flavour]
    one = _check_flavour_run(st, name, flavour, ARM64_COMMANDS)   # the guest's /proc at the stop, no writes
    ref = stops.Stop("remote", name, st.driver, st.drive_seconds, commands=list(ARM64_COMMANDS))
    assert "Traceback" not in st.driver.output, st.driver.output[-3000:]
    why, callers = one.why, one.callers
    # gdb's own word: rr serves no tpidr, the guest's gdbserver does
    assert "Invalid register `tpidr'" in one.text("info registers tpidr"), one.text("info registers tpidr")
    assert re.search(r"^tpidr\s+0x[0-9a-f]+", ref.text("info registers tpidr"), re.M), ref.text("info registers tpidr")
    assert why["arch"] == "aarch64" and why["request"]["hex"] == stops.EXPORT
    assert why["syscall"]["result"] == t.exports[0]["result"] == 0
    assert why["fd"]["number"] == t.exports[0]["fd"], (why["fd"], t.exports)
    assert _key(why, callers) == _key(ref.why, ref.callers)
    assert why["thread"]["tid"] == ref.why["thread"]["tid"] == run.stop_tid
    # rr's stub touched no other thread: strict 5.7.0 did not assert, and no packet named another thread
    assert not run.asserted, run.log
    assert set(_threads_named(run.sent, 0)) <= {run.stop_tid}, [p for p in run.sent if p[:1] in (b"H", b"T")]
    if p.go:
        m = re.search(r"^(?:LAB|DEMO) goroutine (\d+) \[", st.log, re.M)
        assert m and callers["goroutine"]["id"] == int(m.group(1)) == ref.callers["goroutine"]["id"], st.log[-2000:]
        via = callers["thread"]["found_via"]
        how = {"r28": "g found from R28", "stack": "g found from the g runtime.asmcgocall saved"}
        assert via in how, callers["thread"]
        assert any("serves no tpidr" in n and how[via] in n for n in callers["notes"]), callers["notes"]
        assert not any("serves no tpidr" in n for n in ref.callers["notes"]), ref.callers["notes"]
    else:
        assert "not a Go program" in callers["error"]["what"], callers


# Debian's arm64 GUI programs (tests/test_lab_gui_arm64.py) at GTK's GLX probe, through each flavour: ymuse by
# default (the quicker start-up under arm64 TCG), nwg-look too with LAB_GUI_ARM64=all.
GUI_ARM64_NAMES = gui.STOPPED if os.environ.get("LAB_GUI_ARM64") == "all" else ["ymuse"]


def gui_arm64_stops(vm, name) -> StubStops:
    """The arm64 GUI program, first GTK 3 client on Xvfb, driven once by gdb-multiarch through the relay (which
    runs ARM64_COMMANDS there: gdbserver's own answers, tpidr served), then met through each of ARM64_RUNS."""
    k = (id(vm), "gui-arm64", name)
    if k not in _memo:
        gui.xserver(vm)
        gui.first_gtk_client(vm)
        _memo[k] = _through_each_flavour(vm, [gui.PROGRAMS[name].exe], gui.host_exe(vm, name), gui.ENV,
                                         driver_commands=ARM64_COMMANDS, flavours=ARM64_RUNS,
                                         commands=ARM64_COMMANDS)
    return _memo[k]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", GUI_ARM64_NAMES)
def test_arm64_gui_stop_through_rrs_stub(lab_vm_arm64, name, flavour):
    """The same answers as the guest's gdbserver at the same stop, without tpidr, touching no other thread;
    the call is the one strace saw in the guest, and the caller gotk3's function that calls GTK."""
    vm = lab_vm_arm64
    t = gui.truth(vm, name)
    st = gui_arm64_stops(vm, name)
    run = st.runs[flavour]
    one = _check_flavour_run(st, name, flavour, ARM64_COMMANDS)
    ref = stops.Stop("remote", name, st.driver, st.drive_seconds, commands=list(ARM64_COMMANDS))
    assert "Traceback" not in st.driver.output, st.driver.output[-3000:]
    why, callers = one.why, one.callers
    assert "Invalid register `tpidr'" in one.text("info registers tpidr"), one.text("info registers tpidr")
    assert why["arch"] == "aarch64" and why["request"]["hex"] == stops.EXPORT
    assert t.exports and why["syscall"]["result"] == t.exports[0]["result"] == 0, t.exports
    assert why["fd"]["number"] == t.exports[0]["fd"], (why["fd"], t.exports)
    assert _key(why, callers) == _key(ref.why, ref.callers)
    assert why["thread"]["tid"] == ref.why["thread"]["tid"] == run.stop_tid
    assert not run.asserted, run.log
    assert set(_threads_named(run.sent, 0)) <= {run.stop_tid}, [p for p in run.sent if p[:1] in (b"H", b"T")]
    gtk_call = gui.PROGRAMS[name].gtk_call
    f = callers["caller"]["function"]
    assert f == gtk_call or f.startswith(gtk_call + ".func"), callers["caller"]
    assert callers["goroutine"]["id"] == ref.callers["goroutine"]["id"]
    assert why["suggestions"][0]["rule_id"] == "go-gotk3-gtk3-glx", [x["rule_id"] for x in why["suggestions"]]
    assert any("serves no tpidr" in n for n in callers["notes"]), callers["notes"]


def test_rr_stub_lab_arm64_figures(lab_vm_arm64, capsys):
    """Per arm64 program: the drive to the stop once (gdbserver's own answers there included), then each
    flavour's session (printed, not asserted)."""
    lines = []
    for kind, name in [("arm64", n) for n in ARM64_NAMES] + [("gui-arm64", n) for n in GUI_ARM64_NAMES]:
        st = _memo.get((id(lab_vm_arm64), kind, name))
        if st is not None:
            lines.append("rr-stub arm64 lab %-14s drive %5.1f s  %s" % (name, st.drive_seconds, "  ".join(
                "%s%s %5.1f s" % (f, ":strict" if s else "", st.runs[f].seconds) for f, s in ARM64_RUNS)))
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_rr_stub_lab_figures(lab_vm, capsys):
    """Per-program seconds: the drive to the stop once, then each flavour's session (printed, not asserted)."""
    lines = []
    for kind, name in [("lab", n) for n in stops.NAMES] + [("gui", n) for n in GUI_NAMES]:
        st = _memo.get((id(lab_vm), kind, name))
        if st is not None:
            lines.append("rr-stub lab %-9s drive %5.1f s  %s" % (name, st.drive_seconds, "  ".join(
                "%s %4.1f s" % (f, st.runs[f].seconds) for f in FLAVOURS)))
    if (id(lab_vm), "guest") in _memo:
        whole, secs = _memo[(id(lab_vm), "guest")]
        runs = ["%s %s s" % (n, re.search(r"^RRSTUB SECONDS ([\d.]+)$", _guest_run(whole, n), re.M).group(1))
                for n in [_run_name(f, s) for f, s in GUEST_RUNS]]
        lines.append("rr-stub lab guest demo  drive %s s  %s  (the whole run %.1f s)" % (
            re.search(r"^RRSTUB DRIVE SECONDS ([\d.]+)$", whole, re.M).group(1), "  ".join(runs), secs))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
