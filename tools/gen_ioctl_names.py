#!/usr/bin/env python3
"""Generate gdb_rr_dmabuf/ioctl/ioctl_names.txt: ioctl number -> names for x86-64 and aarch64, each
name with where it comes from.

Sources, in this order (a (name, number) pair is credited to the first source that has it):
  new      uapi headers of the newest linux-libc-dev Debian ships (sid), and its libdrm-dev;
  old      Debian 12's linux-libc-dev (the host's /usr/include for x86-64, linux-libc-dev-arm64-cross
           for aarch64) and libdrm-dev: the other number of a request whose struct grew since, and
           requests that were removed;
  strace   strace's generated tables (src/linux/64/ioctls_inc.h, src/linux/<arch>/ioctls_arch0.h,
           src/ioctls_zfs.h): what strace compiled from the kernel tree, non-uapi headers included;
  nvidia   NVIDIA's open-gpu-kernel-modules: the NV_ESC_* escapes, numbered as the user-space driver
           issues them, _IOC(_IOC_READ|_IOC_WRITE, 'F', NV_ESC_x, sizeof(parameter struct)).

Method for the headers (the idea of strace's maint/ioctls_gen.sh, own code):
  1. scan every header of a tree (and the arch's asm/) for candidates: object-like `#define NAME body`
     whose body calls an _IO/_IOR/_IOW/_IOWR/_IOC-style macro (DRM_IOWR, OSS _SIOR ... included),
     enumerators `NAME = _IO...(...)` (binder's BR_/BC_ codes, drm/xe_drm.h ...), aliases of
     candidates (`#define A B`), and the plain-number requests `#define NAME 0xTTNN` of the headers
     that define them so (TCGETS, FIONREAD, SIOC*, VT_*, cdrom, kd, hdreg, sg, fb, loop ...;
     PLAIN_NUMBER_HEADERS below);
  2. for each header, write a C file that includes it and puts `(unsigned int)(NAME)` for every
     candidate into one array, compile it to assembly (-S) with gcc (x86-64) or aarch64-linux-gnu-gcc
     and read the array back from the assembly. Nothing is linked or run.
  3. a candidate whose line fails is retried in a file of its own with more preludes; what still does
     not compile is reported (-v) and left out.

NVIDIA: escape numbers from src/nvidia/arch/nvalloc/unix/include/nv_escape.h and
kernel-open/common/inc/nv-ioctl-numbers.h (+ nv-ioctl-numa.h), the parameter type of each from the
driver's size-check tables (`_RM_ESC_IOCTL_ENTRY(escape, type)` in escape.c, `_RM_IOCTL_ENTRY` in
osapi.c, `_NV_IOCTL_ENTRY` in kernel-open/nvidia/nv.c), sizes by compiling sizeof(type) against the
driver's headers for each arch.

Usage:
  tools/gen_ioctl_names.py fetch [--cache DIR]      download and unpack the header packages and the
                                                    aarch64 cross compiler (.debs, nothing installed)
  tools/gen_ioctl_names.py generate [--new DIR] [--cross DIR] [--strace DIR]
                                    [--nvidia DIR] [--out FILE] [-j N] [-v]
--new and --cross default to the packages `fetch` unpacked under .cache/ioctl-names/; --strace and
--nvidia take a git dir (read at HEAD) or a source tree, and their source is left out when not given.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "gdb_rr_dmabuf" / "ioctl" / "ioctl_names.txt"
CACHE = REPO / ".cache" / "ioctl-names"
ARCHES = ("x86-64", "aarch64")
TRIPLET = {"x86-64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}
STRACE_ARCH = {"x86-64": "x86_64", "aarch64": "aarch64"}

# Packages `fetch` downloads. NEW: from Debian sid (the newest headers Debian ships), through a private
# apt configuration. CROSS: bookworm's aarch64 cross compiler and Debian 12's aarch64 headers, through
# the host's own apt configuration (apt-get download only: nothing is installed).
NEW_PACKAGES = ("linux-libc-dev", "libdrm-dev")
CROSS_PACKAGES = ("gcc-12-aarch64-linux-gnu", "cpp-12-aarch64-linux-gnu", "libgcc-12-dev-arm64-cross",
                  "libc6-dev-arm64-cross", "linux-libc-dev-arm64-cross")


# ------------------------------------------------------------------------------------------- fetch
def _mirror_uri() -> str:
    """The Debian mirror the host's apt uses (read at run time, never written into the project)."""
    for f in [Path("/etc/apt/sources.list.d/debian.sources")]:
        try:
            for line in f.read_text().splitlines():
                if line.startswith("URIs:") and "security" not in line:
                    return line.split()[1]
        except OSError:
            pass
    try:
        for line in Path("/etc/apt/sources.list").read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"]:
                uri = [p for p in parts[1:] if not p.startswith("[")][0]
                if "security" not in uri:
                    return uri
    except (OSError, IndexError):
        pass
    raise SystemExit("gen_ioctl_names: no Debian mirror in /etc/apt/sources.list.d/debian.sources: "
                     "add one, or unpack the header packages yourself and pass --new")


def _unpack(debs: Iterable[Path], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)


