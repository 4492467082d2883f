"""Go and cgo frames of a stop, as the advice rules see them (evidence.GoFrameEv): full names and packages,
where a frame is, the program's own frame, and the cgo call behind an ioctl made by C code compiled into the
executable. Pure data in; no target reads."""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Optional, Sequence

from .stdlib import STD_ROOTS as _GO_STD_ROOTS
from .stdlib import is_std_package

if TYPE_CHECKING:  # no import cycle at run time: evidence imports the advice lazily
    from ..evidence import Evidence, GoFrameEv

# Shared objects that may lie between an ioctl and the program's own C code (go_cgo_ioctl default):
# glibc and musl, their dynamic loaders, and rr's syscall page and preload library.
DEFAULT_SYSTEM_OBJFILES = ("libc.so*", "libc-*.so", "libpthread.so*", "libpthread-*.so", "ld-linux*",
                           "ld-*.so", "libc.musl*", "ld-musl*", "librrpage.so", "librrpreload.so")
# Prefixes of the Go functions cgo generates (cmd/cgo: _Cfunc_ calls C, _C2func_ also returns errno).
CGO_CALL_PREFIXES = ("_Cfunc_", "_C2func_")
CGO_GENERATED_PREFIXES = ("_Cfunc_", "_C2func_", "_cgo_", "_Cgo_", "_cgoexp_")

_GO_PKG_PATH = re.compile(r"[A-Za-z0-9_.~-]+(?:/[A-Za-z0-9_.~-]+)*")
# GCC's names for clones of a C function ('f.constprop.0', 'f.isra.0', 'f.part.0', 'f.cold').
_GCC_CLONE = re.compile(r"\.(?:(?:constprop|isra|part|lto_priv|localalias|clone)\.\d+|cold|hot)$")


def go_full_name(fr: GoFrameEv) -> str:
    fn = fr.function or ""
    pkg = fr.package or ""
    if not pkg or fn.startswith(pkg + "."):
        return fn
    return pkg + "." + fn


def go_package_of(full_name: str) -> str:
    """Package path of a full Go function name ('a.b/c/d.(*T).M' -> 'a.b/c/d')."""
    slash = full_name.rfind("/")
    dot = full_name.find(".", slash + 1)
    return full_name[:dot] if dot > 0 else full_name


def frame_package(fr: GoFrameEv) -> str:
    return fr.package or go_package_of(fr.function or "")


def where(fr: GoFrameEv) -> str:
    if fr.file:
        return "%s:%s" % (fr.file, fr.line) if fr.line else fr.file
    return "unknown location"


def module_text(fr: GoFrameEv) -> str:
    if fr.module:
        return fr.module + ("@" + fr.version if fr.version else "")
    return "module unknown"


def program_frame(ev: Evidence) -> Optional[GoFrameEv]:
    """The program's own function nearest the call: the innermost Go frame in package main or in the main
    module (Debian's GOPATH builds record no module: package main is what is left of the program there)."""
    for fr in ev.go_frames or []:
        pkg = frame_package(fr)
        if pkg == "main" or (ev.main_module and fr.module == ev.main_module):
            return fr
    return None


def go_short_name(full: str) -> str:
    """'a.b/c.(*T).M' -> '(*T).M', 'pkg._Cfunc_f' -> '_Cfunc_f'."""
    pkg = go_package_of(full)
    return full[len(pkg) + 1:] if full.startswith(pkg + ".") else full


def is_cgo_generated(fr: GoFrameEv) -> bool:
    """A Go function that cgo generates (the _Cfunc_ wrapper of a C.name call and its kin)."""
    return go_short_name(go_full_name(fr)).startswith(CGO_GENERATED_PREFIXES)


def same_file(a: Optional[str], b: Optional[str]) -> bool:
    """Do two paths name the same executable? Same text, same real path, the same file on this machine,
    or (when either is a bare name) the same base name."""
    if not a or not b:
        return False
    if a == b:
        return True
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        if os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b):
            return True
    except (OSError, ValueError):
        pass
    if "/" not in a or "/" not in b:
        return os.path.basename(a) == os.path.basename(b)
    return False


