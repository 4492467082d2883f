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
from tests.support import strace
from tests.support.lab import LabError, lab_vm, lab_vm_arm64, labbuild, labvm  # noqa: F401  (the session fixtures)


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
    o = strace.parse(r.trace).named("openat")
    assert [(c.args, c.result) for c in o if c.args[1:2] == ['"/proc/version"']] == [
        (["AT_FDCWD", '"/proc/version"', "O_RDONLY"], 3)], r.trace


# ------------------------------------------------------------------------------ faults: one line each


# A bound here tells "ended by our timeout or error path" from "ran into the hang": each limit is far from
# the time the path takes even on a loaded machine and far below the time the hang would take.

def test_guest_command_timeout_is_bounded(lab_vm):
    t = time.time()
    with pytest.raises(LabError) as e:
        lab_vm.run("sleep 900", timeout=2)
    assert time.time() - t < 300
    assert "timed out after 2" in _one_line(e.value)
    assert lab_vm.run("echo still-up")[1] == "still-up\n"


def test_gdbserver_that_dies(lab_vm):
    t = time.time()
    with pytest.raises(LabError) as e:
        lab_vm.gdbserver(["/no/such/program"], timeout=600)
    assert time.time() - t < 300            # gdbserver's own exit ends the wait, not the timeout
    assert "gdbserver in the guest exited" in _one_line(e.value)
    gs = lab_vm.gdbserver(["/bin/sleep", "600"])
    try:
        assert gs.pid > 0 and gs.alive()
        with socket.create_connection((gs.host, gs.port), timeout=10):
            pass
        lab_vm.check(["kill", "-9", str(gs.gdbserver_pid)])
        deadline = time.time() + 300
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
            labvm.boot(agent_port=port, b=_fake_build(tmp_path, b"x"))
        assert time.time() - t < 120          # refused before qemu starts
        assert "127.0.0.1:%d is taken" % port in _one_line(e.value)
    finally:
        s.close()


def _fake_build(tmp_path: Path, kernel: bytes) -> "labbuild.Build":
    k = tmp_path / "vmlinuz"
    k.write_bytes(kernel)
    i = tmp_path / "initrd.cpio"
    i.write_bytes(b"070701" + b"0" * 200)
    return labbuild.Build("x86-64", "fake", k, "0.0-fake", i, tmp_path, tmp_path / "manifest", None)


