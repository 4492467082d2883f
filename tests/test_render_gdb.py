"""The text reports through real gdb, at the demo's real ioctl stop (the way tools/demo.sh stops it).

Ground truth from outside our code: the demo's own goroutine id (it prints runtime.Stack), gdb's own
`bt` and `info inferiors`, the kernel's /proc/PID/maps, and the path gdbserver was started with. The
layout rules are those of issue 10 (headline with the answer, numbered one-line steps with their
commands, detail only with --verbose, nothing said twice, gdb's width, NO_COLOR on a terminal)."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import pytest

from tests.support.gdbrun import REPO, SCRIPTS, gdb_env, gdbserver, run_gdb
from tests.support.reports import steps as _steps  # the numbered items under "What to do"
from tests.support.rrstub import FLAVOURS, meet_each_flavour
from tests.support.toolchains import build_go

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")

EXPORT_SYNC_FILE = "0xc0086202"
DEMO_ENV = {"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"}
CMDS = ["dmabuf-why", "dmabuf-why --json", "dmabuf-why --verbose", "go-callers", "go-callers --json",
        "set width 60", "dmabuf-why", "go-callers --verbose"]


def _demo_goid(program_out: str) -> int:
    m = re.search(r"^DEMO goroutine (\d+) ", program_out, re.M)
    assert m, program_out[-3000:]
    return int(m.group(1))


@pytest.fixture(scope="module")
def demo_stop():
    """One gdb at the demo's stop (after EXPORT_SYNC_FILE returned), every command of CMDS."""
    exe = build_go("demo")
    with tempfile.TemporaryDirectory(prefix="render-gdb-") as tmp:
        log = Path(tmp) / "program.log"
        res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], exe, args=[">" + str(log), "2>&1"],
                      env={"GDBT_REQUEST": EXPORT_SYNC_FILE}, inferior_env=DEMO_ENV, commands=CMDS)
        out = log.read_text(errors="replace")
    for bad in ("Traceback", "internal error", "Error in sourced command file", "GDB-ERROR"):
        assert bad not in res.output, res.output[-4000:]
    return res, _demo_goid(out)



def _flat(text: str) -> str:
    return " ".join(text.split())


def test_dmabuf_why_reads_top_down(demo_stop):
    res, _ = demo_stop
    text, j, verbose = res.section("c0"), res.json("c1"), res.section("c2")
    lines = text.splitlines()
    # 1. What happened and the answer, in the first line (the facts from the JSON of the same stop).
    assert j["syscall"]["result"] == 0 and j["rr"]["would_stop"] and j["rr"]["supported_since"] == "5.9.0"
    assert lines[0] == ("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned 0: rr before 5.9.0 aborts on that, "
                        "5.9.0 records it"), lines[0]
    # 2. Then the decoded call.
    assert lines[1].startswith("  thread   %d, stopped after the call returned" % j["thread"]["tid"])
    assert lines[2] == "  fd       %d -> %s" % (j["fd"]["number"], j["fd"]["target"])
    # 3. Then what to do: one numbered line per suggestion, its commands under it, nothing else.
    items = _steps(text)
    assert len(items) == len(j["suggestions"]) >= 2
    for i, (item, s) in enumerate(zip(items, j["suggestions"]), 1):
        assert _flat(" ".join(ln for ln in item if not ln.strip().startswith("$ "))) == "%d. %s" % (i, s["step"])
        assert [ln.strip()[2:] for ln in item if ln.strip().startswith("$ ")] == s["commands"]
        assert _flat(s["source"]) not in _flat(text) and _flat(s["source"]) in _flat(verbose)
        assert _flat(s["title"]) not in _flat(text) and _flat(s["title"]) in _flat(verbose)
        for code in (s.get("snippet") or "").splitlines()[:2]:
            assert code.strip() not in text and code.strip() in verbose
    # rr's rule: said by the headline; its sourced explanation only with --verbose. Nothing twice.
    assert _flat(j["rr"]["explanation"]) not in _flat(text) and _flat(j["rr"]["explanation"]) in _flat(verbose)
    said = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("$ ")]
    assert len(said) == len(set(said)), text


