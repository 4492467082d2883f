#!/usr/bin/env bash
# The main job on the bundled demo: build the Go 1.23.4 demo program, run it under gdb, stop where rr
# stops (just after DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned), source gdbinit.py and run the commands.
#   tools/demo.sh            the cgo path with the simulated dma-buf kernel (result 0, as under rr)
#   tools/demo.sh --real     let this kernel answer (a memfd is no dma-buf: ENOTTY)
#   tools/demo.sh --syscall  the ioctl made by Go's syscall.Syscall instead of C
#   tools/demo.sh --remote   through gdbserver + target extended-remote, as with rr's gdbserver
#   tools/demo.sh --vm       on the lab's real trixie kernel (udmabuf, a real sync_file) in qemu: gdbserver
#                            in the guest, the host's gdb over target extended-remote (tools/lab/)
#   tools/demo.sh --vm --arch aarch64   the same on the arm64 lab: the demo cross-built for arm64 (cgo with
#                            aarch64-linux-gnu-gcc), the host's gdb-multiarch
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/bootstrap.sh"
cd "$top"
kernel=simulate path=cgo remote=0 vm=0 arch=x86-64 want_arch=0
for a in "$@"; do
  if [ "$want_arch" = 1 ]; then arch=$a want_arch=0; continue; fi
  case "$a" in
    --arch) want_arch=1 ;;
    --real) kernel=real ;;
    --syscall) path=syscall ;;
    --remote) remote=1 ;;
    --vm) vm=1 ;;
    *) echo "usage: tools/demo.sh [--real] [--syscall] [--remote] [--vm [--arch aarch64]]" >&2; exit 2 ;;
  esac
done
if [ "$arch" != x86-64 ]; then
  if [ "$arch" != aarch64 ] || [ "$vm" != 1 ]; then
    echo "demo: --arch aarch64 goes with --vm (the arm64 lab); x86-64 is the default" >&2; exit 2
  fi
  exe=$(.venv/bin/python -c 'from tests.support.toolchains import build_go; print(build_go("demo", env={"GOARCH": "arm64", "CC": "aarch64-linux-gnu-gcc"}, cgo=True))')
  echo "demo: $exe (Go 1.23.4, arm64, cgo, DMADEMO_PATH=$path) on the arm64 lab's real kernel"
  DMADEMO_PATH=$path LAB_DEMO_ARCH=aarch64 exec .venv/bin/python tools/lab/demo_vm.py "$exe" \
    tools/lab/demo_vm_arm64.gdb tests/gdb_scripts/load_plugin.gdb tests/gdb_scripts/demo.gdb
fi
exe=$(.venv/bin/python -c 'from tests.support.toolchains import build_go; print(build_go("demo"))')
if [ "$vm" = 1 ]; then
  echo "demo: $exe (Go 1.23.4, cgo, DMADEMO_PATH=$path) on the lab's real kernel"
  DMADEMO_PATH=$path exec .venv/bin/python tools/lab/demo_vm.py "$exe" tools/lab/demo_vm.gdb \
    tests/gdb_scripts/load_plugin.gdb tests/gdb_scripts/demo.gdb
fi
echo "demo: $exe (Go 1.23.4, cgo, DMADEMO_PATH=$path DMADEMO_KERNEL=$kernel)"
export DMADEMO_PATH=$path DMADEMO_KERNEL=$kernel GDBT_REQUEST=0xc0086202
if [ "$kernel" = simulate ]; then
  echo "demo: this machine has no /dev/udmabuf; a seccomp supervisor in the demo answers the ioctl as a"
  echo "      dma-buf kernel would (result 0, new fd), which is the case that makes rr 5.8 abort."
fi
if [ "$remote" = 1 ]; then
  port=$(.venv/bin/python -c 'from tests.support.gdbrun import free_port; print(free_port())')
  gdbserver "127.0.0.1:$port" "$exe" >/tmp/gdb-rr-dmabuf-demo-gdbserver.log 2>&1 &
  srv=$!
  trap 'kill $srv 2>/dev/null || true' EXIT
  sleep 0.5
  GDBT_REMOTE=127.0.0.1:$port gdb -nx -q -batch -ex 'set pagination off' \
    -x tests/gdb_scripts/remote_stop_ioctl_exit.gdb -x tests/gdb_scripts/load_plugin.gdb \
    -x tests/gdb_scripts/demo.gdb "$exe"
else
  gdb -nx -q -batch -ex 'set pagination off' -x tests/gdb_scripts/stop_ioctl_exit.gdb \
    -x tests/gdb_scripts/load_plugin.gdb -x tests/gdb_scripts/demo.gdb "$exe"
fi