def fetch(cache: Path, suite: str = "sid") -> None:
    apt = cache / "apt"
    for d in (apt / "lists" / "partial", apt / "cache" / "archives" / "partial", cache / "debs"):
        d.mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n" % (_mirror_uri(), suite))
    opts = ["-o", "Dir::Etc::sourcelist=%s" % (apt / "sources.list"), "-o", "Dir::Etc::sourceparts=-",
            "-o", "Dir::State::Lists=%s" % (apt / "lists"), "-o", "Dir::Cache=%s" % (apt / "cache"),
            "-o", "APT::Sandbox::User=root", "-qq"]
    subprocess.run(["apt-get"] + opts + ["update"], check=True)
    debs = cache / "debs"
    for d in (debs / "new", debs / "cross"):
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.deb"):
            old.unlink()
    subprocess.run(["apt-get"] + opts + ["download"] + list(NEW_PACKAGES), cwd=str(debs / "new"), check=True)
    subprocess.run(["apt-get", "-qq", "-o", "APT::Sandbox::User=root", "download"] + list(CROSS_PACKAGES),
                   cwd=str(debs / "cross"), check=True)
    for name in ("new", "cross"):
        root = cache / name
        if root.exists():
            subprocess.run(["rm", "-rf", "--", str(root)], check=True)
        _unpack(sorted((debs / name).glob("*.deb")), root)
        (root / "PACKAGES").write_text("".join(
            "%s\n" % p.name[:-4] for p in sorted((debs / name).glob("*.deb"))))
        print("unpacked %s into %s" % (", ".join(p.name for p in sorted((debs / name).glob("*.deb"))), root))


def _deb_versions(root: Path) -> Dict[str, str]:
    """package -> version from the PACKAGES file `fetch` writes (name_version_arch per line)."""
    out: Dict[str, str] = {}
    try:
        for line in (root / "PACKAGES").read_text().split():
            parts = line.split("_")
            if len(parts) >= 2:
                out[parts[0]] = parts[1].replace("%3a", ":")
    except OSError:
        pass
    return out


def _dpkg_version(pkg: str) -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True).stdout.strip() or "?"
    except OSError:
        return "?"


# ------------------------------------------------------------------------------------ header trees
class Tree:
    """One set of headers for one arch: where to scan, how to compile."""

    def __init__(self, key: str, label: str, arch: str, cc: List[str], scan_roots: List[Tuple[str, Path]],
                 include: List[Path], drm_only: bool = False):
        self.key = key            # source id in the data file
        self.label = label        # what it is (package and version)
        self.arch = arch
        self.cc = cc              # compiler argv prefix (with -nostdinc/-isystem as needed)
        self.scan_roots = scan_roots  # (include prefix, directory) pairs to scan
        self.include = include    # -isystem directories, first wins
        self.drm_only = drm_only
        self.after: List[Path] = []  # -idirafter directories (the drm/ shim for Debian 12 amd64)


def _cross_cc(cross: Path) -> List[str]:
    gcc = sorted((cross / "usr" / "bin").glob("aarch64-linux-gnu-gcc-[0-9]*"))
    gcc = [g for g in gcc if re.search(r"gcc-\d+$", g.name)]
    if not gcc:
        raise SystemExit("gen_ioctl_names: no aarch64-linux-gnu-gcc under %s: run `%s fetch`" % (cross, sys.argv[0]))
    ver = gcc[0].name.rsplit("-", 1)[1]
    gccinc = cross / "usr" / "lib" / "gcc-cross" / "aarch64-linux-gnu" / ver / "include"
    return [str(gcc[0]), "-nostdinc", "-isystem", str(gccinc)]


def _scan_roots(inc: Path, arch: str) -> List[Tuple[str, Path]]:
    """Every uapi directory of an include tree, and the arch's asm/ as asm/."""
    roots: List[Tuple[str, Path]] = []
    for d in sorted(inc.iterdir()) if inc.is_dir() else []:
        if not d.is_dir() or "-linux-" in d.name or d.name in ("asm", "libdrm"):
            continue
        if not any(d.rglob("*.h")):
            continue
        roots.append((d.name, d))
    asm = inc / TRIPLET[arch] / "asm"
    if not asm.is_dir():
        asm = inc / "asm"
    if asm.is_dir():
        roots.append(("asm", asm))
    return roots


def make_trees(new: Path, cross: Path, only_arches: Sequence[str]) -> List[Tree]:
    """The header trees, per arch: sid's kernel headers, sid's libdrm, Debian 12's kernel headers,
    Debian 12's libdrm (the host's; the same files for both arches)."""
    trees: List[Tree] = []
    newv = _deb_versions(new)
    crossv = _deb_versions(cross)
    new_inc = new / "usr" / "include"
    new_drm = new_inc / "libdrm"
    old_drm = Path("/usr/include/libdrm")
    for arch in only_arches:
        trip = TRIPLET[arch]
        if arch == "x86-64":
            cc = ["gcc"]
            libc: List[Path] = []  # the host's own glibc headers (the compiler's defaults)
            old_incs = [Path("/usr/include") / trip, Path("/usr/include")]
            old_roots = _old_roots(Path("/usr/include"), arch)
            old_label = "linux-libc-dev %s (Debian 12)" % _dpkg_version("linux-libc-dev")
        else:
            cc = _cross_cc(cross)
            sysroot = cross / "usr" / "aarch64-linux-gnu" / "include"  # glibc and Debian 12's kernel headers
            libc = [sysroot]
            old_incs = [sysroot]
            old_roots = _old_roots(sysroot, arch)
            old_label = "linux-libc-dev-arm64-cross %s (Debian 12)" % crossv.get("linux-libc-dev-arm64-cross", "?")
        new_incs = [new_inc / trip, new_inc] + libc
        trees.append(Tree("new", "linux-libc-dev %s (Debian sid)" % newv.get("linux-libc-dev", "?"), arch, cc,
                          _scan_roots(new_inc, arch), new_incs))
        trees.append(Tree("newdrm", "libdrm-dev %s (Debian sid)" % newv.get("libdrm-dev", "?"), arch, cc,
                          [("", new_drm)], [new_drm] + new_incs, drm_only=True))
        trees.append(Tree("old", old_label, arch, cc, old_roots, old_incs))
        if not (old_incs[-1] / "drm" / "drm.h").is_file():
            trees[-1].after.append(_drm_shim(old_drm))
        trees.append(Tree("olddrm", "libdrm-dev %s (Debian 12)" % _dpkg_version("libdrm-dev"), arch, cc,
                          [("", old_drm)], [old_drm] + old_incs, drm_only=True))
    return trees


