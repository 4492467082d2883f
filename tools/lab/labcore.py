"""The lab: a real Debian trixie guest (kernel 6.12 with udmabuf, Mesa 25, gdb 16.3 + Python 3.13,
gdbserver, strace) built only from Debian packages and booted with qemu. Python stdlib only.

One module per seam, each importing only those before it:
  labcore.py   this: paths (REPO, the cache under REPO/.cache/lab/), the per-arch table ARCHES, LabError
               (one line: what is wrong, what to do) and the bounded host-command runner
  labapt.py    a private apt configuration for trixie, its mirror read from the host's apt sources
  labbuild.py  kernel, rootfs and initramfs / root disk from Debian packages, cached by package versions
  labvm.py     boot with qemu (KVM probed, TCG otherwise), the Vm (commands, files, gdbserver in the
               guest), the VM `tools/lab/lab boot` left running
The CLI is tools/lab/lab; the tests' face of the lab is tests/support/lab.py.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence, Union

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = Path(os.environ.get("LAB_CACHE") or (REPO / ".cache" / "lab"))

ARCHES = {
    "x86-64": {
        "debarch": "amd64", "qemu": "qemu-system-x86_64", "console": "ttyS0",
        "machine": [], "tcg_cpu": ["-cpu", "max"], "kvm_cpu": ["-cpu", "host"],
        "kernel_meta": "linux-image-amd64", "kernel_re": r"^linux-image-6\.12\.[0-9]+\+deb13-amd64$",
        "nic": "virtio-net-pci", "p9": "virtio-9p-pci", "user_cpu": [], "gui": True,
    },
    "aarch64": {
        "debarch": "arm64", "qemu": "qemu-system-aarch64", "console": "ttyAMA0",
        # -cpu cortex-a76 (Armv8.2, no pointer authentication, no MTE): under TCG, -cpu max's QARMA
        # pointer authentication made the boot to a ready guest 97 s against 45 s with
        # max,pauth-impdef=on and 20 s with cortex-a76 (the same loaded host, 2026-12-01); trixie's
        # arm64 userland runs on Armv8.0. LAB_ARM64_CPU overrides (e.g. max,pauth-impdef=on for PAC).
        "machine": ["-M", "virt"], "tcg_cpu": ["-cpu", os.environ.get("LAB_ARM64_CPU") or "cortex-a76"],
        "kvm_cpu": ["-cpu", "host"],
        "kernel_meta": "linux-image-arm64", "kernel_re": r"^linux-image-6\.12\.[0-9]+\+deb13-arm64$",
        "nic": "virtio-net-pci", "p9": "virtio-9p-pci", "user_cpu": ["-cpu", "max,pauth-impdef=on"], "gui": True,
    },
}
GUEST_VENV = "/opt/gdb-rr-dmabuf-venv"



class LabError(AssertionError):
    """One line: 'lab: what is wrong: what to do'."""


_T0 = time.time()


def _say(msg: str) -> None:
    if os.environ.get("LAB_VERBOSE"):
        sys.stderr.write("lab: [%6.1fs] %s\n" % (time.time() - _T0, msg))
        sys.stderr.flush()


def _tail(text: str, n: int = 1) -> str:
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    return " / ".join(lines[-n:]) if lines else "(no output)"


def _run(argv: Sequence[str], what: str, todo: str, timeout: float, **kw) -> subprocess.CompletedProcess:
    """Run a host command, bounded; failure -> LabError with its last stderr line."""
    try:
        p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=timeout, **kw)
    except FileNotFoundError:
        raise LabError("lab: %s: %s is not installed: %s" % (what, argv[0], todo)) from None
    except subprocess.TimeoutExpired:
        raise LabError("lab: %s: %s took more than %ds: %s" % (what, argv[0], timeout, todo)) from None
    if p.returncode != 0:
        err = [l for l in p.stderr.splitlines() if l.startswith("E:")] or p.stderr.splitlines() or p.stdout.splitlines()
        raise LabError("lab: %s: %s (rc %d): %s" % (what, _tail("\n".join(err)), p.returncode, todo))
    return p



def _sha(*parts: Union[str, bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
