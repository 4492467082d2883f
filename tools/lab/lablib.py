"""The lab: a real Debian trixie guest (kernel 6.12 with udmabuf, Mesa 25, gdb 16.3 + Python 3.13,
gdbserver, strace) built only from Debian packages and booted with qemu. Python stdlib only.

Build (cached under REPO/.cache/lab/, keyed by the resolved package versions):
  1. a private apt configuration for trixie (.cache/lab/apt-DEBARCH/), whose mirror is read from the
     host's /etc/apt/sources.list.d/debian.sources (or sources.list) at run time; the host's own apt
     setup is never touched and no trixie package is installed on the host;
  2. resolution: `apt-get -s install ?essential apt PACKAGES` against an empty dpkg status gives the
     package=version list the rootfs will hold; its hash is the key (reused while trixie's InRelease
     is unchanged, and the lists are refreshed when older than LAB_APT_MAX_AGE seconds, default 1 day);
  3. the kernel: `apt-get download linux-image-6.12.*` (the one linux-image-DEBARCH depends on),
     `dpkg-deb -x`, vmlinuz and the few modules the guest needs, decompressed (.ko.xz -> .ko);
  4. the rootfs: `mmdebstrap --variant=apt` with PACKAGES pinned, docs/man/locales excluded;
  5. the initramfs: an uncompressed newc cpio of the rootfs plus /init (init.sh), /lab/agent.py and
     the modules, written here in Python.
Boot: qemu-system-x86_64 (or -aarch64), KVM if a short probe boots the kernel, TCG otherwise; user
networking with hostfwd on 127.0.0.1 only (the agent and gdbserver ports, free ports picked at run
time); the worktree and its .cache read-only and an exchange directory read-write over virtio-9p, at
the same absolute paths in the guest (the exchange directory at /x).
"""
from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = Path(os.environ.get("LAB_CACHE") or (REPO / ".cache" / "lab"))
RECIPE = "lab-recipe-1"  # bump when the rootfs recipe (not the packages) changes
EXTRACT_RECIPE = "extract-2"  # the same for an unpacked-only (foreign-arch) rootfs: _fix_extracted

# The guest's packages (trixie). gdb 16.3 embeds Python 3.13 (libpython3.13); python3-minimal gives the
# agent its interpreter; pyelftools and pygments let the project's gdbinit.py load in the guest's gdb.
PACKAGES = [
    "libegl-mesa0", "libegl1", "libgl1-mesa-dri", "libgbm1", "mesa-vulkan-drivers", "libvulkan1",
    "libgles2", "libglx-mesa0", "libgl1",
    "gdb", "gdbserver", "strace", "libc6-dbg", "busybox", "kmod", "procps",
    "python3-minimal", "python3-pyelftools", "python3-pygments",
]
# Go GUI programs others built (Debian's own builds: Go 1.24.4, cgo, gotk3/GTK3) and an X server to run them
# under (Xvfb), with xwininfo (x11-utils) to see their windows; dbus-x11 stands for the session bus that
# dconf-service needs (the other choice, dbus-user-session, brings systemd). x86-64 only: the arm64 lab's
# TCG is too slow for GTK start-ups within CI's budget (tests/test_lab_gui.py).
GUI_PACKAGES = ["xvfb", "x11-utils", "dbus-x11", "nwg-look", "ymuse", "nwg-bar"]
EXCLUDES = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
            "/usr/share/lintian/*", "/usr/share/bug/*"]
# Modules the guest loads at boot (their `depends=` are followed): network and 9p.
MODULES = ["virtio_net", "9pnet_virtio", "9p", "virtio_blk", "crc32c_generic", "ext4"]
# How the guest gets its root: "disk" (an ext4 image on virtio-blk, a small initramfs mounts it; qemu
# keeps the guest's writes in a throw-away snapshot) or "initramfs" (the whole rootfs as one cpio).
ROOT_MODE = os.environ.get("LAB_ROOT", "disk")

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
        "nic": "virtio-net-pci", "p9": "virtio-9p-pci", "user_cpu": ["-cpu", "max,pauth-impdef=on"],
    },
}
# Extra kernel parameters for the guest (LAB_APPEND replaces them; mitigations=off made no measurable
# difference under TCG here: -cpu max reports Meltdown as not affected, so there is no PTI to switch off).
KERNEL_ARGS = ""
AGENT_PORT = 7000
GDBSERVER_PORT0 = 2345
GDBSERVER_SLOTS = 4
GUEST_XDIR = "/x"
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


# ---------------------------------------------------------------------------------------------- apt


def host_mirror() -> str:
    """The Debian mirror URI the host's apt uses (deb822 debian.sources first, then sources.list)."""
    src = Path(os.environ.get("LAB_APT_SOURCES", "/etc/apt/sources.list.d/debian.sources"))
    uris: List[str] = []
    if src.exists():
        for stanza in re.split(r"\n\s*\n", src.read_text(errors="replace")):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
            suites = fields.get("suites", "").split()
            if fields.get("uris") and any(not s.endswith("-security") for s in suites):
                uris += fields["uris"].split()
    legacy = Path("/etc/apt/sources.list")
    if not uris and legacy.exists():
        for line in legacy.read_text(errors="replace").splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and not m.group(2).endswith("-security"):
                uris.append(m.group(1))
    uris = [u for u in uris if "security" not in u]
    if not uris:
        raise LabError("lab: no Debian mirror found in %s or /etc/apt/sources.list: add one (the lab reads "
                       "trixie from the host's own mirror)" % src)
    return uris[0].rstrip("/")


