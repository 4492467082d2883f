"""dmabuf-why's fd at the arm64 exit stop (x0 holds the result there), for real: programs cross-built on
the host, run in the arm64 lab VM under gdbserver, the host's gdb-multiarch stopped after the real
DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned (rr's layout: remote, no /proc), once per way the fd can come back:

- Go's syscall.Syscall (direct path, stripped): the stack slot internal/runtime/syscall.Syscall6 loaded x0
  from before its svc;
- the same with gdbinit.py sourced before the run: x0 remembered at the entry stop;
- C -> libdrm's drmIoctl (the guest's stripped libdrm.so.2, as Mesa calls it) -> glibc's ioctl: drmIoctl
  keeps the fd in callee-saved x22 (`mov w22, w0` ... `mov w0, w22; bl ioctl`);
- C at -O0 -> glibc's ioctl: the caller's stack slot it loaded w0 from;
- C at -O2, stripped: export_libc passes w0 on (its start taken after the `ret` before it: no symbols),
  main keeps the fd in callee-saved x19;
- C where the fd is a call's return value handed straight to ioctl: "unknown", and the value is really
  gone (in no register and nowhere in the first 1 KiB of stack at the stop);
- the drmIoctl stop once more from a core the host's gdb wrote there (gcore over gdbserver).

Ground truth: `strace -f -yy` of the same program and arguments in the guest (the fd of the
EXPORT_SYNC_FILE line, a /dmabuf: one), and for the last case the fd the program printed. x7 at both
stops is the arm64 kernel's syscall-stop marker: 0 at entry, 1 at exit.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.support import strace
from tests.support.gdbrun import REPO, SCRIPTS, GdbResult, gdb_env
from tests.support.lab import lab_vm_arm64  # noqa: F401  (the session fixture)
from tests.support.toolchains import CACHE, DEFAULT_GO, FIXTURES, _digest, build_go

CROSS_CC = "aarch64-linux-gnu-gcc"
EXPORT = "0xc0086202"

# (id, program, args, source gdbinit.py before the run, the recovery source expected)
CASES = [
    ("go-direct-stripped", "go", ["3"], False, "syscall-slot"),
    ("go-direct-entry", "go", ["2"], True, "entry-stop"),
    ("c-drmIoctl", "c-O2", ["drm", "2"], False, "caller-register"),
    ("c-O0-libc", "c-O0", ["libc", "2"], False, "caller-stack"),
    ("c-stripped-libc", "c-O2-s", ["libc", "2"], False, "caller-register"),
    ("c-gone", "c-O2", ["gone"], False, None),
]


def _cross_c(opt: str) -> str:
    src = FIXTURES / "c" / "fdprobe_arm64.c"
    flags = ["-g"] + opt.split()
    out_dir = CACHE / "build" / ("c-arm64-fdprobe-%s" % _digest([src], flags + [CROSS_CC]))
    exe = out_dir / "fdprobe_arm64"
    if not exe.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = exe.with_name("fdprobe_arm64.tmp")
        subprocess.run([CROSS_CC] + flags + ["-o", str(tmp), str(src), "-ldl"], check=True, timeout=120)
        tmp.rename(exe)
    return str(exe)


def _program(kind: str) -> str:
    if kind == "go":
        return str(build_go("fdprobe", DEFAULT_GO, stripped=True, cgo=False, env={"GOARCH": "arm64"}))
    return _cross_c({"c-O2": "-O2", "c-O0": "-O0", "c-O2-s": "-O2 -s"}[kind])


@pytest.fixture(scope="module")
def stops(lab_vm_arm64, tmp_path_factory):  # noqa: F811
    vm = lab_vm_arm64
    if not shutil.which("gdb-multiarch") or not shutil.which(CROSS_CC):
        pytest.fail("needs gdb-multiarch and %s on the host (tools/bootstrap.sh installs them)" % CROSS_CC)
    progs = {k: _program(k) for k in ("go", "c-O2", "c-O0", "c-O2-s")}
    # Ground truth first: every program under strace -yy in the guest, in one guest command.
    # strace writes to its own file (-o), so the program's output cannot break its lines.
    script = "; ".join("strace -f --seccomp-bpf -qq -yy -o /tmp/fdtruth.strace -e trace=ioctl -e signal=none %s %s >/dev/null 2>&1; "
                       "echo '@@ %s'; cat /tmp/fdtruth.strace" % (vm.to_guest(progs[kind]), " ".join(args), cid)
                       for cid, kind, args, _, _ in CASES)
    t0 = time.time()
    _, out, _ = vm.run(["sh", "-c", script], timeout=300)
    truth = {}
    for chunk in out.split("@@ ")[1:]:
        cid, _, text = chunk.partition("\n")
        exports = [c.fd(0) for c in strace.parse(text).named("ioctl", "DMA_BUF_IOCTL_EXPORT_SYNC_FILE")]
        truth[cid.strip()] = ([fd for fd in exports if fd is not None], text)
    res = {"strace_seconds": time.time() - t0, "truth": truth, "stops": {}}
    core = tmp_path_factory.mktemp("arm64-fd") / "core-drm"
    for cid, kind, args, entry, _ in CASES:
        t1 = time.time()
        with vm.gdbserver([vm.to_guest(progs[kind])] + args) as gs:
            env = gdb_env({"GDBT_REMOTE": gs.address, "LABT_ENTRY": "1" if entry else "",
                           "LABT_GCORE": str(core) if cid == "c-drmIoctl" else "",
                           "GDBT_REQUEST": EXPORT, "GDBT_CMDS": "dmabuf-why --json;;dmabuf-why -v"})
            p = subprocess.run(["gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off",
                                "-ex", "set sysroot %s" % vm.rootfs,
                                "-x", str(SCRIPTS / "lab_arm64_fd.gdb"), "-x", str(SCRIPTS / "run_commands.gdb"),
                                progs[kind]], cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True, timeout=240)
            log = gs.log()
        res["stops"][cid] = (GdbResult(p.stdout, p.returncode), log, time.time() - t1)
    # the drmIoctl stop again from the core the host's gdb wrote there (gdb's unwinder over a core)
    t2 = time.time()
    p = subprocess.run(["gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off",
                        "-ex", "set sysroot %s" % vm.rootfs, "-x", str(SCRIPTS / "load_core.gdb"),
                        "-x", str(SCRIPTS / "load_plugin.gdb"), "-x", str(SCRIPTS / "run_commands.gdb"),
                        progs["c-O2"]], cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=gdb_env({"GDBT_CORE": str(core), "GDBT_CMDS": "dmabuf-why --json"}),
                       universal_newlines=True, timeout=120)
    res["core"] = GdbResult(p.stdout, p.returncode)
    sys.stderr.write("test_lab_arm64_fd: strace %.1f s, stops %s, core %.1f s, in all %.1f s\n" % (
        res["strace_seconds"], ", ".join("%s %.1f s" % (k, v[2]) for k, v in res["stops"].items()),
        time.time() - t2, time.time() - t0))
    return res


@pytest.mark.parametrize("cid,kind,args,entry,source", CASES, ids=[c[0] for c in CASES])
def test_fd_at_the_exit_stop_is_straces_fd(stops, cid, kind, args, entry, source):
    r, log, secs = stops["stops"][cid]
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output[-3000:]
    assert r.json("x7")["x7"] == [0, 1], "x7 at the entry and exit stops (the arm64 kernel's syscall-stop marker)"
    j = r.json("c0")
    assert j["arch"] == "aarch64" and j["syscall"]["state"] == "exit" and j["syscall"]["result"] == 0
    text = r.section("c1")
    rec = j["fd"]["recovery"]
    lines, strace_out = stops["truth"][cid]
    if source is None:
        return _check_gone(r, j, text, log)
    assert len(lines) == 1, strace_out[-2000:]
    fd, link = lines[0]
    assert link.startswith("/dmabuf:"), lines  # strace -yy: the EXPORT_SYNC_FILE fd is a dma-buf
    assert j["fd"]["number"] == fd, (rec["tried"], rec, strace_out[-1500:])
    assert rec["source"] == source and rec["confidence"] == "exact", rec
    # the program printed its dma-buf fds before the call: the last one is the one it exports from
    assert re.search(r"dmabuf=\[?[\d ]*\b%d\]?\s" % fd, log), log
    row = re.search(r"^  fd\s+(.*)$", text, re.M).group(1)
    assert row.startswith("%d  (from " % fd), row
    assert "note: fd %d read from: " % fd in text


def _check_gone(r, j, text, log):
    rec = j["fd"]["recovery"]
    assert j["fd"]["number"] is None and rec["source"] is None and rec["confidence"] is None, rec
    fresh = int(re.search(r"^fresh=(\d+)$", log, re.M).group(1))   # the fd the program handed to ioctl
    regs = r.json("regs")
    # really gone: not in any register (x0 is the result) nor in the first 1 KiB of stack at the stop
    assert fresh not in [v & 0xFFFFFFFF for k, v in regs["regs"].items()], regs["regs"]
    stack = bytes.fromhex(regs["stack"])
    words = [int.from_bytes(stack[i:i + 4], "little") for i in range(0, len(stack) - 3, 4)]
    assert fresh not in words
    assert any("does not set w0 from a register or its stack" in t for t in rec["tried"]), rec["tried"]
    assert re.search(r"^  fd\s+unknown: the exit stop overwrote x0 and no frame kept it$", text, re.M), text
    assert "stop at the call's entry (`catch syscall ioctl`" in text



def test_fd_from_a_core_of_the_drmioctl_stop(stops):
    """gcore of the c-drmIoctl exit stop, read by the host's gdb: x7 is still 1 in the core's registers
    and drmIoctl's x22 comes back through gdb's unwinder, as at the live stop."""
    j = stops["core"].json("c0")
    lines, _ = stops["truth"]["c-drmIoctl"]
    assert j["syscall"]["state"] == "exit" and not any("cannot tell" in n for n in j["notes"]), j["notes"]
    assert j["fd"]["number"] == int(lines[0][0]) and j["fd"]["recovery"]["source"] == "caller-register", j["fd"]