def _drm_shim(libdrm: Path) -> Path:
    """drm/<x>.h -> libdrm's <x>.h: Debian 12's amd64 linux-libc-dev leaves drm/ to libdrm-dev (as
    /usr/include/libdrm), but its linux/kfd_ioctl.h and others include <drm/drm.h>."""
    import atexit
    import shutil
    d = Path(tempfile.mkdtemp(prefix="ioctl-drm-shim"))
    atexit.register(shutil.rmtree, str(d), True)
    (d / "drm").mkdir()
    for h in libdrm.glob("*.h"):
        (d / "drm" / h.name).write_text("#include <%s>\n" % h)
    return d


def _old_roots(inc: Path, arch: str) -> List[Tuple[str, Path]]:
    """Debian 12's kernel header directories (the same include dirs also hold glibc's own headers,
    which are not scanned; scsi/ is glibc's copy of the kernel's)."""
    roots = [(n, inc / n) for n in ("linux", "asm-generic", "misc", "mtd", "rdma", "scsi", "sound", "video", "xen",
                                    "drm") if (inc / n).is_dir()]
    asm = inc / TRIPLET[arch] / "asm"
    if not asm.is_dir():
        asm = inc / "asm"
    if asm.is_dir():
        roots.append(("asm", asm))
    return roots


# ------------------------------------------------------------------------------------- scanning
_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)[ \t]+(.*)$")
_IO_CALL = re.compile(r"\b(?:[A-Z][A-Z0-9_]*)?_S?IO(?:C|CTL|R|W|WR)?(?:_BAD)?\s*\(")
_ENUMERATOR = re.compile(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*(.*?),?\s*$")
_ALIAS = re.compile(r"^\(?\s*([A-Z][A-Z0-9_]*)\s*\)?$")
_PLAIN = re.compile(r"^\(?\s*(0[xX][0-9A-Fa-f]+|[0-9]+)[uUlL]*\s*\)?$")

# Headers whose requests are plain numbers (`#define TCGETS 0x5401`), with the request types (the
# second byte) they use there. After strace's maint/ioctls_gen.sh, which lists the same files.
PLAIN_NUMBER_HEADERS: Dict[str, Tuple[int, ...]] = {
    "linux/hdreg.h": (0x03,), "scsi/sg.h": (0x22,), "linux/fb.h": (0x46,), "linux/kd.h": (0x4B,),
    "linux/loop.h": (0x4C,), "linux/cdrom.h": (0x53,), "scsi/scsi.h": (0x53,), "scsi/scsi_ioctl.h": (0x53,),
    "asm/ioctls.h": (0x46, 0x54, 0x66, 0x74), "asm-generic/ioctls.h": (0x46, 0x54, 0x66, 0x74),
    "linux/vt.h": (0x56,), "linux/videotext.h": (0x71, 0x72), "asm/sockios.h": (0x89,),
    "asm-generic/sockios.h": (0x89,), "linux/sockios.h": (0x89,), "linux/wireless.h": (0x8B,),
}


_COMMENT_OR_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|//[^\n]*|/\*.*?\*/', re.S)


def _clean(text: str) -> str:
    """Comments out (strings and character constants kept), continuation lines joined."""
    text = re.sub(r"\\\n", " ", text)
    return _COMMENT_OR_STRING.sub(lambda m: m.group(0) if m.group(0)[0] in "\"'" else " ", text)


_FUNC_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)\(([^)]*)\)\s*(.*)$")


def scan_header(path: Path, inc: str = "") -> List[str]:
    """Candidate request names of a header, in file order: defines whose body calls an _IO*-style
    macro (or a function-like macro of the same header that does, e.g. OSS's MIXER_READ(dev)),
    enumerators `NAME = _IO...(...)`, aliases of candidates, and the plain-number requests of the
    PLAIN_NUMBER_HEADERS."""
    try:
        text = _clean(path.read_text(errors="replace"))
    except OSError:
        return []
    plain_types = PLAIN_NUMBER_HEADERS.get(inc)
    lines = text.splitlines()
    io_funcs: Set[str] = set()
    for line in lines:
        f = _FUNC_DEFINE.match(line)
        if f and _IO_CALL.search(f.group(3)):
            io_funcs.add(f.group(1))
    io_call = _IO_CALL
    if io_funcs:
        io_call = re.compile(_IO_CALL.pattern + r"|\b(?:%s)\s*\(" % "|".join(sorted(io_funcs)))
    names: List[str] = []
    seen: Set[str] = set()
    aliases: List[Tuple[str, str]] = []
    in_enum = False
    for line in lines:
        m = _DEFINE.match(line)
        if m:
            name, body = m.group(1), m.group(2).strip()
            if name in seen or name.startswith("_"):
                continue
            if io_call.search(body):
                seen.add(name)
                names.append(name)
                continue
            a = _ALIAS.match(body)
            if a:
                aliases.append((name, a.group(1)))
                continue
            p = _PLAIN.match(body)
            if p and plain_types:
                v = int(p.group(1), 0)
                if (v >> 8) in plain_types and v <= 0xFFFF:
                    seen.add(name)
                    names.append(name)
            continue
        if re.match(r"^\s*(typedef\s+)?enum\b", line):
            in_enum = True
        if in_enum:
            for part in line.split(","):
                e = _ENUMERATOR.match(part.strip()) if "=" in part else None
                if e and io_call.search(e.group(2)) and e.group(1) not in seen:
                    seen.add(e.group(1))
                    names.append(e.group(1))
            if "}" in line:
                in_enum = False
    for _round in range(3):
        for name, target in aliases:
            if target in seen and name not in seen:
                seen.add(name)
                names.append(name)
    return names


