#!/usr/bin/env python3
"""Generate gdb_rr_dmabuf/ioctl/_names_x86_64.py and _names_aarch64.py (ioctl number -> names).

Method (the idea of strace's maint/ioctls_gen.sh, own code):
  1. scan the uapi headers for object-like `#define NAME ...` whose body calls an _IO/_IOR/_IOW/_IOWR/
     _IOC-style macro (DRM_IOWR and friends included);
  2. for each header, write a C file that includes it and puts `(unsigned int)(NAME)` for every such
     name into one `const unsigned int` array;
  3. compile it to an object file (gcc for x86-64, aarch64-linux-gnu-gcc for aarch64) and read the
     array back from the object's data with pyelftools. Nothing is run, so the cross build needs no
     emulator. Names that do not compile are dropped (gcc's error lines say which), headers that do not
     compile at all are skipped.

Headers: Debian's linux-libc-dev (x86-64: /usr/include; aarch64: linux-libc-dev-arm64-cross under
/usr/aarch64-linux-gnu/include) for linux/, asm/, asm-generic/ioctls.h, misc/, mtd/, rdma/, scsi/, sound/,
video/, xen/; libdrm-dev's /usr/include/libdrm for DRM (the same files for both architectures).

A few numbers newer than these headers are added by hand (NEWER_THAN_HEADERS below, with sources).

Usage: python3 tools/gen_ioctl_names.py [--arch x86-64|aarch64|all] [--out DIR] [-v]
Needs: gcc, pyelftools; for aarch64 `apt-get install gcc-aarch64-linux-gnu linux-libc-dev-arm64-cross`.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "gdb_rr_dmabuf" / "ioctl"

LIBDRM = Path("/usr/include/libdrm")
SUBDIRS = ("linux", "asm", "misc", "mtd", "rdma", "scsi", "sound", "video", "xen")
EXTRA_FILES = ("asm-generic/ioctls.h",)

ARCHES = {
    "x86-64": {
        "cc": "gcc",
        "sysroot_include": Path("/usr/include"),
        "asm_dir": Path("/usr/include/x86_64-linux-gnu/asm"),
        "package": "linux-libc-dev",
        "module": "_names_x86_64.py",
    },
    "aarch64": {
        "cc": "aarch64-linux-gnu-gcc",
        "sysroot_include": Path("/usr/aarch64-linux-gnu/include"),
        "asm_dir": Path("/usr/aarch64-linux-gnu/include/asm"),
        "package": "linux-libc-dev-arm64-cross",
        "module": "_names_aarch64.py",
    },
}


def _ioc(d: int, t: str, nr: int, size: int) -> int:
    return (d << 30) | (size << 16) | (ord(t) << 8) | nr


# Numbers the Debian 6.1 headers do not have yet. Same on x86-64 and aarch64 (fixed-size structs).
NEWER_THAN_HEADERS: List[Tuple[int, str, str]] = [
    # linux/sync_file.h since 6.8: _IOW('>', 5, struct sync_set_deadline {u64 deadline_ns; u64 pad;})
    (_ioc(1, ">", 5, 16), "SYNC_IOC_SET_DEADLINE", "linux 6.8 include/uapi/linux/sync_file.h"),
    # drm/drm.h since 6.16: struct drm_syncobj_handle gained `__u64 point` (16 -> 24 bytes)
    (_ioc(3, "d", 0xC1, 24), "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD", "linux 6.16 include/uapi/drm/drm.h (24-byte struct)"),
    (_ioc(3, "d", 0xC2, 24), "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE", "linux 6.16 include/uapi/drm/drm.h (24-byte struct)"),
]

_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z][A-Za-z0-9_]*)[ \t]+(.*)$")
_IO_CALL = re.compile(r"\b(?:_IO|_IOR|_IOW|_IOWR|_IOC|_IOR_BAD|_IOW_BAD|_IOWR_BAD|DRM_IO|DRM_IOR|DRM_IOW|DRM_IOWR"
                      r"|[A-Z][A-Z0-9_]*_IO[RW]{0,2})\s*\(")

PRELUDES = (
    "#include <stddef.h>\n#include <stdint.h>\n#include <sys/types.h>\n#include <sys/time.h>\n"
    "#include <sys/socket.h>\n#include <linux/types.h>\n#include <linux/ioctl.h>\n#include <linux/major.h>\n"
    "#include <linux/atmioc.h>\n",
    "#include <stddef.h>\n#include <linux/types.h>\n#include <linux/ioctl.h>\n#include <linux/major.h>\n"
    "#include <linux/atmioc.h>\n",
    "#include <stddef.h>\n#include <stdint.h>\n#include <sys/types.h>\n#include <linux/types.h>\n"
    "#include <linux/ioctl.h>\n",
    "#include <stddef.h>\n#include <stdint.h>\n#include <sys/types.h>\n#include <sys/time.h>\n"
    "#include <sys/socket.h>\n#include <net/if.h>\n#include <netinet/in.h>\n#include <linux/types.h>\n"
    "#include <linux/ioctl.h>\n",
)


# Headers that use types from other headers without including them (found by trial; like strace's fixups).
EXTRA_INCLUDES = {
    "linux/fs.h": ("linux/fiemap.h", "linux/blktrace_api.h"),
    "asm-generic/ioctls.h": ("asm/termbits.h",),
    "linux/atm_eni.h": ("linux/atmdev.h",),
    "linux/atm_he.h": ("linux/atmdev.h",),
    "linux/atm_zatm.h": ("linux/atmdev.h",),
    "linux/atm_nicstar.h": ("linux/atmdev.h",),
}


def scan_header(path: Path) -> List[str]:
    """Object-like macros of a header whose body calls an _IO*-style macro, in file order."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    text = re.sub(r"\\\n", " ", text)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    names: List[str] = []
    seen: Set[str] = set()
    for line in text.splitlines():
        m = _DEFINE.match(line)
        if not m:
            continue
        name, body = m.group(1), m.group(2)
        if name in seen or not _IO_CALL.search(body):
            continue
        seen.add(name)
        names.append(name)
    return names