def test_go_callers_first_line_is_the_answer(demo_stop):
    res, goid = demo_stop
    text, j = res.section("c3"), res.json("c4")
    c = j["caller"]
    assert j["goroutine"]["id"] == goid  # the demo's own runtime.Stack
    assert text.splitlines()[0] == "goroutine %d [syscall]  caller %s  %s:%d" % (
        goid, c["function"], c["file"].rsplit("/", 1)[-1], c["line"])
    assert "unknown module" not in text
    assert "  package %s, module %s %s" % (c["package"], c["module"], c["version"]) in text.splitlines()
    # Above the steps the caller is named twice: by the headline and marked in the frames.
    report = text.split("\nWhat to do\n")[0]
    assert report.count(c["function"] + " ") + report.count(c["function"] + "\n") == 2, report
    verbose = res.section("c7")
    assert all(_flat(s["source"]) in _flat(verbose) for s in j["suggestions"])


def test_gdb_width_is_honoured(demo_stop):
    res, _ = demo_stop
    lines = res.section("c6").splitlines()  # after `set width 60`
    head = [lines[0]] + [ln for ln in lines[1:3] if ln.startswith("    ") and not ln.startswith("     ")]
    at = lines.index("What to do")
    prose = head + [ln for ln in lines[at:] if not ln.strip().startswith("$ ")]
    assert all(len(ln) <= 60 for ln in prose), "\n".join(ln for ln in prose if len(ln) > 60)
    assert len(res.section("c0").splitlines()[0]) > 60  # the same headline is longer at the default width


def _run_on_pty(argv: List[str], env: Dict[str, str], timeout: float = 120) -> str:
    """Run gdb with its stdout and stderr on a pseudo-terminal (a real terminal as far as gdb can tell)."""
    master, slave = pty.openpty()
    import fcntl
    import termios
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(argv, cwd=str(REPO), env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    chunks = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the other side closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            raise AssertionError("gdb on a pty timed out")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("no_color", ["", "1"])
def test_colour_on_a_terminal_unless_no_color(no_color):
    """On a terminal with gdb's styling on, the report is coloured; NO_COLOR=1 turns it off."""
    env = gdb_env({"NO_COLOR": no_color})
    if not no_color:
        env.pop("NO_COLOR")
    argv = ["gdb", "-nx", "-q", "-batch", "-ex", "set pagination off", "-ex", "set style enabled on",
            "-x", str(SCRIPTS / "load_plugin.gdb"), "-ex", "dmabuf-why --request 0xc0086202"]
    out = _run_on_pty(argv, env)
    assert "DMA_BUF_IOCTL_EXPORT_SYNC_FILE" in out, out
    assert ("\x1b[" in out) == (not no_color), repr(out[:500])


# ----------------------------------------------------------------------------- native frames

def test_stripped_native_frames_end_where_the_unwinder_stops_making_sense():
    """A stripped demo at its stop: gdb's own `bt` runs on past the cgo boundary into stack garbage
    (small numbers, heap addresses, 0x0). Without a Go boundary to stop at, our native frame list
    is still a prefix of gdb's, and every pc in it lies in an executable mapping of /proc/PID/maps."""
    exe = build_go("demo", stripped=True)
    probe = ("python import json; from gdb_rr_dmabuf.commands.gdbtarget import GdbTarget; "
             "print('OURS ' + json.dumps([f.pc for f in GdbTarget().native_frames(limit=64)]))")
    maps = ("python print('MAPS ' + __import__('json').dumps([l.split()[:2] for l in "
            "open('/proc/%d/maps' % gdb.selected_inferior().pid)]))")
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], exe, env={"GDBT_REQUEST": EXPORT_SYNC_FILE},
                  inferior_env=DEMO_ENV, commands=["bt 64", probe, maps, "go-callers"])
    bt = [int(m.group(1), 16) for m in re.finditer(r"^#\d+\s+(?:(0x[0-9a-f]+) in )?", res.section("c0"), re.M)
          if m.group(1)]
    ours = json.loads(re.search(r"^OURS (.*)$", res.section("c1"), re.M).group(1))
    code = [(int(a.split("-")[0], 16), int(a.split("-")[1], 16))
            for a, perms in json.loads(re.search(r"^MAPS (.*)$", res.section("c2"), re.M).group(1)) if "x" in perms]

    def in_code(pc):
        return any(lo <= pc < hi for lo, hi in code)
    garbage = [pc for pc in bt if not in_code(pc)]
    assert garbage, "gdb's bt has no frame outside code here: the test would prove nothing\n" + res.section("c0")
    assert ours[1:] == bt[:len(ours) - 1], (ours, bt)   # frame #0's pc is not printed by bt
    assert len(ours) - 1 < len(bt)
    assert all(in_code(pc) for pc in ours), ours
    assert all(pc >= 0x10000 for pc in ours)
    text = res.section("c3")
    assert not re.search(r"\b0x0\b", text) and "??" in text, text  # stripped: `??` frames, none at 0x0


