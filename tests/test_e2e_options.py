"""Command options through real gdb at the demo's stop: --depth, --source, --color, help."""
import re

import pytest

from tests.support.gdbrun import run_gdb
from tests.support.toolchains import FIXTURES, build_go


@pytest.fixture(scope="module")
def stop():
    exe = build_go("demo")
    return run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], exe, env={"GDBT_REQUEST": "0xc0086202"},
                   inferior_env={"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"},
                   commands=["go-callers --json", "go-callers --json --depth 2", "go-callers --depth 0",
                             "go-callers --source 2", "go-callers --color always", "go-callers --color never",
                             "dmabuf-why --color always", "help go-callers", "help dmabuf-why",
                             "go-callers --nonsense"])


def test_depth_bounds_the_unwind(stop):
    full, short = stop.json("c0"), stop.json("c1")
    assert full["unwind"]["complete"] is True
    assert short["unwind"]["complete"] is False and "depth limit (2 frames" in short["unwind"]["stopped"]
    go_full = [f["function"] for f in full["frames"] if f["kind"] == "go"]
    go_short = [f["function"] for f in short["frames"] if f["kind"] == "go"]
    assert go_short and go_short == go_full[:len(go_short)] and len(go_short) < len(go_full)
    lines = [ln for ln in stop.section("c2").splitlines() if ln.strip()]
    assert lines == ["go-callers: --depth must be between 1 and 10000: e.g. --depth 200"]


def test_source_shows_the_callers_line(stop):
    caller = stop.json("c0")["caller"]
    src = (FIXTURES / "go" / "demo" / "internal" / "gpu" / "gpu.go").read_text().splitlines()
    line = caller["line"]
    text = stop.section("c3")
    m = re.search(r"^  > +%d  (.*)$" % line, text, re.M)
    assert m and m.group(1) == src[line - 1], text
    for n in (line - 2, line - 1, line + 1, line + 2):
        assert re.search(r"^    +%d  " % n, text, re.M), (n, text)


def test_colour_only_when_asked(stop):
    assert "\x1b[" in stop.section("c4") and "\x1b[" in stop.section("c6")
    assert "\x1b[" not in stop.section("c5")
    assert "\x1b[" not in stop.section("c3")  # auto: the harness sets NO_COLOR and output is a pipe


def test_help_comes_from_the_parser(stop):
    h = stop.section("c7")
    for opt in ("--json", "--thread", "--depth", "--source", "--rr-version", "--rules", "--color"):
        assert opt in h, opt
    h = stop.section("c8")
    for opt in ("--request", "--from-log", "--thread", "--at", "--rr-version", "--json"):
        assert opt in h, opt
    lines = [ln for ln in stop.section("c9").splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("go-callers: unrecognized arguments: --nonsense"), lines


def test_points_at_the_thread_in_ioctl_without_reading_other_threads():
    """Another thread selected than the one stopped in the ioctl: the one line says how to reach it and reads
    no other thread; --scan-threads, asked for explicitly, says what it touches and names the thread."""
    exe = build_go("demo")
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], exe, env={"GDBT_REQUEST": "0xc0086202"},
                  inferior_env={"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"},
                  commands=["python print('STOPPED', gdb.selected_thread().num)",
                            "python [t for t in gdb.selected_inferior().threads() if t.num != gdb.selected_thread().num][0].switch()",
                            "dmabuf-why", "dmabuf-why --scan-threads", "dmabuf-why --scan-threads --json"])
    stopped = int(re.search(r"STOPPED (\d+)", res.section("c0")).group(1))
    lines = [ln for ln in res.section("c2").splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("dmabuf-why: the thread is in ")
    assert "`dmabuf-why --thread N`" in lines[0] and "--scan-threads" in lines[0], lines[0]
    assert "reads every thread: not at rr's stop" in lines[0], lines[0]
    scan = [ln for ln in res.section("c3").splitlines() if ln.strip()]
    assert scan[0].startswith("--scan-threads reads the registers of every thread: at rr's emergency stop"), scan
    assert [ln for ln in scan[1:] if "DMA_BUF_IOCTL_EXPORT_SYNC_FILE" in ln] == [
        ln for ln in scan[1:] if ln.startswith("thread %d (LWP " % stopped)], scan
    j = res.json("c4")["scan"]
    assert "session ends" in j["warning"]
    assert [t["thread"] for t in j["threads"] if t["request"] == "0xc0086202"] == [stopped], j