def tree_headers(tree: Tree) -> List[Tuple[str, List[str]]]:
    """(include spelling, candidates) for every header of the tree that has candidates."""
    out: List[Tuple[str, List[str]]] = []
    for prefix, base in tree.scan_roots:
        for p in sorted(base.rglob("*.h")):
            rel = str(p.relative_to(base))
            inc = prefix + "/" + rel if prefix else rel
            if tree.drm_only and not (rel.endswith("drm.h") or rel in ("drm_mode.h", "drm_fourcc.h")):
                continue
            names = scan_header(p, inc)
            if names:
                out.append((inc, names))
    return out


# ------------------------------------------------------------------------------------- compiling
PRELUDES = (
    "#include <stddef.h>\n#include <stdint.h>\n#include <sys/types.h>\n#include <sys/time.h>\n"
    "#include <sys/socket.h>\n#include <linux/types.h>\n#include <linux/ioctl.h>\n#include <linux/major.h>\n",
    "#include <stddef.h>\n#include <linux/types.h>\n#include <linux/ioctl.h>\n",
    "#include <stddef.h>\n#include <stdint.h>\n#include <sys/types.h>\n#include <linux/types.h>\n"
    "#include <linux/ioctl.h>\n",
    "#include <stddef.h>\n#include <stdint.h>\n#include <sys/types.h>\n#include <sys/time.h>\n"
    "#include <sys/socket.h>\n#include <net/if.h>\n#include <netinet/in.h>\n#include <linux/types.h>\n"
    "#include <linux/ioctl.h>\n",
    "#include <stddef.h>\n#include <stdint.h>\n#include <stdbool.h>\n#include <sys/types.h>\n#include <sys/time.h>\n"
    "#include <sys/socket.h>\n#include <linux/types.h>\n#include <linux/ioctl.h>\n#include <linux/limits.h>\n"
    "#include <linux/posix_types.h>\n#include <asm/termbits.h>\n"
    "typedef signed char s8; typedef unsigned char u8; typedef signed short s16; typedef unsigned short u16;\n"
    "typedef signed int s32; typedef unsigned int u32; typedef signed long long s64; typedef unsigned long long u64;\n"
    "#ifndef __user\n#define __user\n#endif\n#ifndef __force\n#define __force\n#endif\n",
)

# Headers that use types from other headers without including them (found by trial; strace's
# ioctls_sym.sh has a longer list of the same kind for the kernel tree).
EXTRA_INCLUDES: Dict[str, Tuple[str, ...]] = {
    "linux/fs.h": ("linux/fiemap.h", "linux/blktrace_api.h"),
    "asm-generic/ioctls.h": ("asm/termbits.h", "linux/serial.h"),
    "asm/ioctls.h": ("asm/termbits.h", "linux/serial.h"),
    "linux/atm_eni.h": ("linux/atmdev.h",), "linux/atm_he.h": ("linux/atmdev.h",),
    "linux/atm_zatm.h": ("linux/atmdev.h",), "linux/atm_nicstar.h": ("linux/atmdev.h",),
    "linux/atm_idt77105.h": ("linux/atmdev.h",), "linux/atmsvc.h": ("linux/atmioc.h",),
    "linux/sonet.h": ("linux/atmioc.h",), "linux/atmarp.h": ("linux/atmioc.h",),
    "linux/atmlec.h": ("linux/atmioc.h",), "linux/atmmpc.h": ("linux/atmioc.h",),
    "linux/if_pppox.h": ("netinet/in.h",), "linux/if_tun.h": ("linux/filter.h",),
    "linux/ppp-ioctl.h": ("linux/filter.h",), "linux/gsmmux.h": ("linux/if.h",),
    "linux/isdn_ppp.h": ("linux/if.h",), "linux/ivtvfb.h": ("linux/videodev2.h",),
    "linux/meye.h": ("linux/videodev2.h",), "linux/auto_fs.h": (), "sound/asequencer.h": ("sound/asound.h",),
    "sound/emu10k1.h": ("sound/asound.h",), "sound/hdsp.h": ("sound/asound.h",),
    "sound/hdspm.h": ("sound/asound.h",), "sound/sb16_csp.h": ("sound/asound.h",),
    "sound/sfnts_info.h": ("sound/asound.h",), "sound/usb_stream.h": ("sound/asound.h",),
    "xen/gntdev.h": (), "linux/omap3isp.h": ("linux/videodev2.h",), "linux/ipmi.h": (),
}
FIX_DEFS: Dict[str, str] = {
    "xen/evtchn.h": "typedef uint32_t grant_ref_t; typedef uint16_t domid_t;\n",
    "xen/gntdev.h": "typedef uint32_t grant_ref_t; typedef uint16_t domid_t;\n",
    "linux/auto_fs.h": "typedef unsigned int compat_ulong_t;\n",
    "linux/ndctl.h": "#define PAGE_SIZE 0\n",
    "xen/privcmd.h": "typedef uint16_t domid_t; typedef uint64_t xen_pfn_t;\n",
}