def test_broken_kernel_is_one_line_and_no_stray_qemu(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ACCEL", "tcg")
    t = time.time()
    with pytest.raises(LabError) as e:
        labvm.boot(b=_fake_build(tmp_path, b"\0" * 4096 + b"not a kernel"), timeout=900)
    assert time.time() - t < 300            # qemu's exit ends the wait, not the boot timeout
    assert "qemu exited before the guest was ready" in _one_line(e.value)
    assert _qemus_with(str(tmp_path)) == []
    with pytest.raises(LabError) as e:
        labvm.boot(b=_fake_build(tmp_path, b"")._replace(kernel=tmp_path / "missing"), timeout=60)
    assert "does not exist" in _one_line(e.value)


def test_boot_timeout_kills_qemu(monkeypatch):
    # the real lab with a boot bound no guest can meet: one line, and that qemu is gone
    b = labbuild.build()
    before = set(_qemus_with(str(b.initrd)))
    t = time.time()
    with pytest.raises(LabError) as e:
        labvm.boot(b=b, timeout=1)
    assert time.time() - t < 300            # the guest itself needs far longer: it was not waited for
    assert "did not become ready within 1s" in _one_line(e.value)
    assert set(_qemus_with(str(b.initrd))) <= before


def test_missing_qemu_is_one_line(monkeypatch):
    monkeypatch.setitem(labbuild.ARCHES["x86-64"], "qemu", "qemu-system-no-such-binary")
    with pytest.raises(LabError) as e:
        labvm.boot()
    assert "qemu-system-no-such-binary is not installed" in _one_line(e.value)


def test_package_that_cannot_be_fetched(monkeypatch):
    apt = labbuild.Apt("amd64")
    apt.update()
    t = time.time()
    with pytest.raises(LabError) as e:
        apt.download("no-such-package-gdb-rr-dmabuf=1.0", Path(apt.dir) / "tmp-download")
    assert time.time() - t < 300
    assert "downloading no-such-package-gdb-rr-dmabuf" in _one_line(e.value)
    monkeypatch.setenv("LAB_EXTRA_PACKAGES", "no-such-package-gdb-rr-dmabuf")
    with pytest.raises(LabError) as e:
        labbuild.resolve("x86-64", apt)
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
# trixie arm64 under qemu-system-aarch64 (TCG), its rootfs unpacked only (no maintainer scripts): each gap
# those scripts would have filled is checked here against the guest's own tools, and the host side (gdb-
# multiarch over the guest's gdbserver, a core written in the guest) against what the program itself printed.

# A probe cross-built on the host with aarch64-linux-gnu-gcc against the cross glibc (2.36, older than the
# guest's): udmabuf (memfd + UDMABUF_CREATE + DMA_BUF_IOCTL_EXPORT_SYNC_FILE), egl (libglvnd -> Mesa,
# surfaceless), vk (the Vulkan loader -> lavapipe). It dlopens the guest's libraries (no guest headers),
# and prints its own thread pointer (TPIDR_EL0) first.
PROBE_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/udmabuf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int udmabuf(void) {
	int dev = open("/dev/udmabuf", O_RDWR);
	int mfd = memfd_create("lab_probe", MFD_ALLOW_SEALING);
	if (dev < 0 || mfd < 0 || ftruncate(mfd, 4096) != 0 || fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) != 0)
		return printf("LAB FAIL setup\n"), 1;
	struct udmabuf_create c = {.memfd = mfd, .flags = UDMABUF_FLAGS_CLOEXEC, .offset = 0, .size = 4096};
	int buf = ioctl(dev, UDMABUF_CREATE, &c);
	struct dma_buf_export_sync_file s = {.flags = DMA_BUF_SYNC_READ, .fd = -1};
	int r = buf < 0 ? -1 : ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &s);
	printf("LAB udmabuf %d export %d sync_file %d\n", buf, r, s.fd);
	return r == 0 && s.fd >= 0 ? 0 : 1;
}

static int egl(void) {
	void *h = dlopen("libEGL.so.1", RTLD_NOW);
	if (!h)
		return printf("LAB FAIL dlopen %s\n", dlerror()), 1;
	void *(*get_display)(unsigned, void *, const intptr_t *) = dlsym(h, "eglGetPlatformDisplay");
	unsigned (*init)(void *, int *, int *) = dlsym(h, "eglInitialize");
	const char *(*query)(void *, int) = dlsym(h, "eglQueryString");
	int major = 0, minor = 0;
	void *dpy = get_display(0x31DD /* EGL_PLATFORM_SURFACELESS_MESA */, NULL, NULL);
	if (!dpy || !init(dpy, &major, &minor))
		return printf("LAB FAIL eglInitialize\n"), 1;
	printf("LAB EGL %d.%d vendor \"%s\" version \"%s\"\n", major, minor, query(dpy, 0x3053), query(dpy, 0x3054));
	return 0;
}

struct vk_instance_info { /* VkInstanceCreateInfo */
	int32_t type;
	const void *next;
	uint32_t flags;
	const void *app;
	uint32_t nlayers;
	const char *const *layers;
	uint32_t next_ext;
	const char *const *exts;
};

static int vk(void) {
	void *h = dlopen("libvulkan.so.1", RTLD_NOW);
	if (!h)
		return printf("LAB FAIL dlopen %s\n", dlerror()), 1;
	int (*create)(const struct vk_instance_info *, const void *, void **) = dlsym(h, "vkCreateInstance");
	int (*enumerate)(void *, uint32_t *, void **) = dlsym(h, "vkEnumeratePhysicalDevices");
	void (*props)(void *, void *) = dlsym(h, "vkGetPhysicalDeviceProperties");
	struct vk_instance_info info = {.type = 1 /* VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO */};
	void *inst = NULL, *dev[8];
	uint32_t n = 8;
	int r = create(&info, NULL, &inst);
	if (r != 0)
		return printf("LAB FAIL vkCreateInstance %d\n", r), 1;
	r = enumerate(inst, &n, dev);
	if (r != 0 || n == 0)
		return printf("LAB FAIL vkEnumeratePhysicalDevices %d n %u\n", r, n), 1;
	static char p[8192]; /* VkPhysicalDeviceProperties: deviceName at offset 20 */
	props(dev[0], p);
	printf("LAB VK devices %u first \"%s\"\n", n, p + 20);
	return 0;
}

