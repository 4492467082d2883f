"""A real aarch64 Go process (qemu-user's gdb stub, as tests/test_e2e_aarch64.py) served through the
imitation of rr's gdbserver: rr's aarch64 target description is core + fpu, no tpidr in any release up to
5.9.0 (tests/support/rrstub.py), so go-callers must find g without the TLS slot (R28 in Go code) and say
so. Ground truth: the goroutine id the program prints and gdb's own answer that there is no tpidr."""
import re
import shutil
import subprocess

import pytest

from tests.support.gdbrun import QEMU_AARCH64_GO as QEMU, REPO, SCRIPTS, GdbResult, gdb_env, listening
from tests.support.rrstub import FLAVOURS, RRStub
from tests.support.toolchains import build_go

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-aarch64") and shutil.which("gdb-multiarch")),
                                reason="needs qemu-user and gdb-multiarch (tools/bootstrap.sh installs them)")


def _text(out) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")


def _gdb(scripts, exe, env):
    argv = ["gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off", "-ex", "set confirm off"]
    for s in scripts:
        argv += ["-x", str(SCRIPTS / (s + ".gdb"))]
    proc = subprocess.run(argv + [str(exe)], cwd=str(REPO), env=gdb_env(env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    return GdbResult(proc.stdout, proc.returncode)


CALLER = "gstates/worker.goIoctl"   # the fixture's function that makes the ioctl (aarch64_stop_after_svc.gdb)


def test_go_callers_without_tpidr(tmp_path):
    """Driven to the stop once under qemu-user, then met through each flavour (rr's aarch64 registers are the
    same in each)."""
    exe = build_go("gstates", env={"GOARCH": "arm64"}, cgo=False)
    log = tmp_path / "out.txt"
    got = []
    # qemu listens before it runs a single instruction; its port is waited for (tests/support/gdbrun.py)
    with open(str(log), "wb") as out, listening(lambda port: QEMU + ["-g", str(port), str(exe), "go"],
                                                 out=out) as port:
        stub = RRStub("127.0.0.1:%d" % port, arch="aarch64", exe=str(exe))
        with stub:
            try:
                drv = _gdb(["aarch64_stop_after_svc", "rr_stub_disconnect"], exe,
                           {"GDBT_REMOTE": stub.address, "GDBT_REQUEST": "0xc0086202", "GDBT_GO_CALLER": CALLER})
            except subprocess.TimeoutExpired as e:   # say where it stood: gdb, the relayed packets, the program
                raise AssertionError("the driver gdb did not reach the stop:\n%s\nlast packets: %r\nprogram: %s" % (
                    _text(e.stdout)[-2000:], stub.relayed[-20:], log.read_text(errors="replace")[-1000:]))
            assert stub.stop_tid, drv.output[-3000:]
            for flavour in FLAVOURS:
                with stub.fresh(flavour) as one:
                    got.append((flavour, _gdb(["rr_connect", "load_plugin", "run_commands"], exe,
                                              {"GDBT_REMOTE": one.address, "GDBT_REMOTETIMEOUT": "60",
                                               "GDBT_CMDS": ";;".join(["go-callers --json", "info registers tpidr",
                                                                       "info registers x8 x1", "dmabuf-why --json",
                                                                       "go-callers"])})))
    goid = int(re.search(r"^GOID (\d+)$", log.read_text(errors="replace"), re.M).group(1))
    for flavour, res in got:
        _check(res, goid)


def _check(res, goid):
    assert "Traceback" not in res.output, res.output[-3000:]
    assert "Invalid register `tpidr'" in res.section("c1"), res.section("c1")   # gdb itself: rr has none
    assert re.search(r"^x8\s+0x1d\s", res.section("c2"), re.M), res.section("c2")
    j = res.json("c0")
    assert j["goroutine"]["id"] == goid and j["goroutine"]["status"] == "syscall"
    assert j["thread"]["found_via"] == "r28"
    assert "the target serves no tpidr register (rr's gdbserver never does), so the Go TLS slot cannot be " \
           "read: g found from R28" in j["notes"], j["notes"]
    assert j["caller"]["function"] == "gstates/worker.goIoctl"
    why = res.json("c3")
    assert why["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"] and why["syscall"]["number"] == 29
    assert "g found from R28" in res.section("c4")
