"""tools/demo.sh --vm: the demo on the lab's real kernel (trixie 6.12, udmabuf, real dma-buf and sync_file).

Boots the lab (or uses the one `tools/lab/lab boot` left running), starts the demo under gdbserver in
the guest with DMADEMO_KERNEL=real, and runs the host's gdb the way rr's emergency layout is used:
target extended-remote, the guest's root file system as sysroot, a stop just after
DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned, then `source gdbinit.py`, bt, dmabuf-why, go-callers.
Usage: python3 tools/lab/demo_vm.py EXE [gdb scripts...]   (LAB_DEMO_ARCH=aarch64: the arm64 lab, gdb-multiarch)
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labcore import REPO, LabError  # noqa: E402
from labvm import attach, boot  # noqa: E402


def main(exe, scripts):
    t0 = time.time()
    arch = os.environ.get("LAB_DEMO_ARCH", "x86-64")
    try:
        vm, ours = attach(arch), False
        print("demo: using the running lab VM (qemu pid %d)" % vm.proc.pid)
    except LabError:
        print("demo: building (cached) and booting the lab VM (qemu; this takes a while under TCG)")
        sys.stdout.flush()
        vm, ours = boot(arch), True
        print("demo: lab VM ready in %.1fs (%s)" % (time.time() - t0, vm.accel))
    try:
        _, uname, _ = vm.run(["uname", "-r"], timeout=60)
        _, gdbv, _ = vm.run("ls -l /dev/udmabuf", timeout=60)
        print("demo: guest kernel %s, %s" % (uname.strip(), gdbv.strip()))
        env = {"DMADEMO_KERNEL": "real", "DMADEMO_PATH": os.environ.get("DMADEMO_PATH", "cgo")}
        t1 = time.time()
        gs = vm.gdbserver([vm.to_guest(exe)], env=env)
        print("demo: gdbserver in the guest on %s (host side), inferior pid %d; DMADEMO_KERNEL=real: the guest "
              "kernel answers the ioctl" % (gs.address, gs.pid))
        sys.stdout.flush()
        genv = dict(os.environ, GDBT_REMOTE=gs.address, GDBT_SYSROOT=str(vm.rootfs), GDBT_REQUEST="0xc0086202")
        argv = ["gdb" if arch == "x86-64" else "gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off"]
        for s in scripts:
            argv += ["-x", s]
        rc = subprocess.call(argv + [exe], env=genv, cwd=str(REPO), timeout=600)
        print("demo: host gdb stop and commands in %.1fs" % (time.time() - t1))
        print("demo: the program's own output in the guest (its goroutine and runtime.Stack):")
        print("      " + gs.log().strip().replace("\n", "\n      ")[:3000])
        gs.close()
        return rc
    finally:
        if ours:
            vm.stop()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1], sys.argv[2:]))
    except LabError as e:
        print(str(e), file=sys.stderr)
        sys.exit(1)