# ----------------------------------------------------------------------------- remote: the target's path

def test_remote_stop_names_the_executable_where_the_program_runs(tmp_path):
    """gdbserver runs the demo from its build directory; gdb holds a copy at another path. The
    suggested `rr record` names the path on the target (the one gdbserver started), not gdb's copy,
    and /proc is used (fd links) because the target's path is the running process's /proc/PID/exe."""
    exe = build_go("demo")
    copy = tmp_path / "local copy" / "demo"
    copy.parent.mkdir()
    shutil.copy2(str(exe), str(copy))
    log = tmp_path / "program.log"
    with gdbserver(exe, env=DEMO_ENV, log=log) as addr:
        res = run_gdb(["remote_stop_ioctl_exit", "load_plugin", "run_commands"], copy,
                      env={"GDBT_REMOTE": addr, "GDBT_REQUEST": EXPORT_SYNC_FILE}, commands=EXE_CMDS)
    _check_names_where_it_runs(res, exe, copy)


def test_remote_stop_names_the_executable_where_the_program_runs_through_rrs_stub(tmp_path):
    """The same, at rr's emergency stop: the imitation of rr's stub (tests/support/rrstub.py) in each of its
    5.7.0, 5.8.0 and 5.9.0 flavours, the demo driven to the stop once. rr serves qXfer:exec-file from the
    task's exe (here gdbserver's own reply, passed on) and its real pid, so the answers are gdbserver's."""
    exe = build_go("demo")
    copy = tmp_path / "local copy" / "demo"
    copy.parent.mkdir()
    shutil.copy2(str(exe), str(copy))
    with gdbserver(exe, env=DEMO_ENV, log=tmp_path / "program.log") as addr:
        got = meet_each_flavour(
            addr, exe,
            lambda a: run_gdb(["remote_stop_ioctl_exit", "rr_stub_disconnect"], copy,
                              env={"GDBT_REMOTE": a, "GDBT_REQUEST": EXPORT_SYNC_FILE}),
            lambda a: run_gdb(["rr_connect", "load_plugin", "run_commands"], copy,
                              env={"GDBT_REMOTE": a, "GDBT_REMOTETIMEOUT": "60"}, commands=EXE_CMDS))
    for flavour, (res, stub) in got.items():
        assert "Traceback" not in res.output, (flavour, res.output[-3000:])
        _check_names_where_it_runs(res, exe, copy)
        sent = [q for d, q in stub.packets if d == "<"]
        assert b"?" in sent and any(q.startswith(b"qXfer:exec-file:read:") for q in sent), sent[:40]  # rr's serving
        assert [res.json("c1"), res.json("c2")] == [got[FLAVOURS[0]][0].json(c) for c in ("c1", "c2")], flavour


EXE_CMDS = ["info inferiors", "dmabuf-why --json", "go-callers --json", "dmabuf-why",
            "python print('EXE-LINK', __import__('os').readlink('/proc/%d/exe' % gdb.selected_inferior().pid))",
            # gdb 12 has no send_packet: the `maint packet` path must say the same
            "python import gdb_rr_dmabuf.commands.gdbtarget as g; inf_ = gdb.selected_inferior(); "
            "old = type('Old', (), {'pid': inf_.pid, 'connection': type('C', (), {'num': -1})()}); "
            "print('MAINT', g.remote_exec_file(old()))"]


def _check_names_where_it_runs(res, exe, copy) -> None:
    assert str(copy) in res.section("c0"), res.section("c0")  # gdb's own view: the copy
    running = re.search(r"^EXE-LINK (.*)$", res.section("c4"), re.M).group(1)
    assert os.path.realpath(running) == os.path.realpath(str(exe))  # the kernel's view: the original
    why, callers = res.json("c1"), res.json("c2")
    for j in (why, callers):
        cmds = [c for s in j["suggestions"] for c in s["commands"] if c.startswith("rr record")]
        assert cmds, j["suggestions"]
        assert all(os.path.realpath(c.split(" ", 2)[2]) == os.path.realpath(str(exe)) for c in cmds), cmds
        assert not any(str(copy.parent) in c or "'" in c for c in cmds), cmds
    assert why["fd"]["target"] == "/memfd:dmademo-buffer (deleted)"   # /proc of the running process
    assert callers["caller"]["function"].endswith("gpu.ExportSyncFile")  # read from gdb's copy
    assert str(copy) not in res.section("c3")
    maint = re.search(r"^MAINT (.*)$", res.section("c5"), re.M).group(1)
    assert os.path.realpath(maint) == os.path.realpath(str(exe)), res.section("c5")