class Apt:
    """A private apt configuration for trixie on one Debian architecture."""

    def __init__(self, debarch: str):
        self.debarch = debarch
        self.dir = CACHE / ("apt-" + debarch)
        self.mirror = host_mirror()
        for d in ("lists/partial", "cache/archives/partial", "etc/preferences.d", "etc/apt.conf.d"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        self.sources = self.dir / "etc" / "sources.list"
        line = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n" % self.mirror)
        if not self.sources.exists() or self.sources.read_text() != line:
            self.sources.write_text(line)
        self.status = self.dir / "status"
        if not self.status.exists():
            self.status.write_text("")

    def opts(self) -> List[str]:
        d = self.dir
        return ["-q", "-o", "Dir::Etc::sourcelist=%s" % self.sources, "-o", "Dir::Etc::sourceparts=-",
                "-o", "Dir::Etc::preferencesparts=%s" % (d / "etc" / "preferences.d"),
                "-o", "Dir::Etc::parts=%s" % (d / "etc" / "apt.conf.d"),
                "-o", "Dir::State::Lists=%s" % (d / "lists"), "-o", "Dir::State::status=%s" % self.status,
                "-o", "Dir::Cache=%s" % (d / "cache"), "-o", "Debug::NoLocking=1",
                "-o", "Dir::Cache::pkgcache=%s" % (d / "cache" / "pkgcache.bin"),
                "-o", "Dir::Cache::srcpkgcache=%s" % (d / "cache" / "srcpkgcache.bin"),
                "-o", "APT::Architecture=%s" % self.debarch, "-o", "APT::Architectures::=%s" % self.debarch,
                "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=2"]

    def inrelease(self) -> Optional[Path]:
        found = sorted((self.dir / "lists").glob("*_dists_trixie_InRelease"))
        return found[0] if found else None

    def update(self, max_age: Optional[float] = None) -> None:
        if max_age is None:
            max_age = float(os.environ.get("LAB_APT_MAX_AGE", 86400))
        rel = self.inrelease()
        if rel is not None and time.time() - rel.stat().st_mtime < max_age:
            return
        _say("apt-get update (trixie from %s)" % self.mirror)
        try:
            _run(["apt-get"] + self.opts() + ["update"], "trixie's package lists from %s" % self.mirror,
                 "check the network and the host's /etc/apt/sources.list.d/debian.sources", 300)
        except LabError:
            if rel is None:
                raise
            _say("apt-get update failed; using the lists from %s" % time.ctime(rel.stat().st_mtime))
            return
        rel = self.inrelease()
        if rel is not None:
            os.utime(rel)

    def simulate(self, pkgs: Sequence[str]) -> List[Tuple[str, str]]:
        p = _run(["apt-get"] + self.opts() + ["-s", "--no-install-recommends", "install"] + list(pkgs),
                 "resolving trixie packages", "check the package names in tools/lab/lablib.py PACKAGES", 300)
        out = []
        for line in p.stdout.splitlines():
            m = re.match(r"^Inst (\S+) \((\S+) ", line)
            if m:
                out.append((m.group(1).split(":")[0], m.group(2)))
        return sorted(out)

    def show(self, pkg: str) -> Dict[str, str]:
        p = _run(["apt-cache"] + self.opts() + ["show", "--no-all-versions", pkg], "apt-cache show %s" % pkg,
                 "check the package name", 120)
        fields: Dict[str, str] = {}
        for line in p.stdout.splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, _, v = line.partition(":")
                fields.setdefault(k, v.strip())
        return fields

    def download(self, pkg: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        _run(["apt-get"] + self.opts() + ["download", pkg], "downloading %s from %s" % (pkg, self.mirror),
             "check the network; the package may have left trixie (delete .cache/lab/apt-%s/lists to refresh)"
             % self.debarch, 600, cwd=str(dest))
        debs = sorted(dest.glob(pkg.split("=")[0] + "_*.deb"))
        if not debs:
            raise LabError("lab: downloading %s: no .deb appeared in %s: check apt's output" % (pkg, dest))
        return debs[-1]


# ---------------------------------------------------------------------------------------------- build


class Build(NamedTuple):
    arch: str
    key: str
    kernel: Path          # vmlinuz
    kernel_release: str   # uname -r
    initrd: Path          # uncompressed newc cpio (the whole rootfs, or the small stage-1 one in disk mode)
    rootfs: Path          # the guest's / on the host (sysroot)
    manifest: Path        # package=version lines
    disk: Optional[Path] = None   # the ext4 root image in disk mode


def _sha(*parts: Union[str, bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


class _Lock:
    def __init__(self, path: Path, what: str, timeout: float = 1200):
        self.path, self.what, self.timeout = path, what, timeout

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "w")
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError:
                if time.time() > deadline:
                    raise LabError("lab: %s: another build held %s for %ds: wait for it or remove the lock"
                                   % (self.what, self.path, self.timeout))
                time.sleep(0.5)

    def __exit__(self, *a):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def resolve(arch: str, apt: Optional[Apt] = None) -> dict:
    """The package versions of the lab for arch (cached per trixie InRelease)."""
    a = ARCHES[arch]
    apt = apt or Apt(a["debarch"])
    apt.update()
    rel = apt.inrelease()
    if rel is None:
        raise LabError("lab: no trixie lists in %s: run `tools/lab/lab build` with network access" % apt.dir)
    extra = [p for p in os.environ.get("LAB_EXTRA_PACKAGES", "").split() if p]
    extra = (GUI_PACKAGES if a.get("gui") else []) + extra
    recipe = RECIPE + ("+" + EXTRACT_RECIPE if _foreign(arch) else "")  # x86-64's keys stay as they were
    k0 = _sha(recipe, arch, rel.read_bytes(), " ".join(PACKAGES + extra), " ".join(EXCLUDES))
    cached = CACHE / "resolved" / (k0 + ".json")
    if cached.exists():
        return json.loads(cached.read_text())
    _say("resolving %d packages" % len(PACKAGES + extra))
    pkgs = apt.simulate(["?essential", "apt"] + PACKAGES + extra)
    meta = apt.show(a["kernel_meta"])
    kname = None
    for dep in re.split(r"\s*,\s*", meta.get("Depends", "")):
        name = dep.split()[0] if dep else ""
        if re.match(a["kernel_re"], name):
            kname = name
    if not kname:
        raise LabError("lab: %s in trixie depends on no 6.12 kernel (%r): update kernel_re in tools/lab/lablib.py"
                       % (a["kernel_meta"], meta.get("Depends")))
    kver = apt.show(kname)["Version"]
    versions = dict(pkgs)
    res = {"arch": arch, "packages": ["%s=%s" % pv for pv in pkgs], "kernel": "%s=%s" % (kname, kver),
           "pins": ["%s=%s" % (p, versions[p]) for p in PACKAGES + extra if p in versions],
           "key": _sha(recipe, arch, "\n".join("%s=%s" % pv for pv in pkgs), kname, kver, " ".join(EXCLUDES))}
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp%d" % os.getpid())
    tmp.write_text(json.dumps(res, indent=1))
    tmp.rename(cached)
    return res


def _modinfo_depends(ko: bytes) -> List[str]:
    m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko)
    return [d for d in m.group(1).decode().split(",") if d] if m else []


def build_kernel(arch: str, res: dict, apt: Apt) -> Tuple[Path, str]:
    name, ver = res["kernel"].split("=", 1)
    out = CACHE / arch / ("kernel-%s_%s-%s" % (name, ver, _sha(" ".join(MODULES))[:8]))
    if (out / "done").exists():
        return out, (out / "release").read_text().strip()
    with _Lock(CACHE / arch / "kernel.lock", "building the kernel"):
        if (out / "done").exists():
            return out, (out / "release").read_text().strip()
        _say("kernel %s %s" % (name, ver))
        tmp = Path(tempfile.mkdtemp(prefix="kernel.", dir=str(CACHE / arch)))
        try:
            deb = apt.download("%s=%s" % (name, ver), tmp / "deb")
            _run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], "unpacking %s" % deb.name, "check the .deb", 300)
            vmlinuz = sorted((tmp / "x" / "boot").glob("vmlinuz-*"))
            if not vmlinuz:
                raise LabError("lab: %s has no boot/vmlinuz-*: the package layout changed" % deb.name)
            release = vmlinuz[0].name[len("vmlinuz-"):]
            mroot = next(p for p in [tmp / "x" / "usr" / "lib" / "modules" / release,
                                     tmp / "x" / "lib" / "modules" / release] if p.exists())
            index = {}
            for p in mroot.rglob("*.ko*"):
                index[p.name.split(".ko")[0].replace("-", "_")] = p
            order: List[str] = []
            mods = out.with_name(out.name + ".tmp") / "modules"
            shutil.rmtree(mods.parent, ignore_errors=True)
            mods.mkdir(parents=True)

            def add(m: str, depth: int = 0) -> None:
                m = m.replace("-", "_")
                if m in order or depth > 20:
                    return
                if m not in index:
                    raise LabError("lab: kernel %s has no module %s: it may be built in; update MODULES" % (release, m))
                data = index[m].read_bytes()
                if index[m].name.endswith(".xz"):
                    data = lzma.decompress(data)
                for d in _modinfo_depends(data):
                    add(d, depth + 1)
                (mods / (m + ".ko")).write_bytes(data)
                order.append(m)

            for m in MODULES:
                add(m)
            shutil.copy2(str(vmlinuz[0]), str(mods.parent / "vmlinuz"))
            cfg = sorted((tmp / "x" / "boot").glob("config-*"))
            if cfg:
                shutil.copy2(str(cfg[0]), str(mods.parent / "config"))
            (mods.parent / "modules.order").write_text("\n".join(order) + "\n")
            (mods.parent / "release").write_text(release + "\n")
            (mods.parent / "done").write_text("")
            shutil.rmtree(out, ignore_errors=True)
            mods.parent.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out, (out / "release").read_text().strip()