_ERR_LINE = re.compile(r"gen\.c:(\d+):\d+: error")
_ARRAY = re.compile(r"^ioctl_values_:\s*$(.*?)(?:^\s*\.(?:size|section|text|ident|globl|type)\b|\Z)", re.M | re.S)


def _read_array(asm: str, n: int) -> List[int]:
    m = _ARRAY.search(asm)
    if not m:
        raise ValueError("no ioctl_values_ array in the assembly")
    vals: List[int] = []
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        if parts[0] in (".long", ".word", ".4byte", ".int"):
            vals.append(int(parts[1], 0) & 0xFFFFFFFF)
        elif parts[0] in (".zero", ".space"):
            vals.extend([0] * (int(parts[1], 0) // 4))
    if len(vals) != n:
        raise ValueError("read %d values, expected %d" % (len(vals), n))
    return vals


def _compile(tree: Tree, inc: str, prelude: str, names: Sequence[str], workdir: Path) -> Tuple[Optional[Dict[str, int]], Set[str], str]:
    extra = EXTRA_INCLUDES.get(inc)
    if extra is None:
        extra = ("drm.h",) if tree.drm_only and inc != "drm.h" else ()
        if inc.startswith("drm/") and inc != "drm/drm.h":
            extra = ("drm/drm.h",)
    head = prelude + FIX_DEFS.get(inc, "") + "".join("#include <%s>\n" % e for e in extra) + "#include <%s>\n" % inc
    first = head.count("\n") + 2
    src = head + "const unsigned int ioctl_values_[] = {\n" + "".join("(unsigned int)(%s),\n" % n for n in names) + "};\n"
    c = workdir / "gen.c"
    s = workdir / "gen.s"
    c.write_text(src)
    argv = list(tree.cc) + ["-std=gnu11", "-w", "-O0", "-S", "-D__EXPORTED_HEADERS__"]
    for d in tree.include:
        argv += ["-isystem", str(d)]
    for d in tree.after:
        argv += ["-idirafter", str(d)]
    argv += ["-o", str(s), str(c)]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode == 0:
        vals = _read_array(s.read_text(), len(names))
        return dict(zip(names, vals)), set(), ""
    lines = {int(x) for x in _ERR_LINE.findall(proc.stdout)}
    bad = {names[ln - first] for ln in lines if 0 <= ln - first < len(names)}
    return None, bad, proc.stdout


def compile_header(tree: Tree, inc: str, names: Sequence[str], workdir: Path) -> Tuple[Dict[str, int], List[str]]:
    """Values of the candidates of one header; (values, names that did not compile)."""
    todo = list(names)
    failed: Set[str] = set()
    values: Dict[str, int] = {}
    for prelude in PRELUDES:
        for _round in range(10):
            if not todo:
                break
            vals, bad, _err = _compile(tree, inc, prelude, todo, workdir)
            if vals is not None:
                values.update(vals)
                todo = []
                break
            if not bad:
                break  # the header itself does not compile with this prelude
            failed |= bad
            todo = [n for n in todo if n not in bad]
        if not todo:
            break
    if todo:  # the header itself compiles with no prelude: nothing to retry
        return values, sorted(failed | set(todo), key=list(names).index)
    # Retry what failed one by one, with every prelude (a define may need another header's types).
    still: List[str] = []
    for n in sorted(failed, key=list(names).index):
        got = None
        for prelude in PRELUDES:
            vals, _bad, _err = _compile(tree, inc, prelude, [n], workdir)
            if vals is not None:
                got = vals
                break
        if got:
            values.update(got)
        else:
            still.append(n)
    return values, still


def compile_tree(tree: Tree, jobs: int, verbose: bool) -> Tuple[Dict[str, Tuple[int, str]], List[str]]:
    """name -> (value, header) for one tree; and the candidates that did not compile."""
    headers = tree_headers(tree)

    def work(item: Tuple[str, List[str]]) -> Tuple[str, Dict[str, int], List[str]]:
        inc, names = item
        with tempfile.TemporaryDirectory(prefix="ioctlgen") as d:
            vals, bad = compile_header(tree, inc, names, Path(d))
        return inc, vals, bad

    out: Dict[str, Tuple[int, str]] = {}
    dropped: List[str] = []
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        for inc, vals, bad in ex.map(work, headers):
            for name in (n for n in dict.fromkeys(list(vals))):
                if name not in out:  # the first header (in scan order) that defines a name wins
                    out[name] = (vals[name], inc)
            dropped.extend("%s:%s" % (inc, n) for n in bad)
    if verbose:
        print("%s %s (%s): %d names from %d headers; %d did not compile: %s" % (
            tree.arch, tree.key, tree.label, len(out), len(headers), len(dropped), " ".join(dropped)), file=sys.stderr)
    return out, dropped


# ---------------------------------------------------------------------------------- strace tables
class SourceFiles:
    """Files of a checkout: a bare git dir (read at HEAD) or a source tree."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.git = (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()
        if not self.git and (self.path / ".git").exists():
            self.git = False

    def read(self, rel: str) -> Optional[str]:
        if self.git:
            p = subprocess.run(["git", "--git-dir", str(self.path), "show", "HEAD:" + rel], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, universal_newlines=True)
            return p.stdout if p.returncode == 0 else None
        try:
            return (self.path / rel).read_text(errors="replace")
        except OSError:
            return None

    def describe(self) -> str:
        if self.git:
            p = subprocess.run(["git", "--git-dir", str(self.path), "log", "-1", "--format=%h %cs"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
            return "commit " + p.stdout.strip() if p.returncode == 0 else "git"
        p = subprocess.run(["git", "-C", str(self.path), "log", "-1", "--format=%h %cs"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True)
        return "commit " + p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else "source tree"


_STRACE_ENTRY = re.compile(r'^\{\s*"([^"]+)",\s*"([A-Za-z0-9_]+)",\s*([^,]+),\s*([^,]+),\s*([^,}]+?)\s*\},?\s*$')
_DIRS = {"_IOC_NONE": 0, "_IOC_WRITE": 1, "_IOC_READ": 2, "0": 0}


def _strace_int(expr: str) -> int:
    expr = expr.strip()
    if not re.match(r"^[0-9A-Fa-fxX<>|() ]+$", expr):
        raise ValueError("unexpected expression %r in strace's table" % expr)
    return int(eval(expr, {"__builtins__": {}}, {}))  # digits, hex, <<, | and parentheses only


def strace_files(arch: str) -> List[str]:
    return ["src/linux/%s/ioctls_arch0.h" % STRACE_ARCH[arch], "src/linux/64/ioctls_inc.h", "src/ioctls_zfs.h"]


def read_strace_tables(src: SourceFiles, arch: str) -> List[Tuple[str, str, int, str]]:
    """Every entry of strace's tables for personality 0 of arch: (header, name, number, table file).
    The tables' columns: header the definition was found in, name, _IOC direction, type << 8 | nr, size.
    (strace's own build concatenates ioctls_inc0.h, which #includes ../64/ioctls_inc.h, ioctls_arch0.h
    and ioctls_zfs.h, then sorts them with ioctlsort.)"""
    out: List[Tuple[str, str, int, str]] = []
    for rel in strace_files(arch):
        text = src.read(rel)
        if text is None:
            raise FileNotFoundError("%s has no %s" % (src.path, rel))
        for line in text.splitlines():
            m = _STRACE_ENTRY.match(line.strip())
            if not m:
                continue
            hdr, name, d, tnr, size = m.groups()
            dirv = 0
            for part in d.split("|"):
                part = part.strip()
                if part not in _DIRS:
                    raise ValueError("unexpected direction %r in %s" % (part, rel))
                dirv |= _DIRS[part]
            code = (dirv << 30) | (_strace_int(size) << 16) | _strace_int(tnr)
            out.append((hdr, name, code & 0xFFFFFFFF, rel))
    return out


# ------------------------------------------------------------------------------------------ NVIDIA
_NV_NUM = re.compile(r"^\s*#\s*define\s+(NV_ESC_[A-Z0-9_]+)\s+\(?\s*(NV_IOCTL_BASE\s*\+\s*)?(0x[0-9A-Fa-f]+|\d+)\s*\)?\s*$", re.M)
_NV_ENTRY = re.compile(r"_(?:RM_ESC|NV|RM)_IOCTL_ENTRY\s*\(\s*(NV_ESC_[A-Z0-9_]+)\s*,\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:,\s*(NV_TRUE|NV_FALSE)\s*)?\)")
_NV_SPECIAL = re.compile(r"arg_cmd\s*==\s*(NV_ESC_[A-Z0-9_]+)\s*\)(.{0,400})", re.S)
_NV_SIZEOF = re.compile(r"sizeof\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")
NV_NUMBER_FILES = ("src/nvidia/arch/nvalloc/unix/include/nv_escape.h", "kernel-open/common/inc/nv-ioctl-numbers.h",
                   "kernel-open/common/inc/nv-ioctl-numa.h")
NV_TABLE_FILES = ("src/nvidia/arch/nvalloc/unix/src/escape.c", "src/nvidia/arch/nvalloc/unix/src/osapi.c",
                  "kernel-open/nvidia/nv.c")
NV_INCLUDES = ("nvtypes.h", "nvos.h", "nv-ioctl.h", "nv-ioctl-numa.h", "nv_escape.h", "nv-ioctl-numbers.h",
               "nv-unix-nvos-params-wrappers.h", "nv-ioctl-lockless-diag.h")
NV_INCLUDE_DIRS = ("kernel-open/common/inc", "src/common/sdk/nvidia/inc", "src/nvidia/arch/nvalloc/unix/include")


def nvidia_escapes(src_dir: Path, trees: Sequence[Tree], verbose: bool) -> Tuple[Dict[str, List[Tuple[str, int, str]]], str]:
    """arch -> [(NV_ESC_x, number, "file: parameter type")]; and a description of the source.

    The driver (kernel-open/nvidia/nv.c nvidia_ioctl) takes the escape from _IOC_NR(cmd) and the
    parameter size from _IOC_SIZE(cmd), and checks the size against a table per escape
    (nv_validate_ioctls in nv.c, RmValidateIoctl in escape.c, rm_validate_ioctls in osapi.c:
    `{escape, sizeof(type)}`); NVIDIA's user
    space issues _IOC(_IOC_READ|_IOC_WRITE, NV_IOCTL_MAGIC 'F', escape, size) (rr stubs one of them,
    0xc020462a = NV_ESC_RM_CONTROL with its 32-byte NVOS54_PARAMETERS). Escapes whose argument is an
    array of any length (isArgumentArray) have no single number and are left out."""
    src = SourceFiles(src_dir)
    nums: Dict[str, int] = {}
    base, magic = None, None
    for rel in NV_NUMBER_FILES:
        text = _clean(src.read(rel) or "")
        mb = re.search(r"#\s*define\s+NV_IOCTL_BASE\s+(\d+)", text)
        if mb:
            base = int(mb.group(1))
        mm = re.search(r"#\s*define\s+NV_IOCTL_MAGIC\s+'(.)'", text)
        if mm:
            magic = ord(mm.group(1))
    for rel in NV_NUMBER_FILES:
        for m in _NV_NUM.finditer(_clean(src.read(rel) or "")):
            if m.group(2) and base is None:
                continue
            nums.setdefault(m.group(1), int(m.group(3), 0) + (base if m.group(2) else 0))
    if magic is None or not nums:
        raise SystemExit("gen_ioctl_names: %s does not look like open-gpu-kernel-modules (no NV_IOCTL_MAGIC)" % src_dir)
    types: Dict[str, List[Tuple[str, str]]] = {}
    skipped: List[str] = []
    for rel in NV_TABLE_FILES:
        text = _clean(src.read(rel) or "")
        for m in _NV_ENTRY.finditer(text):
            name, typ, is_array = m.group(1), m.group(2).strip(), m.group(3)
            if is_array == "NV_TRUE":
                skipped.append(name)
                continue
            if (typ, rel) not in types.setdefault(name, []):
                types[name].append((typ, rel))
        for m in _NV_SPECIAL.finditer(text if "RmValidateIoctl" in text else ""):
            # escapes RmValidateIoctl checks outside its table (NV_ESC_RM_ALLOC: two sizes)
            name = m.group(1)
            for typ in _NV_SIZEOF.findall(m.group(2)):
                if typ not in [t for t, _r in types.get(name, [])]:
                    types.setdefault(name, []).append((typ, rel))
    with tempfile.TemporaryDirectory(prefix="nvgen") as d:
        tar = subprocess.run(["git", "--git-dir", str(src.path), "archive", "HEAD"] + list(NV_INCLUDE_DIRS),
                             stdout=subprocess.PIPE) if src.git else None
        root = Path(d) / "nv"
        root.mkdir()
        if tar is not None:
            subprocess.run(["tar", "-x", "-C", str(root)], input=tar.stdout, check=True)
        else:
            root = src.path
        items = [(name, typ, rel) for name in sorted(types) if name in nums for typ, rel in types[name]]
        out: Dict[str, List[Tuple[str, int, str]]] = {}
        for tree in trees:
            if tree.key != "new" or tree.arch in out:
                continue
            c = Path(d) / "nv.c"
            s = Path(d) / "nv.s"
            c.write_text("#include <stddef.h>\n" + "".join("#include <%s>\n" % h for h in NV_INCLUDES) +
                         "const unsigned int ioctl_values_[] = {\n" +
                         "".join("(unsigned int)sizeof(%s),\n" % typ for _n, typ, _r in items) + "};\n")
            argv = list(tree.cc) + ["-std=gnu11", "-w", "-O0", "-S"]
            for inc in NV_INCLUDE_DIRS:
                argv += ["-I", str(root / inc)]
            for inc in tree.include:
                argv += ["-isystem", str(inc)]
            proc = subprocess.run(argv + ["-o", str(s), str(c)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True)
            if proc.returncode != 0:
                raise SystemExit("gen_ioctl_names: NVIDIA's parameter structs do not compile for %s:\n%s"
                                 % (tree.arch, proc.stdout[-3000:]))
            sizes = _read_array(s.read_text(), len(items))
            out[tree.arch] = [(name, (3 << 30) | (size << 16) | (magic << 8) | nums[name],
                               "%s %s" % (rel.rsplit("/", 1)[-1], typ))
                              for (name, typ, rel), size in zip(items, sizes)]
    if verbose:
        print("nvidia: %d escapes numbered, %d with a fixed-size argument; array arguments left out: %s"
              % (len(nums), len({n for n, _t, _r in items}), " ".join(sorted(set(skipped)))), file=sys.stderr)
    return out, "NVIDIA open-gpu-kernel-modules %s" % src.describe()


# ------------------------------------------------------------------------------------------ output
def write_data(path: Path, sources: List[Tuple[str, str]], pairs: Dict[str, Dict[Tuple[str, int], Tuple[str, str]]]) -> None:
    """pairs: arch -> {(name, number): (source id, header)}. Pairs equal on both arches (same number,
    source and header) go to the shared part."""
    a, b = ARCHES
    common = {k: v for k, v in pairs[a].items() if pairs[b].get(k) == v}
    parts = [("all", common)] + [(arch, {k: v for k, v in pairs[arch].items() if k not in common}) for arch in ARCHES]
    lines = [
        "# ioctl request number -> names, for gdb_rr_dmabuf/ioctl/names.py. GENERATED by tools/gen_ioctl_names.py:",
        "# do not edit. Sections: [all] is both arches, [x86-64] and [aarch64] what only that arch has.",
        "# `@ SOURCE HEADER` starts a group (SOURCE is an id from the `source` lines); then `NUMBER NAME` lines",
        "# (hex, 8 digits).",
    ]
    for sid, label in sources:
        lines.append("source %s %s" % (sid, label))
    for sect, entries in parts:
        lines.append("[%s]" % sect)
        groups: Dict[Tuple[str, str], List[Tuple[int, str]]] = {}
        for (name, num), (sid, hdr) in entries.items():
            groups.setdefault((sid, hdr), []).append((num, name))
        order = {s: i for i, (s, _l) in enumerate(sources)}
        for (sid, hdr) in sorted(groups, key=lambda g: (order.get(g[0], 99), g[1])):
            lines.append("@ %s %s" % (sid, hdr or "-"))
            for num, name in sorted(groups[(sid, hdr)]):
                lines.append("%08x %s" % (num, name))
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------- main
SOURCE_ORDER = ("new", "newdrm", "old", "olddrm", "strace", "nvidia")


def generate(trees: Sequence[Tree], strace: Optional[Path], nvidia: Optional[Path], jobs: int, verbose: bool
             ) -> Tuple[List[Tuple[str, str]], Dict[str, Dict[Tuple[str, int], Tuple[str, str]]], Dict[str, object]]:
    """(sources, arch -> {(name, number): (source id, header)}, statistics)."""
    labels: Dict[str, str] = {}
    pairs: Dict[str, Dict[Tuple[str, int], Tuple[str, str]]] = {a: {} for a in ARCHES}
    stats: Dict[str, object] = {"dropped": {}}
    for key in SOURCE_ORDER[:4]:
        for tree in [t for t in trees if t.key == key]:
            labels.setdefault(tree.key, tree.label)
            got, dropped = compile_tree(tree, jobs, verbose)
            stats["dropped"][(tree.arch, tree.key)] = dropped  # type: ignore[index]
            for name, (val, hdr) in got.items():
                pairs[tree.arch].setdefault((name, val), (tree.key, hdr))
    if strace is not None:
        src = SourceFiles(strace)
        labels["strace"] = "strace %s, src/linux/64/ioctls_inc.h, src/linux/<arch>/ioctls_arch0.h, src/ioctls_zfs.h" % src.describe()
        for arch in ARCHES:
            for hdr, name, val, _rel in read_strace_tables(src, arch):  # every entry, not only the one
                pairs[arch].setdefault((name, val), ("strace", hdr))      # strace keeps per name
    if nvidia is not None:
        nv, label = nvidia_escapes(nvidia, trees, verbose)
        labels["nvidia"] = label
        for arch, rows in nv.items():
            for name, val, what in rows:
                pairs[arch].setdefault((name, val), ("nvidia", what))
    sources = [(k, labels[k]) for k in SOURCE_ORDER if k in labels]
    return sources, pairs, stats


def _labels_fix(sources: List[Tuple[str, str]], trees: Sequence[Tree]) -> List[Tuple[str, str]]:
    out = []
    for sid, label in sources:
        per = {t.arch: t.label for t in trees if t.key == sid}
        if sid in ("new", "newdrm", "olddrm"):
            label = per.get("x86-64", label)
        elif sid == "old":
            label = "; ".join("%s: %s" % (a, per[a]) for a in ARCHES if a in per)
        out.append((sid, label))
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    f = sub.add_parser("fetch", help="download and unpack the header packages and the aarch64 cross compiler")
    f.add_argument("--cache", default=str(CACHE))
    f.add_argument("--suite", default="sid")
    g = sub.add_parser("generate", help="compile the headers and write the data file")
    g.add_argument("--new", default=str(CACHE / "new"), help="unpacked sid linux-libc-dev + libdrm-dev (root dir)")
    g.add_argument("--cross", default=str(CACHE / "cross"), help="unpacked aarch64 cross compiler + Debian 12 arm64 headers")
    g.add_argument("--strace", help="strace checkout (git dir or source tree)")
    g.add_argument("--nvidia", help="NVIDIA open-gpu-kernel-modules checkout (git dir or source tree)")
    g.add_argument("--out", default=str(OUT))
    g.add_argument("-j", "--jobs", type=int, default=2)
    g.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "fetch":
        fetch(Path(args.cache), args.suite)
        return 0
    if args.cmd != "generate":
        ap.print_help()
        return 2
    new, cross = Path(args.new), Path(args.cross)
    if not (new / "usr" / "include" / "linux").is_dir():
        raise SystemExit("gen_ioctl_names: no headers under %s: run `%s fetch` or pass --new" % (new, sys.argv[0]))
    trees = make_trees(new, cross, ARCHES)
    sources, pairs, stats = generate(trees, Path(args.strace) if args.strace else None,
                                     Path(args.nvidia) if args.nvidia else None, args.jobs, args.verbose)
    sources = _labels_fix(sources, trees)
    write_data(Path(args.out), sources, pairs)
    for arch in ARCHES:
        per: Dict[str, int] = {}
        for (_n, _v), (sid, _h) in pairs[arch].items():
            per[sid] = per.get(sid, 0) + 1
        codes: Dict[int, Set[str]] = {}
        for (n, v) in pairs[arch]:
            codes.setdefault(v, set()).add(n)
        print("%s: %d (name, number) pairs (%s), %d numbers, %d with several names" % (
            arch, len(pairs[arch]), ", ".join("%s %d" % (k, per.get(k, 0)) for k in SOURCE_ORDER if k in per),
            len(codes), sum(1 for n in codes.values() if len(n) > 1)))
    print("wrote %s (%d bytes)" % (args.out, Path(args.out).stat().st_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
