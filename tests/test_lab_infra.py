"""The lab itself (tools/lab/, tests/support/lab.py): the guest is the real thing, and every fault is one
line in bounded time with no qemu left behind. Ground truth from outside our code: the guest's own
uname/devices/gdb, /proc on the host for stray processes."""
from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest

from tests.support import lab as labsupport
from tests.support.lab import LabError, lab_vm, lab_vm_arm64, lablib  # noqa: F401  (the session fixtures)

pytestmark = pytest.mark.lab


def _qemus_with(text: str):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmd and text in cmd:
            found.append(int(pid))
    return found


def _one_line(e: BaseException) -> str:
    s = str(e)
    assert "\n" not in s and s.startswith("lab: "), s
    assert "Traceback" not in s
    return s


# ------------------------------------------------------------------------------ the guest is real


def test_guest_is_trixie_with_udmabuf_and_gdb16(lab_vm):
    rc, out, err = lab_vm.run(["uname", "-r"])
    assert rc == 0, err
    assert out.strip() == lab_vm.kernel_release
    assert re.fullmatch(r"6\.12\.\d+\+deb13-amd64", out.strip()), out
    # the device the demo and Mesa's llvmpipe open, and the kernel's config for it
    rc, out, _ = lab_vm.run("test -c /dev/udmabuf && stat -c '%t:%T' /dev/udmabuf")
    assert rc == 0, "no /dev/udmabuf in the guest"
    cfg = (lab_vm.build.kernel.parent / "config").read_text()
    assert "CONFIG_UDMABUF=y" in cfg and "CONFIG_SYNC_FILE=y" in cfg
    rc, out, _ = lab_vm.run(["gdb", "--version"])
    assert rc == 0 and re.search(r"^GNU gdb \(Debian 16\.3-\d+\) 16\.3$", out, re.M), out
    rc, out, err = lab_vm.run(["gdb", "-nx", "-q", "-batch", "-ex",
                               "python import sys; print('PY', sys.version_info[0], sys.version_info[1])"],
                              timeout=120)
    assert "PY 3 13" in out, out + err
    rc, out, _ = lab_vm.run("grep -o 'ID=debian\\|VERSION_CODENAME=trixie' /etc/os-release")
    assert "VERSION_CODENAME=trixie" in out
    # the host's sysroot is the guest's root: the same libc build-id both ways
    rc, out, _ = lab_vm.run(["sha256sum", "/usr/lib/x86_64-linux-gnu/libc.so.6"])
    import hashlib
    host = hashlib.sha256((lab_vm.rootfs / "usr/lib/x86_64-linux-gnu/libc.so.6").read_bytes()).hexdigest()
    assert out.split()[0] == host


