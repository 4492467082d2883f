"""Figures of the lab (tools/lab/): build (warm; --cold into a fresh cache), boot to a ready guest, and one
rr-layout stop from the host (gdbserver in the guest, host gdb over target extended-remote to just after
the demo's real DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned), with and without the plugin's two commands.

    .venv/bin/python benchmarks/bench_lab.py [--arch x86-64|aarch64|all] [--cold] [--stops N]

--arch aarch64: the arm64 lab (qemu-system-aarch64, TCG), the demo cross-built for arm64 (cgo, with
aarch64-linux-gnu-gcc), the host's gdb-multiarch and tools/lab/demo_vm_arm64.gdb; figures named lab.arm64.*.
--arch all: both, one after the other (one VM at a time), x86-64's figures first.

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


def bench(arch, args):
    import labbuild
    import labvm
    from tests.support.toolchains import build_go
    arm = arch == "aarch64"
    pre = "lab.arm64." if arm else "lab."
    if args.cold:
        d = tempfile.mkdtemp(prefix="lab-cold-")
        t = time.time()
        subprocess.run([sys.executable, str(REPO / "tools" / "lab" / "lab"), "--arch", arch, "build"], check=True,
                       env=dict(os.environ, LAB_CACHE=d), stdout=subprocess.DEVNULL)
        figure(pre + "build.cold", time.time() - t, "s", 300 if arm else 180)
        shutil.rmtree(d, ignore_errors=True)
    t = time.time()
    b = labbuild.build(arch)
    figure(pre + "build.warm", time.time() - t, "s", 1)
    size = sum(f.stat().st_size for f in b.rootfs.rglob("*") if f.is_file() and not f.is_symlink())
    figure(pre + "rootfs.size", size / 1e6, "MB")
    t = time.time()
    vm = labvm.boot(arch, b=b)
    figure(pre + "boot.ready", time.time() - t, "s", 30 if arm else 20)
    print("accel %s (%s)%s" % (vm.accel, labvm._accel_cache.get("%s:%s:why" % (b.arch, b.kernel), "forced"),
                               " cpu %s" % " ".join(labbuild.ARCHES[arch]["tcg_cpu"][1:]) if arm else ""))
    if arm:
        exe = str(build_go("demo", env={"GOARCH": "arm64", "CC": "aarch64-linux-gnu-gcc"}, cgo=True))
        gdb, stop_script, reg = "gdb-multiarch", "demo_vm_arm64.gdb", "x0"
    else:
        exe = str(build_go("demo"))
        gdb, stop_script, reg = "gdb", "demo_vm.gdb", "rax"
    try:
        for i in range(args.stops):
            for plugin in (False, True):
                t = time.time()
                gs = vm.gdbserver([vm.to_guest(exe)], env={"DMADEMO_KERNEL": "real"})
                up = time.time() - t
                scripts = [str(REPO / "tools" / "lab" / stop_script)]
                if plugin:
                    scripts += [str(REPO / "tests" / "gdb_scripts" / "load_plugin.gdb"), str(REPO / "tests" / "gdb_scripts" / "demo.gdb")]
                argv = [gdb, "-nx", "-q", "-batch", "-ex", "set pagination off"]
                for s in scripts:
                    argv += ["-x", s]
                env = dict(os.environ, GDBT_REMOTE=gs.address, GDBT_SYSROOT=str(vm.rootfs), GDBT_REQUEST="0xc0086202",
                           GDB_RR_DMABUF_QUIET="1", NO_COLOR="1")
                p = subprocess.run(argv + (["-ex", "info registers " + reg] if not plugin else []) + [exe], env=env,
                                   cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True, timeout=600)
                total = time.time() - t
                gs.close()
                ok = ("returned from syscall ioctl" in p.stdout) and (not plugin or "go-callers" in p.stdout)
                if not ok:
                    print(p.stdout[-3000:])
                    raise SystemExit("bench_lab: the %s stop did not happen" % arch)
                figure(pre + "stop.gdbserver_up", up, "s")
                figure(pre + "stop%s" % (".with_commands" if plugin else ".remote"), total, "s",
                       (30 if arm else 20) if not plugin else None)
    finally:
        vm.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="x86-64", choices=["x86-64", "aarch64", "all"])
    ap.add_argument("--cold", action="store_true", help="also a cold build into a fresh LAB_CACHE")
    ap.add_argument("--stops", type=int, default=2)
    args = ap.parse_args()
    print("load average %s, %d cores" % (" ".join("%.1f" % x for x in os.getloadavg()), os.cpu_count()))
    for arch in (["x86-64", "aarch64"] if args.arch == "all" else [args.arch]):
        bench(arch, args)
    print("\n".join(["", "summary:"] + rows))


if __name__ == "__main__":
    main()