def build_rootfs(arch: str, res: dict, apt: Apt) -> Path:
    out = CACHE / arch / ("rootfs-" + res["key"])
    if (out / ".lab-done").exists():
        return out
    with _Lock(CACHE / arch / "rootfs.lock", "building the rootfs"):
        if (out / ".lab-done").exists():
            return out
        a = ARCHES[arch]
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        # A foreign architecture's maintainer scripts cannot run here without binfmt_misc (a change to
        # the host): its packages are only unpacked (--variant=extract), and the few files their scripts
        # would make that the lab needs are written below.
        foreign = _foreign(arch)
        argv = ["mmdebstrap", "--quiet", "--variant=" + ("extract" if foreign else "apt"),
                "--architectures=" + a["debarch"],
                # extract unpacks only what it is given: then give it the whole resolved list
                "--include=" + ",".join(res["packages"] if foreign else res["pins"])]
        for ex in EXCLUDES:
            argv.append("--dpkgopt=path-exclude=" + ex)
        argv += ["--dpkgopt=path-include=/usr/share/locale/locale.alias",
                 "--aptopt=APT::Install-Recommends \"false\"",
                 "trixie", str(tmp),
                 "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main" % apt.mirror]
        _say("mmdebstrap trixie (%d packages)" % len(res["packages"]))
        try:
            _run(argv, "building the trixie rootfs with mmdebstrap",
                 "check the network, the mirror and the package list (%s)" % ", ".join(res["pins"]), 900)
        except LabError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for d in ("usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt", "var/lib/apt/lists"):
            p = tmp / d
            if p.is_dir():
                for c in p.iterdir():
                    if c.is_dir() and not c.is_symlink():
                        shutil.rmtree(c, ignore_errors=True)
                    else:
                        c.unlink()
        # A venv-shaped directory over Debian's python3-pyelftools/pygments for the project's gdbinit.py.
        pyver = sorted(p.name for p in (tmp / "usr" / "lib").glob("python3.[0-9]*"))
        if pyver:
            v = pyver[-1][len("python"):]
            site = tmp / GUEST_VENV.lstrip("/") / "lib" / ("python" + v)
            site.mkdir(parents=True, exist_ok=True)
            os.symlink("/usr/lib/python3/dist-packages", str(site / "site-packages"))
            (tmp / GUEST_VENV.lstrip("/") / "pyvenv.cfg").write_text(
                "home = /usr/bin\ninclude-system-site-packages = true\nversion = %s\n" % v)
        _say("mmdebstrap done")
        if foreign:
            _fix_extracted(tmp, arch)
            (tmp / ".lab-manifest").write_text("\n".join(res["packages"]) + "\n")
        else:
            q = subprocess.run(["chroot", str(tmp), "dpkg-query", "-W", "-f", "${Package}=${Version}\\n"],
                               stdout=subprocess.PIPE, universal_newlines=True, timeout=120)
            (tmp / ".lab-manifest").write_text(q.stdout if q.returncode == 0 else "\n".join(res["packages"]) + "\n")
        (tmp / ".lab-done").write_text(json.dumps(res) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return out


def _fix_extracted(root: Path, arch: str) -> None:
    """What maintainer scripts and mmdebstrap's setup would have made in an unpacked-only rootfs, as far
    as the lab needs it. The list comes from a file-by-file comparison with the x86-64 rootfs (built with
    its scripts run): the merged-/usr links, mount points, root's account, the files base-files, libc-bin,
    netbase, debianutils, readline-common, tzdata and python3 install from their defaults, the
    update-alternatives links (awk, which, pager...), and the two things that need the guest's own
    binaries, run here under qemu-user (a static ldconfig and the guest's python3.13; no binfmt_misc):
    /etc/ld.so.cache (libc-bin's trigger) and the byte-compiled Python (py3compile / py_compile in
    python3.13's scripts), without which every Python start in the guest (the agent, gdb's Python)
    compiles its imports again (measured under TCG: 15 s instead of 3 s for the agent's imports)."""
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
        if (root / target).is_dir() and not os.path.lexists(str(root / link)):
            os.symlink(target, str(root / link))
    if not os.path.lexists(str(root / "usr/bin/sh")) and (root / "usr/bin/dash").exists():
        os.symlink("dash", str(root / "usr/bin/sh"))  # dash's postinst makes it
    for d in ("proc", "sys", "run", "root", "dev", "tmp", "mnt", "media", "srv", "opt", "var/opt", "etc/opt",
              "var/mail", "usr/local/bin", "usr/local/sbin", "usr/local/lib", "usr/local/share",
              "etc/alternatives"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n"),
                       ("etc/hosts", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"),
                       ("etc/networks", "default\t\t0.0.0.0\nloopback\t127.0.0.0\nlink-local\t169.254.0.0\n"),
                       ("etc/python3/debian_config", "[DEFAULT]\nbyte-compile = standard\n")):
        if not (root / name).exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
    for default, dest in (("usr/share/libc-bin/nsswitch.conf", "etc/nsswitch.conf"),
                          ("usr/share/base-files/profile", "etc/profile"),
                          ("usr/share/base-files/motd", "etc/motd"),
                          ("usr/share/base-files/dot.profile", "root/.profile"),
                          ("usr/share/base-files/dot.bashrc", "root/.bashrc"),
                          ("usr/share/debianutils/shells", "etc/shells"),
                          ("usr/share/readline/inputrc", "etc/inputrc")):
        if (root / default).is_file() and not (root / dest).exists():
            shutil.copy2(str(root / default), str(root / dest))
    if (root / "usr/share/zoneinfo/Etc/UTC").exists() and not os.path.lexists(str(root / "etc/localtime")):
        os.symlink("/usr/share/zoneinfo/Etc/UTC", str(root / "etc/localtime"))
    # update-alternatives, as the x86-64 rootfs has them (the only candidate of each in this package set)
    for name, target in (("awk", "/usr/bin/mawk"), ("nawk", "/usr/bin/mawk"), ("which", "/usr/bin/which.debianutils"),
                         ("pager", "/bin/more"), ("rmt", "/usr/sbin/rmt-tar")):
        link = root / ("usr/sbin" if name == "rmt" else "usr/bin") / name
        if (root / target.lstrip("/")).exists() and not os.path.lexists(str(link)):
            os.symlink(target, str(root / "etc/alternatives" / name))
            os.symlink("/etc/alternatives/" + name, str(link))
    _guest_ldconfig(root, arch)
    _guest_pycompile(root, arch)


def _qemu_user(arch: str) -> str:
    q = shutil.which("qemu-" + {"aarch64": "aarch64", "x86-64": "x86_64"}[arch])
    if q is None:
        raise LabError("lab: building the %s rootfs needs qemu-user (qemu-%s) to run the guest's ldconfig and "
                       "python: run tools/bootstrap.sh" % (arch, arch.replace("-", "_")))
    return q


def _guest_ldconfig(root: Path, arch: str) -> None:
    """/etc/ld.so.cache from the guest's own (static) ldconfig under qemu-user; `-r` chroots (root)."""
    t = time.time()
    _run([_qemu_user(arch)] + ARCHES[arch]["user_cpu"] + [str(root / "usr/sbin/ldconfig"), "-r", str(root)], "making the guest's /etc/ld.so.cache",
         "the lab's build runs as root (mmdebstrap, chroot); check qemu-user", 300)
    if not (root / "etc/ld.so.cache").is_file():
        raise LabError("lab: the guest's ldconfig wrote no %s: check qemu-user" % (root / "etc/ld.so.cache"))
    _say("ld.so.cache in %.1fs" % (time.time() - t))


_PYCOMPILE = r"""
import py_compile, sys
root = sys.argv[1]
n = 0
for src in open(sys.argv[2]).read().split("\n"):
    if src:
        try:
            py_compile.compile(src, dfile=src[len(root):], doraise=True)
            n += 1
        except Exception as e:
            print("not compiled: %s: %s" % (src[len(root):], str(e).splitlines()[0] if str(e) else type(e).__name__))
print(n, "compiled")
"""


def _guest_pycompile(root: Path, arch: str) -> None:
    """The guest's python3.13 byte-compiles (under qemu-user) what Debian's scripts compile (the stdlib,
    dist-packages) and gdb's own Python, which gdb would otherwise compile at every start in a guest
    whose disk writes are thrown away. The .pyc carry the sources' mtimes, which mkfs.ext4 -d keeps."""
    pys = sorted((root / "usr/bin").glob("python3.[0-9]*"))
    pys = [p for p in pys if re.fullmatch(r"python3\.\d+", p.name)]
    if not pys:
        return
    t = time.time()
    lib = "/usr/lib/" + pys[-1].name
    dirs = [lib, "/usr/lib/python3/dist-packages", "/usr/share/gdb/python", "/usr/share/python3"]
    # Left to compile on first use (what no lab program imports; a third of the files, half the time):
    # the stdlib's tests, GUI and REPL parts, and pygments' lexers other than the C, Go, asm and Python ones.
    lexers = "/usr/lib/python3/dist-packages/pygments/lexers/"
    keep = ("__init__.py", "_mapping.py", "c_cpp.py", "go.py", "asm.py", "python.py")
    skip = [lib + "/" + d for d in ("test/", "idlelib/", "tkinter/", "turtledemo/", "lib2to3/", "ensurepip/",
                                    "_pyrepl/", "pydoc_data/", "unittest/", "venv/")]
    if (root / lexers.lstrip("/")).is_dir():
        skip += [lexers + f.name for f in sorted((root / lexers.lstrip("/")).iterdir()) if f.name not in keep]
    files = []
    for d in dirs:
        for dp, dn, fn in os.walk(str(root) + d):
            dn.sort()
            for f in sorted(fn):
                src = os.path.join(dp, f)
                # (an absolute symlink, sitecustomize.py -> /etc/..., would point into the host's /etc)
                if f.endswith(".py") and not (os.path.islink(src) and os.readlink(src).startswith("/")) and \
                        not any(src[len(str(root)):].startswith(x) for x in skip):
                    files.append(src)
    # -L: the interpreter's own loader and libraries come from the rootfs; the files it compiles are named
    # by their host paths (not under the rootfs), so nothing of the host's is read or written.
    # -cpu: qemu's default pointer authentication (QARMA) triples the time here; the cheap
    # implementation-defined one gives the same bytecode. One process per core (at most 2).
    shards = max(1, min(2, os.cpu_count() or 1))
    argv = [_qemu_user(arch)] + ARCHES[arch]["user_cpu"] + ["-L", str(root), str(pys[-1]), "-E", "-S", "-c", _PYCOMPILE,
                                                            str(root)]
    env = dict(os.environ, PYTHONHASHSEED="0", LC_ALL="C")
    with tempfile.TemporaryDirectory(dir=str(root.parent)) as td:
        procs = []
        for i in range(shards):
            lst = Path(td) / ("files%d" % i)
            lst.write_text("\n".join(files[i::shards]) + "\n")
            procs.append(subprocess.Popen(argv + [str(lst)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          universal_newlines=True, env=env))
        outs = []
        for pr in procs:
            try:
                outs.append(pr.communicate(timeout=1200)[0])
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                raise LabError("lab: byte-compiling the guest's Python under qemu-user took more than 1200s: "
                               "check qemu-user") from None
            if pr.returncode != 0:
                raise LabError("lab: byte-compiling the guest's Python under qemu-user: %s (rc %d): check qemu-user"
                               % (_tail(outs[-1]), pr.returncode))
    done = sum(int(m) for o in outs for m in re.findall(r"^(\d+) compiled$", o, re.M))
    for o in outs:
        for line in o.splitlines():
            if line.startswith("not compiled"):
                _say(line)
    _say("byte-compiled the guest's Python in %.1fs: %d of %d files" % (time.time() - t, done, len(files)))


def _foreign(arch: str) -> bool:
    host = {"x86_64": "x86-64", "aarch64": "aarch64"}.get(os.uname().machine)
    return host != arch


def _cpio_header(name: bytes, mode: int, size: int, ino: int, mtime: int, nlink: int = 1,
                 rdev: Tuple[int, int] = (0, 0)) -> bytes:
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    h = b"070701" + b"".join(b"%08X" % f for f in fields) + name + b"\0"
    return h + b"\0" * ((-len(h)) % 4)


def write_cpio(dest: Path, rootfs: Path, extra: Dict[str, Tuple[int, bytes]]) -> None:
    """An uncompressed newc archive of rootfs (regular files, dirs, symlinks; hard links as copies;
    /dev /proc /sys empty) plus extra {path: (mode, data)} entries (after: they win)."""
    ino = 1
    skip_inside = {"dev", "proc", "sys", "run", "tmp"}
    with open(str(dest), "wb") as f:
        def emit(name: str, mode: int, data: bytes = b"", mtime: int = 0) -> None:
            nonlocal ino
            f.write(_cpio_header(name.encode("utf-8", "surrogateescape"), mode, len(data), ino, mtime))
            f.write(data)
            f.write(b"\0" * ((-len(data)) % 4))
            ino += 1

        for dirpath, dirnames, filenames in os.walk(str(rootfs)):
            rel = os.path.relpath(dirpath, str(rootfs))
            dirnames.sort()
            for name in dirnames + sorted(filenames):
                full = os.path.join(dirpath, name)
                arc = name if rel == "." else rel + "/" + name
                if rel == "." and name.startswith(".lab-"):
                    continue
                st = os.lstat(full)
                if stat.S_ISDIR(st.st_mode):
                    emit(arc, st.st_mode, mtime=int(st.st_mtime))
                elif stat.S_ISLNK(st.st_mode):
                    emit(arc, st.st_mode, os.readlink(full).encode("utf-8", "surrogateescape"), int(st.st_mtime))
                elif stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as src:
                        emit(arc, st.st_mode, src.read(), int(st.st_mtime))
            if rel == ".":  # emitted, but their contents are the guest kernel's business
                dirnames[:] = [d for d in dirnames if d not in skip_inside]
        made = set()
        for path in sorted(extra):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made and not (rootfs / d).is_dir():
                    emit(d, stat.S_IFDIR | 0o755)
                made.add(d)
            mode, data = extra[path]
            emit(path.strip("/"), stat.S_IFREG | mode, data)
        f.write(_cpio_header(b"TRAILER!!!", 0, 0, 0, 0, nlink=1))
        f.write(b"\0" * ((-f.tell()) % 512))


def build(arch: str = "x86-64") -> Build:
    """Build (or find cached) the lab for arch; LabError with one line when a step fails."""
    if arch not in ARCHES:
        raise LabError("lab: unknown arch %r: use one of %s" % (arch, ", ".join(ARCHES)))
    for tool in ("apt-get", "dpkg-deb", "mmdebstrap", "chroot"):
        if shutil.which(tool) is None:
            raise LabError("lab: %s is not installed: run tools/bootstrap.sh (it apt-installs mmdebstrap)" % tool)
    a = ARCHES[arch]
    apt = Apt(a["debarch"])
    res = resolve(arch, apt)
    kdir, release = build_kernel(arch, res, apt)
    rootfs = build_rootfs(arch, res, apt)
    init = (HERE / "init.sh").read_bytes()
    agent = (HERE / "agent.py").read_bytes()
    stage1 = (HERE / "stage1.sh").read_bytes()
    mods = (kdir / "modules.order").read_text().split()
    modfiles = {"lab/modules/%s.ko" % m: (0o644, (kdir / "modules" / (m + ".ko")).read_bytes()) for m in mods}
    modfiles["lab/modules.order"] = (0o644, "\n".join(mods).encode() + b"\n")
    k2 = _sha(res["key"], res["kernel"], init, agent, stage1, " ".join(mods), ROOT_MODE)
    if ROOT_MODE == "initramfs":
        initrd = CACHE / arch / ("initrd-%s.cpio" % k2)
        if not initrd.exists():
            with _Lock(CACHE / arch / "initrd.lock", "packing the initramfs"):
                if not initrd.exists():
                    _say("packing %s" % initrd.name)
                    extra = {"init": (0o755, init), "lab/init.sh": (0o755, init), "lab/agent.py": (0o644, agent)}
                    extra.update(modfiles)
                    tmp = initrd.with_suffix(".tmp%d" % os.getpid())
                    write_cpio(tmp, rootfs, extra)
                    tmp.rename(initrd)
        return Build(arch, res["key"], kdir / "vmlinuz", release, initrd, rootfs, rootfs / ".lab-manifest")
    if ROOT_MODE != "disk":
        raise LabError("lab: LAB_ROOT=%r: use disk or initramfs" % ROOT_MODE)
    initrd = CACHE / arch / ("stage1-%s.cpio" % k2)
    disk = CACHE / arch / ("root-%s.ext4" % k2)
    if not (initrd.exists() and disk.exists()):
        with _Lock(CACHE / arch / "initrd.lock", "making the root disk"):
            if not (initrd.exists() and disk.exists()):
                _say("making %s and %s" % (disk.name, initrd.name))
                tmp = disk.with_suffix(".tmp%d" % os.getpid())
                make_disk(tmp, rootfs, {"lab/init.sh": (0o755, init), "lab/agent.py": (0o644, agent)})
                extra = {"init": (0o755, stage1)}
                extra.update(modfiles)
                extra.update(_busybox_files(rootfs))
                tmpi = initrd.with_suffix(".tmp%d" % os.getpid())
                with tempfile.TemporaryDirectory() as empty:
                    write_cpio(tmpi, Path(empty), extra)
                tmp.rename(disk)
                tmpi.rename(initrd)
                _say("root disk done")
    return Build(arch, res["key"], kdir / "vmlinuz", release, initrd, rootfs, rootfs / ".lab-manifest", disk)


def _busybox_files(rootfs: Path) -> Dict[str, Tuple[int, bytes]]:
    """/bin/busybox from the rootfs and the shared libraries it needs (readelf reads any arch)."""
    bb = rootfs / "usr" / "bin" / "busybox"
    out = {"bin/busybox": (0o755, bb.read_bytes())}
    p = _run(["readelf", "-ld", str(bb)], "reading busybox's ELF headers", "install binutils", 60)
    interp = re.search(r"interpreter: (\S+?)\]", p.stdout)
    needed = re.findall(r"\(NEEDED\).*\[(\S+)\]", p.stdout)
    if interp:
        ip = interp.group(1).lstrip("/")
        out[ip] = (0o755, _in_rootfs(rootfs, ip).read_bytes())
    libdirs = sorted((rootfs / "usr" / "lib").glob("*-linux-gnu"))
    for lib in needed:
        for d in libdirs:
            if (d / lib).exists():
                rel = os.path.relpath(str(d / lib), str(rootfs))
                out[rel] = (0o755, _in_rootfs(rootfs, rel).read_bytes())
                out["lib/" + d.name + "/" + lib] = out[rel]
                break
        else:
            raise LabError("lab: busybox needs %s, which is not in the rootfs: check the rootfs" % lib)
    return out


def _in_rootfs(rootfs: Path, rel: str, depth: int = 0) -> Path:
    """rel (a path inside the rootfs) with its symlinks followed inside the rootfs, not on the host."""
    parts = [x for x in rel.split("/") if x]
    cur = rootfs
    for i, part in enumerate(parts):
        nxt = cur / part
        if nxt.is_symlink() and depth < 40:
            target = os.readlink(str(nxt))
            base = "" if target.startswith("/") else os.path.relpath(str(cur), str(rootfs))
            joined = os.path.normpath(os.path.join(base, target.lstrip("/"))) if base != "." else target.lstrip("/")
            return _in_rootfs(rootfs, "/".join([joined] + parts[i + 1:]), depth + 1)
        cur = nxt
    return cur


def make_disk(dest: Path, rootfs: Path, extra: Dict[str, Tuple[int, bytes]]) -> None:
    """An ext4 image of rootfs (no journal, no metadata checksums: fewer modules) plus extra files."""
    size = 0
    for dirpath, _, files in os.walk(str(rootfs)):
        for f in files:
            try:
                size += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    mb = int(size * 1.3 / (1 << 20)) + 256
    with tempfile.TemporaryDirectory(dir=str(dest.parent)) as td:
        cmds = ["mkdir /lab"]
        for path, (mode, data) in sorted(extra.items()):
            hp = Path(td) / path.replace("/", "_")
            hp.write_bytes(data)
            cmds.append("write %s /%s" % (hp, path))
            cmds.append("sif /%s mode 0%o" % (path, stat.S_IFREG | mode))
        (Path(td) / "cmds").write_text("\n".join(cmds) + "\n")
        _run(["mkfs.ext4", "-q", "-F", "-L", "labroot", "-O", "^has_journal,^metadata_csum", "-E",
              "root_owner=0:0", "-d", str(rootfs), str(dest), "%dM" % mb],
             "making the root disk with mkfs.ext4", "install e2fsprogs", 600)
        _run(["debugfs", "-w", "-f", str(Path(td) / "cmds"), str(dest)], "writing /lab into the root disk",
             "install e2fsprogs", 120)


# ---------------------------------------------------------------------------------------------- boot

_accel_cache: Dict[str, str] = {}


def _pdeathsig() -> None:
    """In the qemu child: die with the parent (no stray qemu even if the owner is SIGKILLed)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def probe_accel(b: Build, timeout: float = 15) -> str:
    """'kvm' if the lab kernel gets to its own root-mount panic under KVM within timeout, else 'tcg'.
    LAB_ACCEL=kvm|tcg skips the probe. The answer is cached for this process only."""
    forced = os.environ.get("LAB_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    ck = "%s:%s" % (b.arch, b.kernel)
    if ck in _accel_cache:
        return _accel_cache[ck]
    a = ARCHES[b.arch]
    result, why = "tcg", "no /dev/kvm"
    host = {"x86_64": "x86-64", "aarch64": "aarch64"}.get(os.uname().machine)
    if host != b.arch:
        why = "the guest's arch %s is not the host's (%s)" % (b.arch, os.uname().machine)
    elif os.access("/dev/kvm", os.R_OK | os.W_OK) and shutil.which(a["qemu"]):
        t0 = time.time()
        argv = [a["qemu"]] + a["machine"] + ["-accel", "kvm"] + a["kvm_cpu"] + [
            "-m", "256", "-smp", "1", "-display", "none", "-vga", "none", "-nic", "none", "-no-reboot",
            "-serial", "stdio", "-monitor", "none", "-kernel", str(b.kernel),
            "-append", "console=%s panic=-1 loglevel=4" % a["console"]]
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                               stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
            out = p.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            out += "\n(no panic within %ds)" % timeout
        if "Kernel panic" in out or "VFS: Unable to mount root" in out:
            result, why = "kvm", "the kernel ran under KVM to its root-mount panic in %.1fs" % (time.time() - t0)
        elif "KVM internal error" in out:
            why = "KVM internal error (%s)" % _tail(re.sub(r"(?s).*?(KVM internal error[^\n]*).*", r"\1", out))
        else:
            why = "no kernel output under KVM: %s" % _tail(out)
    _say("accel %s: %s" % (result, why))
    _accel_cache[ck] = result
    _accel_cache[ck + ":why"] = why
    return result


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_ports(n: int) -> List[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class StraceResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str
    trace: str


def reap_strays() -> None:
    """Kill qemu processes of lab sessions whose owner process is gone (by pid, from their pid files)."""
    runs = CACHE / "run"
    if not runs.is_dir():
        return
    for d in runs.iterdir():
        try:
            info = json.loads((d / "vm.json").read_text())
        except (OSError, ValueError):
            continue
        owner, qpid = info.get("owner"), info.get("qemu")
        if owner and _alive(owner):
            continue
        if qpid and _alive(qpid) and str(d) in _cmdline(qpid):
            _say("killing stray qemu %d of %s" % (qpid, d.name))
            try:
                os.kill(qpid, signal.SIGKILL)
            except OSError:
                pass
        if not info.get("keep"):
            shutil.rmtree(str(d), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class GdbServer:
    """A gdbserver --once in the guest; the host's gdb connects to host:port."""

    def __init__(self, vm: "Vm", slot: int, gdbserver_pid: int, pid: int, log: str):
        self.vm, self.slot, self.gdbserver_pid, self.pid, self.guest_log = vm, slot, gdbserver_pid, pid, log
        self.host = "127.0.0.1"
        self.port = vm.gdb_ports[slot]

    @property
    def address(self) -> str:
        return "%s:%d" % (self.host, self.port)

    def __iter__(self):  # host, port, pid = vm.gdbserver(...)
        return iter((self.host, self.port, self.pid))

    def log(self) -> str:
        rc, out, _ = self.vm.run(["cat", self.guest_log], timeout=20)
        return out

    def alive(self) -> bool:
        return bool(self.vm._call({"op": "status", "pid": self.gdbserver_pid}, 20).get("running"))

    def close(self) -> None:
        if self.vm.alive():
            for pid in (self.pid, self.gdbserver_pid):
                try:
                    self.vm._call({"op": "kill", "pid": pid}, 20)
                except LabError:
                    pass
        with self.vm._lock:
            self.vm._slots.discard(self.slot)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class Vm:
    GDBSERVER_SLOTS = GDBSERVER_SLOTS

    def __init__(self, b: Build, accel: str, rundir: Path, proc: subprocess.Popen, agent_port: int,
                 gdb_ports: List[int], shares: Dict[str, str], xdir: Path):
        self.build, self.accel, self.rundir, self.proc = b, accel, rundir, proc
        self.agent_port, self.gdb_ports = agent_port, gdb_ports
        self.arch = b.arch
        self.rootfs = b.rootfs
        self.kernel_release = b.kernel_release
        self.gdb = "/usr/bin/gdb"
        self.xdir = xdir
        self.guest_xdir = GUEST_XDIR
        self.shares = shares  # host path -> guest path
        self.console = rundir / "console.log"
        self.guest_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "HOME": "/root", "LC_ALL": "C", "TERM": "dumb", "GDB_RR_DMABUF_VENV": GUEST_VENV}
        self._lock = threading.Lock()
        self._slots: set = set()
        self.boot_seconds = 0.0

    # -- plumbing
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _call(self, req: dict, timeout: float) -> dict:
        if not self.alive():
            raise LabError("lab: the VM is gone (qemu exited with %s): see %s" % (self.proc.returncode, self.console))
        try:
            with socket.create_connection(("127.0.0.1", self.agent_port), timeout=10) as s:
                s.settimeout(timeout + 10)
                s.sendall(json.dumps(req).encode() + b"\n")
                chunks = []
                while True:
                    c = s.recv(1 << 20)
                    if not c:
                        break
                    chunks.append(c)
                    if c.endswith(b"\n"):
                        break
        except socket.timeout:
            raise LabError("lab: the guest agent did not answer %r within %ds: the VM may be overloaded"
                           % (req.get("op"), timeout + 10)) from None
        except OSError as e:
            raise LabError("lab: the guest agent on 127.0.0.1:%d is unreachable (%s): is the VM up?"
                           % (self.agent_port, e)) from None
        data = b"".join(chunks)
        if not data:
            raise LabError("lab: the guest agent closed the connection without answering %r" % req.get("op"))
        reply = json.loads(data.decode())
        if "error" in reply:
            raise LabError("lab: guest agent, %s: %s" % (req.get("op"), reply["error"]))
        return reply

    def _env(self, env: Optional[Dict[str, str]]) -> Dict[str, str]:
        e = dict(self.guest_env)
        e.update(env or {})
        return e

    # -- commands
    def run(self, cmd: Union[str, Sequence[str]], timeout: float = 60, env: Optional[Dict[str, str]] = None,
            cwd: Optional[str] = None, stdin: Optional[Union[str, bytes]] = None) -> Tuple[int, str, str]:
        req = {"op": "run", "env": self._env(env), "cwd": cwd, "timeout": timeout}
        if isinstance(cmd, str):
            req["sh"] = cmd
        else:
            req["argv"] = [str(c) for c in cmd]
        if stdin is not None:
            req["stdin"] = base64.b64encode(stdin.encode() if isinstance(stdin, str) else stdin).decode()
        r = self._call(req, timeout)
        out = base64.b64decode(r["stdout"]).decode(errors="replace")
        err = base64.b64decode(r["stderr"]).decode(errors="replace")
        if r.get("timed_out"):
            raise LabError("lab: guest command timed out after %ss: %s (last output: %s)"
                           % (timeout, _short(cmd), _tail(out + err)))
        return r["rc"], out, err

    def check(self, cmd, **kw) -> str:
        rc, out, err = self.run(cmd, **kw)
        if rc != 0:
            raise LabError("lab: guest command failed (rc %d): %s: %s" % (rc, _short(cmd), _tail(err or out, 3)))
        return out

    def strace(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None,
               trace: str = "ioctl,openat,memfd_create", timeout: float = 600, signal: str = "none") -> StraceResult:
        """strace -f --seccomp-bpf -qq -e trace=TRACE -e signal=SIGNAL (none: Go's SIGURG storms left out;
        --seccomp-bpf: the tracee stops only at the traced calls). timeout only guards against a hang."""
        out = "/tmp/lab-strace.%d.%d" % (os.getpid(), int(time.time() * 1000))
        cmd = ["strace", "-f", "--seccomp-bpf", "-qq", "-o", out, "-e", "trace=" + trace, "-e", "signal=" + signal] + [
            str(a) for a in argv]
        rc, so, se = self.run(cmd, timeout=timeout, env=env)
        _, text, _ = self.run(["sh", "-c", 'cat "$1"; rm -f "$1"', "sh", out], timeout=30)
        return StraceResult(rc, so, se, text)

    def gdbserver(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, timeout: float = 120) -> GdbServer:
        with self._lock:
            free = [i for i in range(GDBSERVER_SLOTS) if i not in self._slots]
            if not free:
                raise LabError("lab: all %d gdbserver slots are in use: close() the earlier ones" % GDBSERVER_SLOTS)
            slot = free[0]
            self._slots.add(slot)
        try:
            log = "/tmp/lab-gdbserver.%d.log" % slot
            gport = GDBSERVER_PORT0 + slot
            r = self._call({"op": "spawn", "argv": ["gdbserver", "--once", "--no-startup-with-shell", "0.0.0.0:%d" % gport] +
                            [str(a) for a in argv], "env": self._env(env), "log": log}, 20)
            w = self._call({"op": "wait", "pid": r["pid"], "path": log, "pattern": "Listening on port",
                            "timeout": timeout}, timeout)
            if not w["found"]:
                self._call({"op": "kill", "pid": r["pid"]}, 20)
                state = "exited (rc %s)" % w["rc"] if not w["running"] else "did not listen within %ss" % timeout
                raise LabError("lab: gdbserver in the guest %s: %s: check the program path and its arguments"
                               % (state, _tail(w["text"], 3)))
            m = re.search(r"pid = (\d+)", w["text"])
            return GdbServer(self, slot, r["pid"], int(m.group(1)) if m else 0, log)
        except BaseException:
            with self._lock:
                self._slots.discard(slot)
            raise

    def host_gdb_args(self, gs: GdbServer) -> List[str]:
        return ["-ex", "set sysroot %s" % self.rootfs, "-ex", "target extended-remote %s" % gs.address]

    # -- files
    def to_guest(self, p: Union[str, Path]) -> str:
        p = os.path.abspath(str(p))
        x = str(self.xdir)
        if p == x or p.startswith(x + "/"):
            return GUEST_XDIR + p[len(x):]
        for host, guest in self.shares.items():
            if p == host or p.startswith(host + "/"):
                return guest + p[len(host):]
        rp = os.path.realpath(p)
        if rp != p:
            return self.to_guest(rp)
        raise LabError("lab: %s is not shared with the guest: put() it, or keep it under %s" % (p, REPO))

    def to_host(self, p: str) -> Path:
        if p == GUEST_XDIR or p.startswith(GUEST_XDIR + "/"):
            return Path(str(self.xdir) + p[len(GUEST_XDIR):])
        for host, guest in self.shares.items():
            if p == guest or p.startswith(guest + "/"):
                return Path(host + p[len(guest):])
        raise LabError("lab: guest path %s is not shared with the host: get() it" % p)

    def put(self, host_path: Union[str, Path], guest_path: str) -> None:
        hp = Path(host_path)
        self._call({"op": "put", "path": guest_path, "data": base64.b64encode(hp.read_bytes()).decode(),
                    "mode": stat.S_IMODE(hp.stat().st_mode)}, 120)

    def get(self, guest_path: str, host_path: Union[str, Path]) -> Path:
        r = self._call({"op": "get", "path": guest_path}, 120)
        hp = Path(host_path)
        hp.write_bytes(base64.b64decode(r["data"]))
        return hp

    # -- end
    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not os.environ.get("LAB_KEEP"):
            shutil.rmtree(str(self.rundir), ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def _short(cmd) -> str:
    s = cmd if isinstance(cmd, str) else " ".join(shlex.quote(str(c)) for c in cmd)
    return s if len(s) < 120 else s[:117] + "..."


def share_roots() -> Dict[str, str]:
    """Host directories shared read-only with the guest, at the same paths: the worktree and the real
    path of its .cache (a symlink in helper worktrees), unless one holds the other."""
    roots = [str(REPO)]
    cache = os.path.realpath(str(REPO / ".cache"))
    if not (cache == str(REPO) or cache.startswith(str(REPO) + "/")):
        roots.append(cache)
    for r in roots:
        if re.search(r"[\s,@]", r):
            raise LabError("lab: the path %r has a space, ',' or '@': the guest cannot mount it; move the "
                           "worktree" % r)
    return {r: r for r in roots}


def boot(arch: str = "x86-64", b: Optional[Build] = None, timeout: Optional[float] = None,
         agent_port: Optional[int] = None, detach: bool = False, memory: int = 3072) -> Vm:
    """Build (cached) and boot the lab; returns when the guest agent answers. One line on failure;
    qemu is killed by pid on every failure path."""
    if timeout is None:
        timeout = float(os.environ.get("LAB_BOOT_TIMEOUT", 240))
    if arch not in ARCHES:
        raise LabError("lab: unknown arch %r: use one of %s" % (arch, ", ".join(ARCHES)))
    a = ARCHES[arch]
    if shutil.which(a["qemu"]) is None:
        raise LabError("lab: %s is not installed: %s" % (a["qemu"], "run tools/bootstrap.sh (it apt-installs "
                       "qemu-system-x86)" if arch == "x86-64" else "apt-get install qemu-system-arm"))
    if agent_port is None and os.environ.get("LAB_AGENT_PORT"):
        agent_port = int(os.environ["LAB_AGENT_PORT"])
    if agent_port is not None and not port_free(agent_port):
        raise LabError("lab: host port 127.0.0.1:%d is taken: choose another LAB_AGENT_PORT or leave it "
                       "unset (a free port is picked)" % agent_port)
    b = b or build(arch)
    for p in (b.kernel, b.initrd):
        if not Path(p).is_file():
            raise LabError("lab: %s does not exist: run tools/lab/lab build" % p)
    reap_strays()
    accel = probe_accel(b)
    (CACHE / "run").mkdir(parents=True, exist_ok=True)
    if detach:
        rundir = cli_rundir(arch)
        shutil.rmtree(str(rundir), ignore_errors=True)
        rundir.mkdir()
    else:
        rundir = Path(tempfile.mkdtemp(prefix="%s-%d-" % (arch, os.getpid()), dir=str(CACHE / "run")))
    xdir = rundir / "x"
    xdir.mkdir()
    shares = share_roots()
    t0 = time.time()
    last = ""
    for attempt in range(3):
        ports = free_ports(1 + GDBSERVER_SLOTS)
        aport = agent_port if agent_port is not None else ports[0]
        gports = ports[1:]
        fwd = ["hostfwd=tcp:127.0.0.1:%d-:%d" % (aport, AGENT_PORT)]
        fwd += ["hostfwd=tcp:127.0.0.1:%d-:%d" % (hp, GDBSERVER_PORT0 + i) for i, hp in enumerate(gports)]
        p9, cmd9 = [], []
        for i, (host, guest) in enumerate(sorted(shares.items())):
            p9 += ["-virtfs", "local,path=%s,mount_tag=lab%d,security_model=none,readonly=on" % (host, i)]
            cmd9.append("lab%d@%s@ro" % (i, guest))
        p9 += ["-virtfs", "local,path=%s,mount_tag=labx,security_model=none" % xdir]
        cmd9.append("labx@%s@rw" % GUEST_XDIR)
        cpu = a["kvm_cpu"] if accel == "kvm" else a["tcg_cpu"]
        accel_arg = "kvm" if accel == "kvm" else "tcg,thread=multi"
        console = rundir / "console.log"
        argv = [a["qemu"]] + a["machine"] + ["-accel", accel_arg] + cpu + [
            "-smp", "2", "-m", str(memory), "-display", "none", "-vga", "none", "-no-reboot",
            "-monitor", "none", "-serial", "file:%s" % console,
            "-nic", "user,model=%s,%s" % (a["nic"], ",".join(fwd))] + p9 + [
            ] + (["-drive", "file=%s,format=raw,if=virtio,snapshot=on,cache=unsafe" % b.disk] if b.disk else []) + [
            "-kernel", str(b.kernel), "-initrd", str(b.initrd),
            "-append", "console=%s quiet rdinit=/init panic=-1 %s lab.agent=%d lab.9p=%s"
            % (a["console"], os.environ.get("LAB_APPEND", KERNEL_ARGS), AGENT_PORT, ",".join(cmd9))]
        qlog = open(str(rundir / "qemu.log"), "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                                preexec_fn=None if detach else _pdeathsig, start_new_session=True)
        qlog.close()
        info = {"owner": proc.pid if detach else os.getpid(), "qemu": proc.pid, "agent_port": aport,
                "gdb_ports": gports, "arch": arch, "accel": accel, "rootfs": str(b.rootfs),
                "kernel_release": b.kernel_release, "xdir": str(xdir), "shares": shares, "keep": detach,
                "build": b._asdict()}
        info["build"] = {k: str(v) for k, v in info["build"].items()}
        (rundir / "vm.json").write_text(json.dumps(info, indent=1))
        vm = Vm(b, accel, rundir, proc, aport, gports, shares, xdir)
        if not detach:
            _register(vm)
        deadline = t0 + timeout
        while True:
            if proc.poll() is not None:
                qtext = (rundir / "qemu.log").read_text(errors="replace")
                last = _tail(qtext) if qtext.strip() else "console: " + _tail(_read(console), 2)
                _keep_failure(_read(console) + "\n--- qemu:\n" + qtext)
                break
            try:
                r = vm._call({"op": "ping"}, 5)
                if r.get("ok"):
                    vm.boot_seconds = time.time() - t0
                    _say("ready in %.1fs (%s, kernel %s)" % (vm.boot_seconds, accel, r.get("uname")))
                    return vm
            except LabError:
                pass
            if time.time() > deadline:
                text = _read(console)
                vm.stop()
                _keep_failure(text)
                raise LabError("lab: the VM did not become ready within %ds (%s; console: %s): the machine may be "
                               "overloaded; raise LAB_BOOT_TIMEOUT, or see %s"
                               % (timeout, accel, _tail(text, 2), CACHE / "run" / "last-failed-console.log"))
            time.sleep(0.3)
        vm.stop()
        if "hostfwd" in last or "forwarding" in last:
            if agent_port is not None:
                raise LabError("lab: host port 127.0.0.1:%d is taken (qemu: %s): choose another LAB_AGENT_PORT"
                               % (agent_port, last))
            continue  # a picked port was taken in between: pick again
        break
    raise LabError("lab: qemu exited before the guest was ready: %s" % last)


def _keep_failure(text: str) -> None:
    try:
        (CACHE / "run" / "last-failed-console.log").write_text(text)
    except OSError:
        pass


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


_registered: List[Vm] = []


def _register(vm: Vm) -> None:
    if not _registered:
        import atexit
        atexit.register(_stop_all)
    _registered.append(vm)


def _stop_all() -> None:
    for vm in _registered:
        try:
            vm.stop()
        except Exception:
            pass


def cli_rundir(arch: str) -> Path:
    """The run directory of `tools/lab/lab boot`: one per arch and per worktree (the cache may be shared by
    several worktrees, and a guest mounts the worktree that booted it)."""
    return CACHE / "run" / ("cli-%s-%s" % (arch, _sha(str(REPO))[:8]))


def attach(arch: str = "x86-64") -> Vm:
    """The VM `tools/lab/lab boot` left running (from its vm.json)."""
    d = cli_rundir(arch)
    try:
        info = json.loads((d / "vm.json").read_text())
    except (OSError, ValueError):
        raise LabError("lab: no lab VM is running for %s: run tools/lab/lab boot" % arch) from None
    if not _alive(info["qemu"]):
        raise LabError("lab: the lab VM (qemu pid %d) is gone: run tools/lab/lab boot" % info["qemu"])

    class _P:  # a Popen look-alike for a process we did not start in this process
        pid = info["qemu"]
        returncode = None

        def poll(self):
            return None if _alive(self.pid) else 1

        def terminate(self):
            os.kill(self.pid, signal.SIGTERM)

        def kill(self):
            os.kill(self.pid, signal.SIGKILL)

        def wait(self, t=None):
            end = time.time() + (t or 5)
            while _alive(self.pid):
                if time.time() > end:
                    raise subprocess.TimeoutExpired("qemu", t)
                time.sleep(0.1)

    bd = info["build"]
    b = Build(bd["arch"], bd["key"], Path(bd["kernel"]), bd["kernel_release"], Path(bd["initrd"]),
              Path(bd["rootfs"]), Path(bd["manifest"]), Path(bd["disk"]) if bd.get("disk") not in (None, "None") else None)
    return Vm(b, info["accel"], d, _P(), info["agent_port"], info["gdb_ports"], info["shares"], Path(info["xdir"]))
