"""A real aarch64 process: the gstates fixture cross-built for arm64 (pure Go, direct syscall.Syscall
path), run by qemu-user with its gdb stub, debugged by gdb-multiarch with target remote, stopped just
after the ioctl's `svc #0`. Ground truth: the goroutine id the program prints, and Go's own
`go tool addr2line` on the arm64 binary for every frame's pc."""
import os
import re
import shutil
import subprocess

import pytest

from tests.support.gdbrun import QEMU_AARCH64_GO as QEMU, REPO, SCRIPTS, gdb_env, listening, physical_frames
from tests.support.toolchains import DEFAULT_GO, build_go, go_root

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-aarch64") and shutil.which("gdb-multiarch")),
                                reason="needs qemu-user and gdb-multiarch (tools/bootstrap.sh installs them)")


CALLER = "gstates/worker.goIoctl"   # the fixture's function that makes the ioctl (aarch64_stop_after_svc.gdb)


@pytest.fixture(scope="module")
def arm_stop(tmp_path_factory):
    exe = build_go("gstates", env={"GOARCH": "arm64"}, cgo=False)
    log = tmp_path_factory.mktemp("qemu") / "out.txt"
    with open(str(log), "wb") as out, listening(lambda port: QEMU + ["-g", str(port), str(exe), "go"],
                                                 out=out) as port:
        env = gdb_env({"GDBT_REMOTE": "127.0.0.1:%d" % port, "GDBT_REQUEST": "0xc0086202", "GDBT_GO_CALLER": CALLER,
                       "GDBT_CMDS": ";;".join(["dmabuf-why --json", "go-callers --json", "go-callers",
                                               "dmabuf-why --at entry --json"])})
        proc = subprocess.run(["gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off",
                               "-x", str(SCRIPTS / "aarch64_stop_after_svc.gdb"),
                               "-x", str(SCRIPTS / "load_plugin.gdb"), "-x", str(SCRIPTS / "run_commands.gdb"),
                               str(exe)], cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=180)
    from tests.support.gdbrun import GdbResult
    return exe, GdbResult(proc.stdout, proc.returncode), log.read_text(errors="replace")


def _addr2line(exe, pcs):
    goroot = go_root(DEFAULT_GO)
    out = subprocess.run([str(goroot / "bin" / "go"), "tool", "addr2line", str(exe)],
                         input="".join("0x%x\n" % p for p in pcs), stdout=subprocess.PIPE,
                         universal_newlines=True, env=dict(os.environ, GOROOT=str(goroot)), check=True).stdout
    lines = out.splitlines()
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]


def test_dmabuf_why_on_aarch64(arm_stop):
    _, res, _ = arm_stop
    assert "Traceback" not in res.output
    j = res.json("c0")
    assert j["arch"] == "aarch64"
    assert j["syscall"]["name"] == "ioctl" and j["syscall"]["number"] == 29 and j["syscall"]["state"] == "exit"
    assert j["syscall"]["result"] < 0  # qemu-user has no such ioctl: it fails
    # x0 holds the result at the exit stop; the fd comes back from the stack slot Go's Syscall6 loaded x0
    # from: the program's own worker.BadFD
    assert j["fd"]["number"] == 9999 and j["fd"]["recovery"]["source"] == "syscall-slot", j["fd"]
    assert j["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]
    assert not any("fd argument is lost" in n for n in j["notes"]), j["notes"]  # it is not: it was recovered
    entry = res.json("c3")
    assert entry["syscall"]["state"] == "entry" and entry["syscall"]["result"] is None


def test_go_callers_on_aarch64_matches_the_program(arm_stop):
    exe, res, out = arm_stop
    goid = int(re.search(r"^GOID (\d+)$", out, re.M).group(1))
    j = res.json("c1")
    assert j["goroutine"]["id"] == goid and j["goroutine"]["status"] == "syscall"
    assert j["thread"]["kind"] == "goroutine" and j["thread"]["found_via"] == "r28"
    assert j["unwind"]["complete"], j["unwind"]
    go = [f for f in j["frames"] if f["kind"] == "go"]
    assert j["caller"]["function"] == "gstates/worker.goIoctl" and j["caller"]["module"] == "gstates"
    assert j["goroutine"]["created_by"]["function"] == "gstates/worker.Start"
    # Go's addr2line at each physical frame's pc (minus 1 for return addresses, as Go's tracebacks do):
    # it names the physical function and the innermost (inlined) code's file:line.
    groups = physical_frames(go)
    pcs = [g[0]["pc"] - (0 if k == 0 else 1) for k, g in enumerate(groups)]
    for g, (fn, fl) in zip(groups, _addr2line(exe, pcs)):
        assert [x["inlined"] for x in g] == [True] * (len(g) - 1) + [False], g
        assert fn == g[-1]["function"], (fn, g)
        assert fl == "%s:%d" % (g[0]["file"], g[0]["line"]), (fl, g)
    assert len(groups) >= 4
    assert [f["function"] for f in go][-2:] == ["gstates/worker.goIoctl", "gstates/worker.run"]
    assert go[-2]["inlined"] and not go[-1]["inlined"]
    text = res.section("c2")
    assert text.startswith("goroutine %d [syscall]" % goid)
