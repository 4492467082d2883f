"""gdb at rr's emergency stop, through the imitation of rr's gdbserver (tests/support/rrstub.py) in its
5.7.0, 5.8.0 and 5.9.0 flavours: the Go demo stopped after DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned (the
simulated kernel: result 0 and a new fd, what makes rr abort). A driver gdb brings the program there
through the imitation (tests' remote_stop_ioctl_exit.gdb), disconnects, and the user's gdb connects as
rr's "Launch debugger with" line says (rr_connect.gdb), sources gdbinit.py and asks.

Ground truth: /proc of the stopped process (rr's stub listens on 127.0.0.1 with real pids), gdb's own
registers, the program's printed goroutine; and the answers through plain gdbserver at the same stop.
With "touching another thread ends the session" on (strict): 5.7.0 still answers through the plugin,
5.8.0 and later fail at gdb's first `?` (rr's thread_info() reads every task), and rr's log still
explains the abort with `python3 -m gdb_rr_dmabuf explain`."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gdbrun import REPO, gdbserver, run_gdb
from tests.support.rrstub import FLAVOURS, IOCTL_ASSERT_LINE, RRStub
from tests.support.toolchains import build_c, build_go

EXPORT = "0xc0086202"
DEMO_LINK = "/memfd:dmademo-buffer (deleted)"
SIM_LINK = "/memfd:simulated-sync_file (deleted)"
IENV = {"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"}
FDS_CMD = ("python import os, json; p = gdb.selected_inferior().pid; "
           "print('GDBT-FDS ' + json.dumps({f: os.readlink('/proc/%d/fd/%s' % (p, f)) "
           "for f in os.listdir('/proc/%d/fd' % p)}))")
TID_CMD = "python print('GDBT-TID', gdb.selected_thread().ptid[1], gdb.selected_thread().num)"
COMMANDS = ["dmabuf-why --json", "go-callers --json", FDS_CMD, TID_CMD, "dmabuf-why", "go-callers"]
HINT = re.compile(r"^gdb-rr-dmabuf: thread (\d+) \(LWP (\d+)\) is in ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE, "
                  r"which rr before 5\.9\.0 aborts on: `dmabuf-why` explains it$", re.M)


@pytest.fixture(scope="module")
def demo_exe():
    return build_go("demo")


def _program_goid(log: Path) -> int:
    m = re.search(r"^DEMO goroutine (\d+) \[running\]:$", log.read_text(errors="replace"), re.M)
    assert m, log.read_text(errors="replace")[-3000:]
    return int(m.group(1))


def plain_stop(exe, tmp: Path):
    """The reference: gdbserver alone, gdb brought to the stop by the same script."""
    log = tmp / "plain.log"
    with gdbserver(exe, env=IENV, log=log) as addr:
        res = run_gdb(["remote_stop_ioctl_exit", "load_plugin", "run_commands"], exe,
                      env={"GDBT_REQUEST": EXPORT, "GDBT_REMOTE": addr}, commands=COMMANDS, timeout=120)
    return res, _program_goid(log)


def stub_stop(exe, tmp: Path, flavour: str, strict: bool, commands=COMMANDS, args=(), ienv=None):
    """(the user's gdb, the stub, the program's log) at the stop, through the imitation."""
    log = tmp / ("stub-%s-%s.log" % (flavour, strict))
    with gdbserver(exe, args=args, env=IENV if ienv is None else ienv, log=log) as addr:
        with RRStub(addr, flavour=flavour, strict=strict, exe=str(exe)) as stub:
            drv = run_gdb(["remote_stop_ioctl_exit", "rr_stub_disconnect"], exe,
                          env={"GDBT_REQUEST": EXPORT, "GDBT_REMOTE": stub.address}, timeout=120)
            assert stub.stop_tid, drv.output[-3000:]
            res = run_gdb(["rr_connect", "load_plugin", "run_commands"], exe,
                          env={"GDBT_REMOTE": stub.address, "GDB_RR_DMABUF_QUIET": "", "GDBT_REMOTETIMEOUT": "60"},
                          commands=commands, timeout=120)
    return res, stub, log


def stub_stops(exe, tmp: Path, flavours, commands=COMMANDS, args=(), ienv=None):
    """The program driven to the stop once, then met through a fresh imitation in each flavour in turn:
    ({flavour: (the user's gdb, that stub)}, the program's log)."""
    log = tmp / "stub-each.log"
    got = {}
    with gdbserver(exe, args=args, env=IENV if ienv is None else ienv, log=log) as addr:
        with RRStub(addr, exe=str(exe)) as stub:
            drv = run_gdb(["remote_stop_ioctl_exit", "rr_stub_disconnect"], exe,
                          env={"GDBT_REQUEST": EXPORT, "GDBT_REMOTE": stub.address}, timeout=120)
            assert stub.stop_tid, drv.output[-3000:]
            for flavour in flavours:
                with stub.fresh(flavour) as one:
                    got[flavour] = (run_gdb(["rr_connect", "load_plugin", "run_commands"], exe,
                                            env={"GDBT_REMOTE": one.address, "GDB_RR_DMABUF_QUIET": "",
                                                 "GDBT_REMOTETIMEOUT": "60"}, commands=commands, timeout=120), one)
    return got, log


# A return the kernel restarts (a signal interrupted the call: -ERESTARTSYS etc.) is not the call's result.
# remote_stop_ioctl_exit.gdb follows up to 3 restarts; if a stop still shows one, the program is started again
# (as stop_ioctl_exit.gdb does natively), at most RESTART_TRIES times, and the last stop must be the result.
RESTARTS = (-512, -513, -514, -516)
RESTART_TRIES = 3


_PLAIN = {}


def plain(exe, tmp_path_factory):
    if "res" not in _PLAIN:
        _PLAIN["res"] = plain_stop(exe, tmp_path_factory.mktemp("plain"))
    return _PLAIN["res"]


def _why_key(j: dict) -> dict:
    a = j["argument"]
    return {"request": j["request"], "syscall": {k: j["syscall"][k] for k in ("name", "state", "result", "errno")},
            "fd": j["fd"], "struct": a["struct"],
            "fields": {k: (v["value"] if k != "fd" else "new", v["role"], v.get("names")) for k, v in a["fields"].items()},
            "rr": j["rr"], "rules": [s["rule_id"] for s in j["suggestions"]]}


def _callers_key(j: dict) -> dict:
    return {"status": j["goroutine"]["status"], "kind": j["thread"]["kind"],
            "caller": (j["caller"]["function"], j["caller"]["file"], j["caller"]["line"]),
            "go": [(f["function"], f["file"], f["line"]) for f in j["frames"] if f["kind"] == "go"],
            "native": [f["function"] for f in j["frames"] if f["kind"] == "native"],
            "rules": [s["rule_id"] for s in j["suggestions"]]}


def _fds(res) -> dict:
    m = re.search(r"^GDBT-FDS (\{.*\})$", res.output, re.M)
    assert m, res.output[-3000:]
    return {int(k): v for k, v in json.loads(m.group(1)).items()}


def _check_answers(res, log: Path, stop_tid: int, ref) -> None:
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output[-3000:]
    why, callers = res.json("c0"), res.json("c1")
    assert "error" not in why and "error" not in callers, (why, callers)
    links = _fds(res)
    # ground truth: the stop thread is the one rr (the imitation) names, /proc names the fds
    tid = re.search(r"^GDBT-TID (\d+) (\d+)$", res.section("c3"), re.M)
    assert int(tid.group(1)) == stop_tid == callers["thread"]["tid"]
    assert why["fd"] == {"number": 3, "target": DEMO_LINK} and links[3] == DEMO_LINK
    out_fd = why["argument"]["fields"]["fd"]["value"]
    assert links[out_fd] == SIM_LINK
    assert callers["goroutine"]["id"] == _program_goid(log)
    # the hint printed when gdbinit.py was sourced names the selected (stop) thread
    hints = HINT.findall(res.output.split("BEGIN c0")[0])
    assert hints == [(tid.group(2), str(stop_tid))], res.output[-3000:]
    # the same answers as through gdbserver alone
    ref_res, ref_goid = ref
    assert ref_res.json("c1")["goroutine"]["id"] == ref_goid     # each run against its own program's goroutine
    assert _why_key(why) == _why_key(ref_res.json("c0"))
    assert _callers_key(callers) == _callers_key(ref_res.json("c1"))
    assert res.section("c4").splitlines()[0] == ref_res.section("c4").splitlines()[0]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_same_answers_through_rrs_stub(demo_exe, tmp_path_factory, flavour):
    ref = plain(demo_exe, tmp_path_factory)
    res, stub, log = stub_stop(demo_exe, tmp_path_factory.mktemp("stub"), flavour, strict=False)
    _check_answers(res, log, stub.stop_tid, ref)
    sent = [p for d, p in stub.packets if d == "<"]
    assert not any(p[:1] in (b"M", b"X", b"G", b"P", b"Z") for p in sent), "we wrote to the target"
    assert not any(p.startswith((b"vCont;", b"c", b"s")) for p in sent), "we resumed the target"
    assert not any(p.startswith(b"x") for p in sent)   # gdb 13 reads with `m` only (rr 5.8.0's `x` bug needs gdb 16)


def test_strict_570_still_answers(demo_exe, tmp_path_factory):
    """rr 5.7.0 ends the session only when gdb reads another thread: sourcing gdbinit.py, dmabuf-why and
    go-callers read only the selected thread, so the imitation's assertion never fires."""
    ref = plain(demo_exe, tmp_path_factory)
    res, stub, log = stub_stop(demo_exe, tmp_path_factory.mktemp("strict570"), "5.7.0", strict=True)
    assert not stub.asserted, "\n".join(stub.log)
    _check_answers(res, log, stub.stop_tid, ref)
    assert "\n".join(stub.log).count("Launch debugger with") == 1


def test_strict_570_scan_threads_ends_the_session_as_it_warns(demo_exe, tmp_path_factory):
    """What --scan-threads warns of: at rr's stop it reads another thread and rr asserts."""
    res, stub, _ = stub_stop(demo_exe, tmp_path_factory.mktemp("scan"), "5.7.0", strict=True,
                             commands=["dmabuf-why --scan-threads", "dmabuf-why --json"])
    # (failed once in a clean clone's run on a loaded machine, passed in 5 runs after: the message says why)
    assert stub.asserted, "gdb:\n%s\nstub:\n%s" % (res.output[-3000:], "\n".join(stub.log)[-3000:])
    assert "Assertion `stopped_or_unexpected_exit()' failed to hold." in "\n".join(stub.log)
    assert "\n".join(stub.log).count("Launch debugger with") == 2
    line = [ln for ln in res.section("c0").splitlines() if ln.startswith("dmabuf-why: ")]
    assert len(line) == 1 and "the connection to the target ended while reading thread" in line[0], res.section("c0")
    read = int(re.search(r"while reading thread \d+ \(LWP (\d+)\)", line[0]).group(1))
    assert read != stub.stop_tid and " (task %d (rec:" % read in "\n".join(stub.log)   # the thread rr asserted on


@pytest.mark.parametrize("flavour", ["5.8.0", "5.9.0"])
def test_strict_580_fails_at_connect_and_rrs_log_still_explains(demo_exe, tmp_path_factory, flavour):
    """rr 5.8.0+ reads every task's registers in its reply to gdb's first `?`; a Go program always has
    threads blocked in system calls, so rr asserts before gdb has a stop. What the user sees: gdb's connect
    fails (with rr itself it waits for its -l 10000 timeout) and the commands find no process; rr's output
    holds the ioctl's assertion and a second "Launch debugger with". `explain` reads that output, and `check`
    reproduces the stop without rr."""
    tmp = tmp_path_factory.mktemp("strict" + flavour)
    res, stub, _ = stub_stop(demo_exe, tmp, flavour, strict=True)
    assert stub.asserted
    assert "Remote connection closed" in res.output, res.output[-3000:]
    assert res.json("c0")["error"]["what"] == "no process to inspect"
    log = "\n".join(stub.log)
    assert log.count("Launch debugger with") == 2
    assert "thread_info()" in log and "Assertion `stopped_or_unexpected_exit()' failed to hold." in log
    rr_log = tmp / "rr.log"
    rr_log.write_text(log + "\n")
    out = subprocess.run([sys.executable, "-m", "gdb_rr_dmabuf", "explain", "--json", str(rr_log)], cwd=str(REPO),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    assert j["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]
    assert j["syscall"]["result"] == 0
    # explain infers the rr release from the assertion's record_syscall.cc line the imitation writes (rr's own
    # line at that tag). rr 5.9.0 records this request, so a 5.9.0 log of an abort on it can only come from
    # another build: explain says so and advises nothing for it.
    line = re.search(r"record_syscall\.cc:(\d+)", log).group(1)
    assert line == str(IOCTL_ASSERT_LINE[flavour])
    assert j["rr"]["supported_since"] == "5.9.0"
    assert j["rr"]["would_stop"] is (flavour == "5.8.0"), j["rr"]
    notes = "\n".join(j.get("notes") or [])
    assert "rr release: rr %s, inferred from the log's record_syscall.cc:%s" % (flavour, line) in notes, notes
    if flavour == "5.9.0":
        assert "rr's log shows this rr aborting on the call, yet" in notes and not j.get("suggestions"), j
        return
    # And `check` (no rr, no rr debugger) reproduces the stop: the same call, result and Go caller as the
    # user's gdb would have seen at rr's stop (the demo's goroutine line is the program's own runtime.Stack).
    from tests.support.gdbrun import gdb_env
    p = subprocess.run([sys.executable, "-m", "gdb_rr_dmabuf", "check", "--json", "--all", "--rr-version", flavour,
                        "--", str(demo_exe)], cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, env=gdb_env(IENV), timeout=300)
    assert p.returncode == 1 and p.stdout.startswith("{"), p.stdout + p.stderr
    dma = {f["request"]: f for f in json.loads(p.stdout)["all"]}[EXPORT]
    gid = int(re.search(r"^DEMO goroutine (\d+) ", p.stderr, re.M).group(1))
    assert dma["result"] == 0 and dma["goroutine"] == gid, dma
    assert dma["go_caller"].startswith("example.com/dmademo/internal/gpu.ExportSyncFile"), dma


def test_c_program_through_rrs_stub(tmp_path_factory):
    """A C program (tests/fixtures/c/dmabuf_ioctls.c with its simulated kernel), no Go, driven to its stop once
    and served through every flavour: dmabuf-why gives the plain gdbserver's answer, go-callers says it is not
    a Go program."""
    exe = build_c("dmabuf_ioctls.c")
    args = ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE", "simulate"]
    cmds = ["dmabuf-why --json", "go-callers --json", FDS_CMD]
    seen = []
    for _ in range(RESTART_TRIES):
        with gdbserver(exe, args=args) as addr:
            ref = run_gdb(["remote_stop_ioctl_exit", "load_plugin", "run_commands"], exe,
                          env={"GDBT_REQUEST": EXPORT, "GDBT_REMOTE": addr}, commands=cmds, timeout=120)
        seen.append(ref.json("c0")["syscall"]["result"])
        if seen[-1] not in RESTARTS:
            break
    for _ in range(RESTART_TRIES):
        got, _ = stub_stops(exe, tmp_path_factory.mktemp("c"), FLAVOURS, commands=cmds, args=args, ienv={})
        seen.append(got[FLAVOURS[0]][0].json("c0")["syscall"]["result"])
        if seen[-1] not in RESTARTS:
            break
    ref_why = ref.json("c0")
    assert ref_why["syscall"]["result"] == 0, seen      # the simulated kernel's answer, not a restart
    for flavour, (res, stub) in got.items():
        assert "Traceback" not in res.output, res.output[-3000:]
        why = res.json("c0")
        assert why["syscall"]["result"] == 0, (flavour, seen)
        assert _why_key(why) == _why_key(ref_why), flavour
        links = _fds(res)
        assert why["fd"]["target"] == links[why["fd"]["number"]]
        assert links[why["argument"]["fields"]["fd"]["value"]] == "/memfd:simulated-fence (deleted)"  # dmabuf_ioctls.c
        assert "not a Go program" in res.json("c1")["error"]["what"]
        sent = [p for d, p in stub.packets if d == "<"]
        assert not any(p[:1] in (b"M", b"X", b"G", b"P", b"Z") for p in sent), "we wrote to the target"
