"""The lab's build (cached under REPO/.cache/lab/, keyed by the resolved package versions):
  1. resolution: `apt-get -s install ?essential apt PACKAGES` (labapt's private trixie) against an empty
     dpkg status gives the package=version list the rootfs will hold; its hash is the key (reused while
     trixie's InRelease is unchanged);
  2. the kernel: `apt-get download linux-image-6.12.*` (the one linux-image-DEBARCH depends on),
     `dpkg-deb -x`, vmlinuz and the few modules the guest needs, decompressed (.ko.xz -> .ko);
  3. the rootfs: `mmdebstrap --variant=apt` with PACKAGES pinned, docs/man/locales excluded (a foreign
     arch's: unpacked only, then _fix_extracted);
  4. the guest's root: an ext4 disk image and a small stage-1 initramfs (ROOT_MODE "disk"), or the whole
     rootfs as one uncompressed newc cpio with /init (init.sh), /lab/agent.py and the modules, written
     here in Python.
"""
from __future__ import annotations

import fcntl
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from labapt import Apt
from labcore import ARCHES, CACHE, GUEST_VENV, HERE, LabError, _run, _say, _sha, _tail

RECIPE = "lab-recipe-1"  # bump when the rootfs recipe (not the packages) changes
EXTRACT_RECIPE = "extract-3"  # the same for an unpacked-only (foreign-arch) rootfs: _fix_extracted

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
# dconf-service needs (the other choice, dbus-user-session, brings systemd). Both arches (ARCHES' "gui"):
# tests/test_lab_gui.py (x86-64) and tests/test_lab_gui_arm64.py; in the unpacked-only arm64 rootfs
# _guest_gui_caches makes what the packages' triggers would.
GUI_PACKAGES = ["xvfb", "x11-utils", "dbus-x11", "nwg-look", "ymuse", "nwg-bar"]
EXCLUDES = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
            "/usr/share/lintian/*", "/usr/share/bug/*"]
# Modules the guest loads at boot (their `depends=` are followed): network and 9p.
MODULES = ["virtio_net", "9pnet_virtio", "9p", "virtio_blk", "crc32c_generic", "ext4"]
# How the guest gets its root: "disk" (an ext4 image on virtio-blk, a small initramfs mounts it; qemu
# keeps the guest's writes in a throw-away snapshot) or "initramfs" (the whole rootfs as one cpio).
ROOT_MODE = os.environ.get("LAB_ROOT", "disk")




class Build(NamedTuple):
    arch: str
    key: str
    kernel: Path          # vmlinuz
    kernel_release: str   # uname -r
    initrd: Path          # uncompressed newc cpio (the whole rootfs, or the small stage-1 one in disk mode)
    rootfs: Path          # the guest's / on the host (sysroot)
    manifest: Path        # package=version lines
    disk: Optional[Path] = None   # the ext4 root image in disk mode




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
        raise LabError("lab: %s in trixie depends on no 6.12 kernel (%r): update kernel_re in tools/lab/labcore.py "
                       "ARCHES"
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
    _guest_gui_caches(root, arch)


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


def _guest_gui_caches(root: Path, arch: str) -> None:
    """The caches the GUI packages' triggers make (GUI_PACKAGES in an unpacked-only rootfs), by the guest's
    own tools under qemu-user, every path given as the host's (under root) and the cache files' paths
    rewritten to the guest's: GSettings' compiled schemas, GIO's module list, gdk-pixbuf's loaders (GTK 3
    aborts when it cannot load its theme's icons), GTK 3's input methods and icon caches, the MIME database and
    fontconfig's cache (both also spare a TCG guest's start-ups a scan). The x86-64 rootfs, whose scripts ran,
    holds the same files."""
    trip = {"aarch64": "aarch64-linux-gnu", "x86-64": "x86_64-linux-gnu"}[arch]
    lib = root / "usr" / "lib" / trip
    if not (lib / "libgtk-3.so.0").exists():
        return
    t = time.time()
    q = [_qemu_user(arch)] + ARCHES[arch]["user_cpu"] + ["-L", str(root)]
    r = str(root)

    def guest(tool: Path, *args: str, what: str) -> str:
        p = _run(q + [str(tool)] + list(args), "making the guest's %s" % what, "check qemu-user and the rootfs", 600)
        return p.stdout

    guest(lib / "glib-2.0" / "glib-compile-schemas", r + "/usr/share/glib-2.0/schemas", what="GSettings schemas")
    guest(lib / "glib-2.0" / "gio-querymodules", str(lib / "gio" / "modules"), what="GIO module list")
    loaders = sorted(str(p) for p in (lib / "gdk-pixbuf-2.0" / "2.10.0" / "loaders").glob("*.so"))
    text = guest(lib / "gdk-pixbuf-2.0" / "gdk-pixbuf-query-loaders", *loaders, what="gdk-pixbuf loaders.cache")
    (lib / "gdk-pixbuf-2.0" / "2.10.0" / "loaders.cache").write_text(text.replace(r + "/", "/"))
    ims = sorted(str(p) for p in (lib / "gtk-3.0" / "3.0.0" / "immodules").glob("*.so"))
    text = guest(lib / "libgtk-3-0t64" / "gtk-query-immodules-3.0", *ims, what="GTK 3 immodules.cache")
    (lib / "gtk-3.0" / "3.0.0" / "immodules.cache").write_text(text.replace(r + "/", "/"))
    for theme in sorted((root / "usr" / "share" / "icons").glob("*/index.theme")):
        guest(root / "usr" / "bin" / "gtk-update-icon-cache", "-q", "-f", "-t", str(theme.parent),
              what="icon cache of %s" % theme.parent.name)
    if (root / "usr" / "bin" / "update-mime-database").exists():
        guest(root / "usr" / "bin" / "update-mime-database", r + "/usr/share/mime", what="MIME database")
    if (root / "usr" / "bin" / "fc-cache").exists():
        guest(root / "usr" / "bin" / "fc-cache", "-s", "-y", r, what="fontconfig cache")
    _say("GUI caches in %.1fs" % (time.time() - t))


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