def test_shares_and_files(lab_vm, tmp_path):
    here = Path(__file__).resolve()
    rc, out, _ = lab_vm.run(["head", "-c", "200", lab_vm.to_guest(here)])
    assert rc == 0 and out == here.read_text()[:200]
    # the exchange directory is writable from the guest and read on the host
    rc, _, err = lab_vm.run("echo from-guest > %s/infra.txt" % lab_vm.guest_xdir)
    assert rc == 0, err
    assert (lab_vm.xdir / "infra.txt").read_text() == "from-guest\n"
    src = tmp_path / "in.bin"
    src.write_bytes(bytes(range(256)) * 64)
    lab_vm.put(src, "/tmp/infra.bin")
    lab_vm.get("/tmp/infra.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
    rc, out, _ = lab_vm.run("cat", stdin="abc")
    assert out == "abc"
    rc, out, _ = lab_vm.run("echo $LABX; exit 3", env={"LABX": "x y"})
    assert (rc, out) == (3, "x y\n")


def test_strace_sees_the_real_ioctl_result(lab_vm):
    # ground truth the lab tests lean on: strace in the guest decodes the guest kernel's answers
    r = lab_vm.strace(["cat", "/proc/version"], trace="openat")
    assert r.rc == 0 and "Linux version 6.12" in r.stdout
    assert re.search(r'openat\(AT_FDCWD, "/proc/version", O_RDONLY\) = 3', r.trace), r.trace


# ------------------------------------------------------------------------------ faults: one line each


def test_guest_command_timeout_is_bounded(lab_vm):
    t = time.time()
    with pytest.raises(LabError) as e:
        lab_vm.run("sleep 60", timeout=2)
    assert time.time() - t < 20
    assert "timed out after 2" in _one_line(e.value)
    assert lab_vm.run("echo still-up")[1] == "still-up\n"


def test_gdbserver_that_dies(lab_vm):
    t = time.time()
    with pytest.raises(LabError) as e:
        lab_vm.gdbserver(["/no/such/program"])
    assert time.time() - t < 40
    assert "gdbserver in the guest exited" in _one_line(e.value)
    gs = lab_vm.gdbserver(["/bin/sleep", "600"])
    try:
        assert gs.pid > 0 and gs.alive()
        with socket.create_connection((gs.host, gs.port), timeout=10):
            pass
        lab_vm.check(["kill", "-9", str(gs.gdbserver_pid)])
        deadline = time.time() + 20
        while gs.alive() and time.time() < deadline:
            time.sleep(0.2)
        assert not gs.alive()
    finally:
        gs.close()


def test_taken_port_is_one_line(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        t = time.time()
        with pytest.raises(LabError) as e:
            lablib.boot(agent_port=port, b=_fake_build(tmp_path, b"x"))
        assert time.time() - t < 5
        assert "127.0.0.1:%d is taken" % port in _one_line(e.value)
    finally:
        s.close()


def _fake_build(tmp_path: Path, kernel: bytes) -> "lablib.Build":
    k = tmp_path / "vmlinuz"
    k.write_bytes(kernel)
    i = tmp_path / "initrd.cpio"
    i.write_bytes(b"070701" + b"0" * 200)
    return lablib.Build("x86-64", "fake", k, "0.0-fake", i, tmp_path, tmp_path / "manifest", None)


def test_broken_kernel_is_one_line_and_no_stray_qemu(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ACCEL", "tcg")
    t = time.time()
    with pytest.raises(LabError) as e:
        lablib.boot(b=_fake_build(tmp_path, b"\0" * 4096 + b"not a kernel"), timeout=60)
    assert time.time() - t < 30
    assert "qemu exited before the guest was ready" in _one_line(e.value)
    assert _qemus_with(str(tmp_path)) == []
    with pytest.raises(LabError) as e:
        lablib.boot(b=_fake_build(tmp_path, b"")._replace(kernel=tmp_path / "missing"), timeout=60)
    assert "does not exist" in _one_line(e.value)


def test_boot_timeout_kills_qemu(monkeypatch):
    # the real lab with a boot bound no guest can meet: one line, and that qemu is gone
    b = lablib.build()
    before = set(_qemus_with(str(b.initrd)))
    t = time.time()
    with pytest.raises(LabError) as e:
        lablib.boot(b=b, timeout=1)
    assert time.time() - t < 30
    assert "did not become ready within 1s" in _one_line(e.value)
    assert set(_qemus_with(str(b.initrd))) <= before


def test_missing_qemu_is_one_line(monkeypatch):
    monkeypatch.setitem(lablib.ARCHES["x86-64"], "qemu", "qemu-system-no-such-binary")
    with pytest.raises(LabError) as e:
        lablib.boot()
    assert "qemu-system-no-such-binary is not installed" in _one_line(e.value)


def test_package_that_cannot_be_fetched(monkeypatch):
    apt = lablib.Apt("amd64")
    apt.update()
    t = time.time()
    with pytest.raises(LabError) as e:
        apt.download("no-such-package-gdb-rr-dmabuf=1.0", Path(apt.dir) / "tmp-download")
    assert time.time() - t < 120
    assert "downloading no-such-package-gdb-rr-dmabuf" in _one_line(e.value)
    monkeypatch.setenv("LAB_EXTRA_PACKAGES", "no-such-package-gdb-rr-dmabuf")
    with pytest.raises(LabError) as e:
        lablib.resolve("x86-64", apt)
    assert "resolving trixie packages" in _one_line(e.value)
    assert "no-such-package-gdb-rr-dmabuf" in str(e.value)


def test_session_failure_is_remembered(monkeypatch):
    # the fixture fails (never skips) with the same one line for every test once the boot failed
    monkeypatch.setattr(labsupport, "_session_vm", None)
    monkeypatch.setattr(labsupport, "_session_error", "lab: qemu exited before the guest was ready: x")
    with pytest.raises(LabError) as e:
        labsupport.session_vm()
    assert str(e.value) == "lab: qemu exited before the guest was ready: x"


def test_project_gdbinit_loads_in_guest_gdb(lab_vm):
    # gdb 16.3 + Python 3.13 in the guest, the worktree's gdbinit.py at the same path, Debian's
    # python3-pyelftools and python3-pygments through vm.guest_env's GDB_RR_DMABUF_VENV: no warning line
    gdbinit = lab_vm.to_guest(labsupport.REPO / "gdbinit.py")
    rc, out, err = lab_vm.run(["gdb", "-nx", "-q", "-batch", "-ex", "source " + gdbinit, "-ex",
                               "python import elftools, pygments, sys; print('MODS', sys.version_info[:2])",
                               "-ex", "help dmabuf-why"], timeout=180)
    text = out + err
    assert rc == 0, text
    assert "MODS (3, 13)" in text and "usage: dmabuf-why" in out, text
    assert "warning" not in text.lower() and "venv" not in text, text


# ------------------------------------------------------------------------------ the arm64 lab


def test_arm64_guest_is_aarch64_as_built(lab_vm_arm64):
    vm = lab_vm_arm64
    assert vm.arch == "aarch64"
    rc, out, err = vm.run(["uname", "-m", "-r"])
    assert rc == 0, err
    release, machine = out.split()
    assert machine == "aarch64"
    assert release == vm.kernel_release
    assert re.fullmatch(r"6\.12\.\d+\+deb13-arm64", release), release
    assert (vm.rootfs / "usr/lib/aarch64-linux-gnu/libc.so.6").is_file()