def native_is_go(name: Optional[str], go_names: set, go_pkgs: set) -> bool:
    """Is this native frame's function a Go symbol (where gdb's stack crosses into Go)?"""
    if not name:
        return False
    if name in go_names:
        return True
    if _GCC_CLONE.search(name):
        return False
    pkg = go_package_of(name)
    if pkg == name or not _GO_PKG_PATH.fullmatch(pkg):
        return False                              # no package qualifier: a C name
    if pkg in go_pkgs:
        return True
    first = pkg.split("/", 1)[0]
    return first in _GO_STD_ROOTS or ("/" in pkg and "." in first)


class _Glob:
    """A shell glob matched against the whole text (what the advice's Pattern does for a glob)."""

    __slots__ = ("_re",)

    def __init__(self, text: str):
        self._re = re.compile(fnmatch.translate(text))

    def matches(self, value: str) -> bool:
        return self._re.match(value) is not None


@dataclass
class CgoCall:
    """What go_cgo_ioctl found: the C code in the executable and the Go side of the cgo call."""
    c_frame: int                                  # index of the innermost native frame in the executable
    c_function: str
    exe_frames: List[int]                         # native frames in the executable (innermost first)
    wrapper_index: int
    wrapper: GoFrameEv
    caller: GoFrameEv


def cgo_call(ev: Evidence, system_objfiles: Optional[Sequence[Any]] = None) -> Optional[CgoCall]:
    """The cgo call behind the ioctl, when C code compiled into the executable made it, else None.
    system_objfiles: patterns (anything with .matches(text)) of the shared objects allowed in between."""
    if system_objfiles is None:
        system_objfiles = [_Glob(p) for p in DEFAULT_SYSTEM_OBJFILES]
    go = ev.go_frames or []
    # The Go side: the innermost cgo call wrapper, with only standard frames (runtime.cgocall) inside.
    wi = None
    for i, fr in enumerate(go):
        if go_short_name(go_full_name(fr)).startswith(CGO_CALL_PREFIXES):
            wi = i
            break
        if not is_std_package(frame_package(fr), fr.module):
            return None
    if wi is None:
        return None
    wrapper = go[wi]
    if is_std_package(frame_package(wrapper), wrapper.module):
        return None                               # e.g. net._Cfunc_getaddrinfo: the toolchain's own cgo
    caller = None
    for fr in go[wi + 1:]:
        if not is_cgo_generated(fr) and not is_std_package(frame_package(fr), fr.module):
            caller = fr
            break
    if caller is None:
        return None
    # The native side: every frame up to the first Go symbol lies in libc & co. or in the executable.
    if not ev.executable:
        return None
    go_names = {go_full_name(f) for f in go}
    go_pkgs = {frame_package(f) for f in go}
    exe_frames: List[int] = []
    for i, (fn, obj) in enumerate(ev.native_frames or []):
        if native_is_go(fn, go_names, go_pkgs):
            break
        if not obj:
            return None                           # cannot tell where it lies
        if same_file(obj, ev.executable):
            exe_frames.append(i)
        elif not any(p.matches(obj) or p.matches(os.path.basename(obj)) for p in system_objfiles):
            return None                           # C code in another shared library
    if not exe_frames:
        return None
    c_fn = ev.native_frames[exe_frames[0]][0]
    return CgoCall(c_frame=exe_frames[0],
                   c_function=c_fn or "an unnamed function in %s" % os.path.basename(ev.executable),
                   exe_frames=exe_frames, wrapper_index=wi, wrapper=wrapper, caller=caller)


def cgo_function(wrapper: GoFrameEv) -> str:
    """'pkg._Cfunc_name' -> 'C.name', the cgo call as the Go source writes it."""
    short = go_short_name(go_full_name(wrapper))
    for p in CGO_CALL_PREFIXES:
        if short.startswith(p):
            return "C." + short[len(p):]
    return short
