"""The tests' face of the lab: ONE real Debian trixie VM (kernel 6.12 with udmabuf, Mesa 25, gdb 16.3 +
Python 3.13, gdbserver, strace) per pytest session, booted with qemu (KVM if it works, else TCG).

The lab itself (build from Debian packages, cache, boot) lives in tools/lab/ (labcore.py, labapt.py,
labbuild.py, labvm.py; CLI tools/lab/lab).

Use it from a test module of kind `lab` (named in tests/conftest.py KIND_MODULES, which marks its tests):

    from tests.support.lab import lab_vm  # noqa: F401  (the session fixture; import it by name)

    def test_something(lab_vm):                                  # x86-64; lab_vm_arm64 for arm64
        rc, out, err = lab_vm.run(["uname", "-r"])               # argv list, or a shell string
        rc, out, err = lab_vm.run("echo $X", env={"X": "1"}, timeout=30)

The arm64 VM (fixture `lab_vm_arm64`, also marked `lab`): trixie arm64 under qemu-system-aarch64 (TCG: the
host is x86-64); its rootfs is unpacked only (no maintainer scripts, see labbuild._fix_extracted). One per
session, booted only when a test asks for it; both VMs may be up at once. Import it by name the same way
(kind `lab` too):  from tests.support.lab import lab_vm_arm64  # noqa: F401

The fixture builds (cached under .cache/lab/, ~0 s when warm, < 3 min cold) and boots one VM for the whole
session and kills it at the end (also on Ctrl-C or failure: by pid, atexit, and the kernel's
parent-death signal). When the lab cannot be built or booted, every test using it FAILS with one line
saying why (never skipped silently).

The VM object (class Vm):
  vm.arch            "x86-64" (lab_vm) or "aarch64" (lab_vm_arm64; gdb's names)
  vm.rootfs          Path on the host of the guest's root file system: `set sysroot <vm.rootfs>` for a
                     host gdb talking to the guest's gdbserver or reading a core written in the guest
  vm.kernel_release  the guest kernel's `uname -r` as built (e.g. "6.12.57+deb13-amd64")
  vm.gdb             "/usr/bin/gdb" in the guest (gdb 16.3, Python 3.13)
  vm.guest_env       environment every guest command starts from (PATH, HOME=/root, LC_ALL=C,
                     GDB_RR_DMABUF_VENV pointing to a venv-shaped directory over Debian's python3-pyelftools
                     and python3-pygments, so the project's gdbinit.py loads in the guest's gdb)

  Files. The worktree (the directory holding tests/) is mounted READ-ONLY in the guest at the SAME
  absolute path, and so is the real path of its .cache (a symlink in the worktree): a fixture built on the
  host under REPO/.cache/... and REPO/gdbinit.py have the same path in the guest. A per-session WRITABLE
  exchange directory is shared too:
  vm.xdir            Path on the host of the exchange directory (fresh, empty per session)
  vm.guest_xdir      its path in the guest ("/x")
  vm.to_guest(p)     host path -> guest path (under the worktree/.cache: the same; under vm.xdir: /x/...)
  vm.to_host(p)      guest path under /x -> host path
  vm.put(host_path, guest_path)   copy a file into the guest (any guest path; mode kept)
  vm.get(guest_path, host_path)   copy a file out of the guest (e.g. a core written in /tmp)
  Cores: let the guest write them into vm.guest_xdir (gcore -o /x/core...), read them on the host at vm.xdir.

  Commands (all bounded; a timeout kills the guest process group and raises LabError):
  vm.run(cmd, timeout=60, env=None, cwd=None, stdin=None) -> (rc, stdout, stderr)   (str; rc int)
  vm.check(cmd, ...) -> stdout          like run, but raises LabError (one line + stderr tail) if rc != 0
  vm.strace(argv, env=None, trace="ioctl,openat,memfd_create", timeout=120, signal="none")
        -> StraceResult(rc, stdout, stderr, trace)   trace = the text of `strace -f -qq -e trace=TRACE`
           (default decoding: lines like `PID ioctl(5, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, ...) = 0`)
  vm.gdbserver(argv, env=None) -> GdbServer(host, port, pid, ...)
        starts `gdbserver --once --no-startup-with-shell` on argv in the guest; the host's gdb connects with
        `target extended-remote HOST:PORT` (rr's emergency layout). pid = the inferior's pid in the guest.
        It is stopped at the program's first instruction (as gdbserver always does). Use it as a context
        manager or call .close() (kills it); at most vm.GDBSERVER_SLOTS at once. A gdbserver that dies
        before listening raises LabError with its last output line.
        .log() -> what gdbserver and the program printed so far (from a guest file)
  vm.host_gdb_args(gs) -> ["-ex", "set sysroot ROOTFS", "-ex", "target extended-remote HOST:PORT"]
        gs.address = "127.0.0.1:PORT"; gs.alive(); gs.gdbserver_pid (in the guest)

Errors: LabError (an AssertionError subclass with a one-line message "lab: what: what to do").
Environment knobs: LAB_ACCEL=kvm|tcg (skip the probe), LAB_BOOT_TIMEOUT (s, default 240: 17-18 s on a quiet 2-core machine, 50-85 s on a loaded one),
LAB_KEEP=1 (leave the exchange dir), LAB_VERBOSE=1 (progress lines on stderr), LAB_ARM64_CPU (the arm64 guest's
-cpu, default cortex-a76: no pointer authentication; max,pauth-impdef=on for PAC).
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_LABDIR = REPO / "tools" / "lab"
if str(_LABDIR) not in sys.path:
    sys.path.insert(0, str(_LABDIR))

import labbuild  # noqa: E402,F401  (tools/lab/: labcore, labapt, labbuild, labvm; stdlib only)
import labvm  # noqa: E402
from labcore import LabError  # noqa: E402,F401
from labvm import GdbServer, StraceResult, Vm  # noqa: E402,F401

import pytest  # noqa: E402

_session_vms = {}     # arch -> Vm: one per arch per session (both may be up at once)
_session_errors = {}  # arch -> the one line of its failed build/boot
# The x86-64 ones under their old names (tests monkeypatch them).
_session_vm = None
_session_error = None


def session_vm(arch: str = "x86-64") -> Vm:
    """Build (cached) and boot the session's VM for arch once; later calls return the same VM.
    A failure is remembered: later calls raise the same one line at once."""
    global _session_vm, _session_error
    if arch == "x86-64":
        vm, err = _session_vm, _session_error
    else:
        vm, err = _session_vms.get(arch), _session_errors.get(arch)
    if vm is not None and vm.alive():
        return vm
    if err is not None:
        raise LabError(err)
    try:
        vm = labvm.boot(arch=arch)
    except LabError as e:
        if arch == "x86-64":
            _session_error = str(e)
        else:
            _session_errors[arch] = str(e)
        raise
    if arch == "x86-64":
        _session_vm = vm
    else:
        _session_vms[arch] = vm
    return vm


def _fixture(arch: str):
    try:
        vm = session_vm(arch)
    except LabError as e:
        pytest.fail(str(e), pytrace=False)
    yield vm
    vm.stop()


@pytest.fixture(scope="session")
def lab_vm():
    """The x86-64 lab VM (booted at the first test that asks for it)."""
    yield from _fixture("x86-64")


@pytest.fixture(scope="session")
def lab_vm_arm64():
    """The arm64 lab VM: qemu-system-aarch64 (TCG on an x86-64 host), the same Vm API as lab_vm with
    vm.arch == "aarch64" and vm.rootfs the arm64 sysroot. Booted at the first test that asks for it;
    may be up together with the x86-64 one."""
    yield from _fixture("aarch64")