def header_list(arch: str) -> List[Tuple[str, Path, List[str]]]:
    """(include spelling, file, names) for every header with ioctl-looking defines."""
    cfg = ARCHES[arch]
    root: Path = cfg["sysroot_include"]
    out: List[Tuple[str, Path, List[str]]] = []
    files: List[Tuple[str, Path]] = []
    for sub in SUBDIRS:
        base = cfg["asm_dir"] if sub == "asm" else root / sub
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*.h")):
            files.append((sub + "/" + str(p.relative_to(base)), p))
    for rel in EXTRA_FILES:
        p = root / rel
        if p.is_file():
            files.append((rel, p))
    for p in sorted(LIBDRM.glob("*.h")):
        files.append((p.name, p))
    for inc, p in files:
        names = scan_header(p)
        if names:
            out.append((inc, p, names))
    return out


_ERR_LINE = re.compile(r"^[^:\s]*gen\.c:(\d+):\d+: error", re.M)


def _make_shim(d: Path) -> Path:
    """drm/<x>.h -> libdrm's <x>.h, for uapi headers that include <drm/drm.h> (Debian's amd64
    linux-libc-dev leaves drm/ to libdrm-dev, which installs it as /usr/include/libdrm)."""
    shim = d / "shim"
    (shim / "drm").mkdir(parents=True, exist_ok=True)
    for p in LIBDRM.glob("*.h"):
        (shim / "drm" / p.name).write_text("#include <%s>\n" % p.name)
    return shim


