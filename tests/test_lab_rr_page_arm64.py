"""The fd at an aarch64 stop in rr's page, on a real kernel with a real dma-buf (issue 18 point 3): in the arm64
lab VM, tests/fixtures/c/rrpage_arm64.c (RRPAGE_DMABUF=1) makes memfd + UDMABUF_CREATE, then
DMA_BUF_IOCTL_EXPORT_SYNC_FILE through an imitation of rr's _raw_syscall and rr's page (svc at 0x70000000).
gdb 16.3 runs in the guest, as gdb runs on the tracee's machine at rr's stop (its stub listens on 127.0.0.1),
stops at the call's syscall-exit stop (catch syscall: the kernel's own exit stop, x7 = 1, pc 0x70000004), and
only then loads the plugin (no entry stop recorded). rr's trampoline moved the arguments: dmabuf-why must take
the fd from /proc, the only source left, and say so.

Ground truth: strace -f -yy of the same program in the guest (the fd of its EXPORT_SYNC_FILE line, a
/dmabuf: one) and /proc/PID/fd read by gdb's Python at the stop (tests/gdb_scripts/lab_arm64_native_stop.gdb)."""
from __future__ import annotations

import re
import sys
import time

from tests.support import strace
from tests.support.gdbrun import REPO, SCRIPTS
from tests.support.lab import lab_vm_arm64  # noqa: F401  (the session fixture)
from tests.support.rrpage_arm64 import PAGE, build

EXPORT = "0xc0086202"


def test_fd_in_rrs_page_comes_from_proc(lab_vm_arm64):  # noqa: F811
    vm = lab_vm_arm64
    exe = vm.to_guest(build())
    t0 = time.time()
    _, out, _ = vm.run(["sh", "-c", "RRPAGE_DMABUF=1 strace -f -qq -yy -o /tmp/rrpage.strace -e trace=ioctl "
                        "-e signal=none %s >/dev/null 2>&1; cat /tmp/rrpage.strace" % exe], timeout=120)
    exports = [c.fd(0) for c in strace.parse(out).named("ioctl", "DMA_BUF_IOCTL_EXPORT_SYNC_FILE")]
    assert len(exports) == 1 and exports[0] is not None, out
    fd, link = exports[0]
    assert link.startswith("/dmabuf:"), exports
    t1 = time.time()
    argv = [vm.gdb, "-nx", "-q", "-batch", "-ex", "set pagination off", "-ex", "set confirm off",
            "-ex", "set environment RRPAGE_DMABUF=1"]
    for s in ("lab_arm64_native_stop", "load_plugin", "run_commands"):
        argv += ["-x", vm.to_guest(SCRIPTS / (s + ".gdb"))]
    env = {"GDB_RR_DMABUF_QUIET": "1", "NO_COLOR": "1", "GDBT_REQUEST": EXPORT,
           "LABT_OUT": "%s/rrpage.out" % vm.guest_xdir, "PYTHONPYCACHEPREFIX": "/tmp/pycache",
           "GDBT_CMDS": ";;".join(["dmabuf-why --json", "dmabuf-why", "info registers x7"])}
    rc, so, se = vm.run(argv + [exe], env=env, cwd=vm.to_guest(REPO), timeout=400)
    sys.stderr.write("test_lab_rr_page_arm64: strace %.1f s, gdb %.1f s\n" % (t1 - t0, time.time() - t1))
    from tests.support.gdbrun import GdbResult
    res = GdbResult(so + se, rc)
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output[-3000:]
    program = (vm.xdir / "rrpage.out").read_text(errors="replace")
    assert re.search(r"^RRPAGE fd %d$" % fd, program, re.M), program
    assert res.json("proc")["fd"][str(fd)].startswith("/dmabuf:")
    assert re.search(r"^x7\s+0x1\s", res.section("c2"), re.M), res.section("c2")   # the kernel's exit stop
    j = res.json("c0")
    assert j["syscall"]["pc"] == PAGE + 4 and j["syscall"]["in_rr_page"] is True, j["syscall"]
    assert j["syscall"]["state"] == "exit" and j["syscall"]["result"] == 0
    rec = j["fd"]["recovery"]
    assert j["fd"]["number"] == fd and j["fd"]["target"].startswith("/dmabuf:"), (j["fd"], out)
    assert (rec["source"], rec["confidence"], rec["rr_page"]) == ("proc", "deduced", True), rec
    text = res.section("c1")
    assert re.search(r"^  fd\s+%d -> /dmabuf:" % fd, text, re.M), text
    assert "in rr's page /proc is the only source" in text, text
