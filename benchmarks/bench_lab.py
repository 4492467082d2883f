"""Figures of the lab (tools/lab/): build (warm; --cold into a fresh cache), boot to a ready guest, and one
rr-layout stop from the host (gdbserver in the guest, host gdb over target extended-remote to just after
the demo's real DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned), with and without the plugin's two commands.

    .venv/bin/python benchmarks/bench_lab.py [--cold] [--stops N]

Prints `FIGURE name value target T verdict` lines like bench_gdb.py. Not a timed test.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "lab"))
sys.path.insert(0, str(REPO))

rows = []


def figure(name, value, unit, target=None):
    verdict = "INFO" if target is None else ("PASS" if value <= target else "OVER")
    line = "FIGURE %-24s %10.1f %-3s target %-6s %s" % (name, value, unit, "-" if target is None else target, verdict)
    print(line, flush=True)
    rows.append(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold", action="store_true", help="also a cold build into a fresh LAB_CACHE")
    ap.add_argument("--stops", type=int, default=2)
    args = ap.parse_args()
    print("load average %s, %d cores" % (" ".join("%.1f" % x for x in os.getloadavg()), os.cpu_count()))
    if args.cold:
        d = tempfile.mkdtemp(prefix="lab-cold-")
        t = time.time()
        subprocess.run([sys.executable, str(REPO / "tools" / "lab" / "lab"), "build"], check=True,
                       env=dict(os.environ, LAB_CACHE=d), stdout=subprocess.DEVNULL)
        figure("lab.build.cold", time.time() - t, "s", 180)
        shutil.rmtree(d, ignore_errors=True)
    import lablib
    from tests.support.toolchains import build_go
    t = time.time()
    b = lablib.build()
    figure("lab.build.warm", time.time() - t, "s", 1)
    size = sum(f.stat().st_size for f in b.rootfs.rglob("*") if f.is_file() and not f.is_symlink())
    figure("lab.rootfs.size", size / 1e6, "MB")
    t = time.time()
    vm = lablib.boot(b=b)
    figure("lab.boot.ready", time.time() - t, "s", 20)
    print("accel %s (%s)" % (vm.accel, lablib._accel_cache.get("%s:%s:why" % (b.arch, b.kernel), "forced")))
    exe = str(build_go("demo"))
    try:
        for i in range(args.stops):
            for plugin in (False, True):
                t = time.time()
                gs = vm.gdbserver([vm.to_guest(exe)], env={"DMADEMO_KERNEL": "real"})
                up = time.time() - t
                scripts = [str(REPO / "tools" / "lab" / "demo_vm.gdb")]
                if plugin:
                    scripts += [str(REPO / "tests" / "gdb_scripts" / "load_plugin.gdb"), str(REPO / "tests" / "gdb_scripts" / "demo.gdb")]
                else:
                    scripts = scripts
                argv = ["gdb", "-nx", "-q", "-batch", "-ex", "set pagination off"]
                for s in scripts:
                    argv += ["-x", s]
                env = dict(os.environ, GDBT_REMOTE=gs.address, GDBT_SYSROOT=str(vm.rootfs), GDBT_REQUEST="0xc0086202",
                           GDB_RR_DMABUF_QUIET="1", NO_COLOR="1")
                p = subprocess.run(argv + (["-ex", "info registers rax"] if not plugin else []) + [exe], env=env,
                                   cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True, timeout=600)
                total = time.time() - t
                gs.close()
                ok = ("returned from syscall ioctl" in p.stdout) and (not plugin or "go-callers" in p.stdout)
                if not ok:
                    print(p.stdout[-3000:])
                    raise SystemExit("bench_lab: the stop did not happen")
                figure("lab.stop.gdbserver_up", up, "s")
                figure("lab.stop%s" % (".with_commands" if plugin else ".remote"), total, "s", 20 if not plugin else None)
    finally:
        vm.stop()
    print("\n".join(["", "summary:"] + rows))


if __name__ == "__main__":
    main()