def _compile_values(cc: str, inc: str, names: Sequence[str], workdir: Path, shim: Path,
                    dropped: Optional[List[str]] = None) -> Dict[str, int]:
    """Compile `names` of header `inc` and read their values from the object file."""
    from elftools.elf.elffile import ELFFile

    todo = list(names)
    for prelude in PRELUDES:
        for _round in range(8):
            if not todo:
                return {}
            extra = EXTRA_INCLUDES.get(inc, ("drm.h",) if "/" not in inc else ())
            head = prelude + "".join("#include <%s>\n" % e for e in extra) + "#include <%s>\n" % inc
            first = head.count("\n") + 2  # line of the first entry
            src = head + "const unsigned int ioctl_values_[] = {\n" + "".join(
                "(unsigned int)(%s),\n" % n for n in todo) + "};\n"
            c = workdir / "gen.c"
            o = workdir / "gen.o"
            c.write_text(src)
            proc = subprocess.run([cc, "-std=gnu11", "-w", "-O0", "-c", "-I", str(LIBDRM), "-idirafter", str(shim), "-o", str(o), str(c)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            if proc.returncode == 0:
                with open(o, "rb") as f:
                    elf = ELFFile(f)
                    symtab = elf.get_section_by_name(".symtab")
                    sym = symtab.get_symbol_by_name("ioctl_values_")[0]
                    sec = elf.get_section(sym["st_shndx"])
                    data = sec.data()[sym["st_value"]:sym["st_value"] + 4 * len(todo)]
                    little = elf.little_endian
                vals = [int.from_bytes(data[i * 4:i * 4 + 4], "little" if little else "big") for i in range(len(todo))]
                return dict(zip(todo, vals))
            bad_lines = {int(x) for x in _ERR_LINE.findall(proc.stdout)}
            bad = {todo[ln - first] for ln in bad_lines if 0 <= ln - first < len(todo)}
            if not bad:
                break  # the header itself fails with this prelude: try the next one
            if dropped is not None:
                dropped.extend(sorted(bad))
            todo = [n for n in todo if n not in bad]
    if dropped is not None:
        dropped.append("<header %s>" % inc)
    return {}


def generate(arch: str, verbose: bool = False, jobs: int = 2) -> Tuple[Dict[int, List[str]], Dict[str, int], int]:
    cfg = ARCHES[arch]
    headers = header_list(arch)
    results: Dict[str, Dict[str, int]] = {}
    dropped: List[str] = []

    with tempfile.TemporaryDirectory(prefix="ioctlshim") as sd:
        shim = _make_shim(Path(sd))

        def work(item: Tuple[str, Path, List[str]]) -> Tuple[str, Dict[str, int]]:
            inc, _p, names = item
            with tempfile.TemporaryDirectory(prefix="ioctlgen") as d:
                return inc, _compile_values(cfg["cc"], inc, names, Path(d), shim, dropped)

        with ThreadPoolExecutor(max_workers=jobs) as ex:
            for inc, vals in ex.map(work, headers):
                results[inc] = vals
                if verbose:
                    print("%-40s %4d names" % (inc, len(vals)), file=sys.stderr)
    if verbose:
        print("dropped: " + " ".join(dropped), file=sys.stderr)
    by_value: Dict[int, Set[str]] = {}
    by_name: Dict[str, int] = {}
    for inc, _p, _names in headers:
        for name, val in results.get(inc, {}).items():
            if name in by_name:
                continue  # the first header that defines a name wins (libdrm copies come last)
            by_name[name] = val
            by_value.setdefault(val, set()).add(name)
    attempted = sum(len(n) for _i, _p, n in headers)
    return {v: sorted(n) for v, n in by_value.items()}, by_name, attempted


def _pkg_version(pkg: str) -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True).stdout.strip() or "?"
    except OSError:
        return "?"


def write_module(arch: str, by_value: Dict[int, List[str]], path: Path) -> None:
    cfg = ARCHES[arch]
    source = "%s %s, libdrm-dev %s" % (cfg["package"], _pkg_version(cfg["package"]), _pkg_version("libdrm-dev"))
    compiler = "gcc" if arch == "x86-64" else "aarch64-linux-gnu-gcc (object file read with pyelftools)"
    have = {n for names in by_value.values() for n in names}
    newer = {}
    for val, name, why in NEWER_THAN_HEADERS:
        if name in have and val in by_value and name in by_value[val]:
            continue
        newer.setdefault(val, []).append((name, why))
    lines = [
        '"""ioctl number -> names for %s. GENERATED by tools/gen_ioctl_names.py: do not edit.' % arch,
        "",
        "Source: uapi headers of %s; compiled with %s." % (source, compiler),
        "NEWER: numbers from later kernels than these headers (source in the comment).",
        '"""',
        "",
        "HEADERS = %r" % source,
        "",
        "NAMES = {",
    ]
    for val in sorted(by_value):
        lines.append("    0x%08x: (%s)," % (val, "".join("%r, " % n for n in by_value[val]).rstrip(" ")))
    lines.append("}")
    lines.append("")
    lines.append("NEWER = {")
    for val in sorted(newer):
        lines.append("    # " + "; ".join(why for _n, why in newer[val]))
        lines.append("    0x%08x: (%s)," % (val, "".join("%r, " % n for n, _w in newer[val]).rstrip(" ")))
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="all", choices=["all"] + list(ARCHES))
    ap.add_argument("--out", default=str(OUT_DIR))
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    arches = list(ARCHES) if args.arch == "all" else [args.arch]
    for arch in arches:
        cfg = ARCHES[arch]
        if subprocess.run(["sh", "-c", "command -v %s" % cfg["cc"]], stdout=subprocess.DEVNULL).returncode != 0:
            print("%s: %s not found, skipped" % (arch, cfg["cc"]), file=sys.stderr)
            continue
        by_value, by_name, attempted = generate(arch, args.verbose, args.jobs)
        path = Path(args.out) / cfg["module"]
        write_module(arch, by_value, path)
        shared = sum(1 for n in by_value.values() if len(n) > 1)
        print("%s: %d names (of %d defines found), %d numbers, %d shared by several names -> %s"
              % (arch, len(by_name), attempted, len(by_value), shared, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