int main(int argc, char **argv) {
	const char *m = argc > 1 ? argv[1] : "udmabuf";
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("LAB PID %d TP %p\n", getpid(), __builtin_thread_pointer());
	if (!strcmp(m, "egl"))
		return egl();
	if (!strcmp(m, "vk"))
		return vk();
	return udmabuf();
}
"""


@pytest.fixture(scope="module")
def arm64_probe(lab_vm_arm64):
    """(host path, guest path) of the probe, built into the session's exchange directory."""
    import shutil
    import subprocess
    cc = shutil.which("aarch64-linux-gnu-gcc")
    if cc is None:
        pytest.fail("lab: aarch64-linux-gnu-gcc is not installed: run tools/bootstrap.sh", pytrace=False)
    src = lab_vm_arm64.xdir / "lab_probe.c"
    src.write_text(PROBE_C)
    exe = lab_vm_arm64.xdir / "lab_probe"
    p = subprocess.run([cc, "-O1", "-g", "-Wall", "-o", str(exe), str(src), "-ldl"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert p.returncode == 0, p.stdout
    return exe, lab_vm_arm64.to_guest(exe)


def _gdb_multiarch():
    import shutil
    g = shutil.which("gdb-multiarch")
    if g is None:
        pytest.fail("lab: gdb-multiarch is not installed: run tools/bootstrap.sh", pytrace=False)
    return g


def _tp(out: str) -> int:
    m = re.search(r"LAB PID \d+ TP (0x[0-9a-f]+)", out)
    assert m, out
    return int(m.group(1), 16)


def test_arm64_guest_is_aarch64_as_built(lab_vm_arm64):
    vm = lab_vm_arm64
    assert vm.arch == "aarch64"
    rc, out, err = vm.run(["uname", "-m", "-r"])
    assert rc == 0, err
    release, machine = out.split()
    assert machine == "aarch64"
    assert release == vm.kernel_release
    assert re.fullmatch(r"6\.12\.\d+\+deb13-arm64", release), release
    cfg = (vm.build.kernel.parent / "config").read_text()
    assert "CONFIG_UDMABUF=y" in cfg and "CONFIG_SYNC_FILE=y" in cfg
    rc, out, _ = vm.run("test -c /dev/udmabuf && stat -c '%t:%T' /dev/udmabuf")
    assert rc == 0, "no /dev/udmabuf in the arm64 guest"
    # the host's sysroot is the guest's root
    import hashlib
    rc, out, _ = vm.run(["sha256sum", "/usr/lib/aarch64-linux-gnu/libc.so.6"])
    host = hashlib.sha256((vm.rootfs / "usr/lib/aarch64-linux-gnu/libc.so.6").read_bytes()).hexdigest()
    assert out.split()[0] == host


def test_arm64_unpacked_rootfs_has_what_maintainer_scripts_make(lab_vm_arm64):
    vm = lab_vm_arm64
    # libc-bin's trigger: the loader's cache, read by the guest's own ldconfig, and used by ld.so
    rc, out, err = vm.run("ldconfig -p")
    assert rc == 0 and re.search(r"^\d+ libs found in cache `/etc/ld.so.cache'", out, re.M), out + err
    for lib in ("libc.so.6", "libEGL_mesa.so.0", "libvulkan_lvp.so", "libpython3.13.so.1.0", "libgallium"):
        assert re.search(r"^\s+%s.* => /(usr/)?lib/aarch64-linux-gnu/" % re.escape(lib), out, re.M), lib
    r = vm.strace(["true"], trace="openat")
    assert [c.result for c in strace.parse(r.trace).named("openat")
            if c.args[1:] == ['"/etc/ld.so.cache"', "O_RDONLY|O_CLOEXEC"]] == [3], r.trace
    # py3compile / python3.13's py_compile: the stdlib, dist-packages and gdb's Python are byte-compiled,
    # so a Python start reads .pyc (python -v says which code object it loaded from where)
    rc, out, err = vm.run(["python3", "-v", "-c", "import json, socketserver, elftools.elf.elffile, pygments"],
                          timeout=120)
    assert rc == 0, err
    for d, mod in (("json/", "__init__"), ("", "socketserver"), ("elftools/elf/", "elffile"), ("pygments/", "__init__")):
        pyc = "%s__pycache__/%s.cpython-313.pyc" % (d, mod)
        assert re.search(r"^# code object from '/usr/lib/python3[^']*/%s'$" % re.escape(pyc), err, re.M), pyc
    assert "# wrote " not in err  # nothing compiled at run time
    assert list((vm.rootfs / "usr/share/gdb/python/gdb/__pycache__").glob("__init__.cpython-313.pyc"))
    # update-alternatives and /etc defaults the scripts install
    rc, out, err = vm.run("echo 'a b' | awk '{print $2}'; which which; readlink -f /usr/bin/pager; "
                          "getent hosts localhost; cat /etc/shells | grep -c /bin/sh")
    assert rc == 0, err
    lines = out.split("\n")
    assert lines[0] == "b" and lines[1] == "/usr/bin/which" and lines[2] == "/usr/bin/more", out
    assert re.match(r"(127\.0\.0\.1|::1)\s+localhost", lines[3]), out
    rc, out, _ = vm.run(["gdb", "--version"])
    assert rc == 0 and re.search(r"^GNU gdb \(Debian 16\.3-\d+\) 16\.3$", out, re.M), out


def test_arm64_udmabuf_export_sync_file_under_strace(lab_vm_arm64, arm64_probe):
    _, probe = arm64_probe
    r = lab_vm_arm64.strace([probe, "udmabuf"], trace="ioctl,memfd_create")
    assert r.rc == 0, r.stdout + r.stderr
    rc, out, err = lab_vm_arm64.run(["strace", "-yy", "-qq", "-e", "trace=ioctl,openat,memfd_create", probe])
    assert rc == 0, out + err
    t = strace.parse(err)
    # strace 6.13 marks a memfd (never linked) as gone: `= 3</memfd:lab_probe>(deleted)`
    assert [(c.args, c.result_deco) for c in t.named("memfd_create")] == [
        (['"lab_probe"', "MFD_ALLOW_SEALING"], "/memfd:lab_probe (deleted)")], err
    made = t.named("ioctl", "UDMABUF_CREATE")
    assert len(made) == 1 and re.match(r"^/dev/udmabuf<char 10:\d+>$", made[0].fd(0)[1] or ""), err
    buf = made[0].result
    ex = t.named("ioctl", "DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    assert [(c.fd(0), c.result) for c in ex] == [((buf, "/dmabuf:"), 0)], err
    assert re.search(r"^LAB udmabuf %s export 0 sync_file \d+$" % buf, out, re.M), out


def test_arm64_mesa_egl_and_vulkan(lab_vm_arm64, arm64_probe):
    # libglvnd finds Mesa through egl_vendor.d, the Vulkan loader finds lavapipe through icd.d, and each
    # makes the real EXPORT_SYNC_FILE probe once (strace in the guest)
    _, probe = arm64_probe
    env = {"LIBGL_ALWAYS_SOFTWARE": "1"}
    r = lab_vm_arm64.strace([probe, "egl"], env=env, trace="ioctl,openat", timeout=600)
    assert r.rc == 0, r.stdout + r.stderr
    assert re.search(r'^LAB EGL 1\.[45] vendor "Mesa Project"', r.stdout, re.M), r.stdout
    _opened_once_and_probed(r.trace, "/usr/share/glvnd/egl_vendor.d/50_mesa.json")
    r = lab_vm_arm64.strace([probe, "vk"], env=env, trace="ioctl,openat", timeout=600)
    assert r.rc == 0, r.stdout + r.stderr
    assert re.search(r'^LAB VK devices \d+ first "llvmpipe \(LLVM \d+', r.stdout, re.M), r.stdout
    _opened_once_and_probed(r.trace, "/usr/share/vulkan/icd.d/lvp_icd.json")


def _opened_once_and_probed(trace: str, path: str) -> None:
    """strace -f: the file was opened (read-only, successfully) and one EXPORT_SYNC_FILE returned 0."""
    t = strace.parse(trace)
    assert any(c.args[1:] == ['"%s"' % path, "O_RDONLY"] and c.result is not None and c.result >= 0
               for c in t.named("openat")), trace
    assert [c.result for c in t.named("ioctl", "DMA_BUF_IOCTL_EXPORT_SYNC_FILE")] == [0], trace


def test_arm64_project_gdbinit_loads_in_guest_gdb(lab_vm_arm64):
    gdbinit = lab_vm_arm64.to_guest(labsupport.REPO / "gdbinit.py")
    rc, out, err = lab_vm_arm64.run(["gdb", "-nx", "-q", "-batch", "-ex", "source " + gdbinit, "-ex",
                                     "python import elftools, pygments, sys; print('MODS', sys.version_info[:2])",
                                     "-ex", "help dmabuf-why"], timeout=240)
    text = out + err
    assert rc == 0, text
    assert "MODS (3, 13)" in text and "usage: dmabuf-why" in out, text
    assert "warning" not in text.lower() and "venv" not in text, text


# gdb stops at the return of the second ioctl (EXPORT_SYNC_FILE); x8 is the syscall number, x0 its result
_TO_EXPORT_RETURN = ["-ex", "catch syscall ioctl", "-ex", "continue", "-ex", "continue", "-ex", "continue",
                     "-ex", "continue"]


def test_arm64_host_gdb_multiarch_over_gdbserver(lab_vm_arm64, arm64_probe):
    import subprocess
    vm = lab_vm_arm64
    exe, probe = arm64_probe
    with vm.gdbserver([probe, "udmabuf"]) as gs:
        p = subprocess.run([_gdb_multiarch(), "-nx", "-q", "-batch", "-ex", "set architecture aarch64",
                            "-ex", "file %s" % exe] + vm.host_gdb_args(gs) + _TO_EXPORT_RETURN + [
                            "-ex", "info registers tpidr x8 x0", "-ex", "bt", "-ex", "info sharedlibrary",
                            "-ex", "kill"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
        out = p.stdout
        log = gs.log()
    assert "returned from syscall ioctl" in out, out
    tp = _tp(log)
    m = re.search(r"^tpidr\s+(0x[0-9a-f]+)", out, re.M)
    assert m, "gdbserver gave no tpidr: " + out
    assert int(m.group(1), 16) == tp
    assert re.search(r"^x8\s+0x1d\s+29$", out, re.M), out  # __NR_ioctl on arm64
    assert re.search(r"^x0\s+0x0\s+0$", out, re.M), out    # EXPORT_SYNC_FILE's result
    assert re.search(r"#1 .* in udmabuf \(\) at .*lab_probe\.c:\d+", out), out
    assert "%s/lib/aarch64-linux-gnu/libc.so.6" % vm.rootfs in out or \
        "%s/usr/lib/aarch64-linux-gnu/libc.so.6" % vm.rootfs in out, out


def test_arm64_guest_core_read_on_host(lab_vm_arm64, arm64_probe):
    # gdb 16.3 in the guest writes a core at the stop; the host's gdb-multiarch reads it with the sysroot
    import subprocess
    vm = lab_vm_arm64
    exe, probe = arm64_probe
    core = vm.guest_xdir + "/lab_probe.core"
    rc, out, err = vm.run(["gdb", "-nx", "-q", "-batch", "-ex", "file " + probe,
                           "-ex", "starti udmabuf > %s/probe.out" % vm.guest_xdir] + _TO_EXPORT_RETURN
                          + ["-ex", "gcore " + core, "-ex", "kill"], timeout=300)
    assert rc == 0 and "Saved corefile" in out + err, out + err
    tp = _tp((vm.xdir / "probe.out").read_text())
    p = subprocess.run([_gdb_multiarch(), "-nx", "-q", "-batch", "-ex", "set architecture aarch64", "-ex",
                        "set sysroot %s" % vm.rootfs, "-ex", "file %s" % exe, "-ex", "core-file %s" % vm.to_host(core),
                        "-ex", "info registers tpidr x8 x0", "-ex", "bt"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    out = p.stdout
    assert re.search(r"#1 .* in udmabuf \(\) at .*lab_probe\.c:\d+", out), out
    assert re.search(r"^x8\s+0x1d\s+29$", out, re.M), out
    m = re.search(r"^tpidr\s+(0x[0-9a-f]+)", out, re.M)
    assert m and int(m.group(1), 16) == tp, out
