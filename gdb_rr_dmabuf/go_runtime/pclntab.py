"""The Go pclntab (Go 1.18+ formats): functions, pc -> function/file/line, pcsp, inline tree.

Layout (runtime/symtab.go, runtime/runtime2.go, internal/abi/symtab.go; debug/gosym reads the same):
- pcHeader: magic u32 (0xfffffff0 = Go 1.18/1.19, 0xfffffff1 = Go 1.20+), pad1, pad2 (0), minLC (pc
  quantum), ptrSize; then pointer-sized nfunc, nfiles, textStart (0 since Go 1.26: use
  moduledata.text), and the offsets from the header of funcnametab, cutab, filetab, pctab and
  pclntable.
- pclntable starts with the functab: nfunc+1 pairs of u32 (entry offset from text start, offset of
  the _func from pclntable); the last pair's entry is the end of the text.
- _func: entryOff u32, nameOff i32, args i32, deferreturn u32, pcsp, pcfile, pcln, npcdata, cuOffset
  (u32 each), [Go 1.20+: startLine i32], funcID u8, flag u8, pad u8, nfuncdata u8, then
  pcdata[npcdata] u32 (offsets into pctab, 0 = none) and funcdata[nfuncdata] u32 (offsets from
  moduledata.gofunc, ~0 = none).
- pc-value tables: pairs of uvarints (zig-zag value delta, pc delta / quantum) starting at the
  function entry with value -1; a zero value delta after the first pair ends the table.
- Inline tree: FUNCDATA_InlTree (3) points to an array of inlinedCall; PCDATA_InlTreeIndex (2) gives
  the index active at a pc. Go 1.20+: {funcID u8, pad[3], nameOff i32, parentPc i32, startLine i32}
  (16 bytes); Go 1.18/1.19: {parent i16, funcID u8, pad u8, file i32, line i32, nameOff i32,
  parentPc i32} (20 bytes). The caller's position is the pc entry+parentPc, looked up again.

What changes with the format or the release is data in layouts.py, read by field name: PCLNTAB_FORMATS (by
magic: _func and inlinedCall), MODULEDATA (word indices of moduledata's fields) and FUNCIDS (by release).

Everything is lazy: the header is checked up front, functions are decoded on demand, a name index is
built on the first lookup(name) only.
"""
from __future__ import annotations

import array
import bisect
from collections import OrderedDict
import struct
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..arch import ARCHES
from ..errors import NOT_GO_PROGRAM, NotGoProgram, UserError
from ..versions import GoVersion
from .layouts import (FUNCIDS, OLD_PCLNTAB_MAGICS, PCLNTAB_FORMATS, PclntabFormat, moduledata_rows, moduledata_word,
                      release_key)

PCDATA_UNSAFE_POINT = 0
PCDATA_STACK_MAP_INDEX = 1
PCDATA_INL_TREE_INDEX = 2
PCDATA_ARG_LIVE_INDEX = 3
FUNCDATA_ARGS_POINTER_MAPS = 0
FUNCDATA_LOCALS_POINTER_MAPS = 1
FUNCDATA_STACK_OBJECTS = 2
FUNCDATA_INL_TREE = 3
FUNCDATA_OPEN_CODED_DEFER_INFO = 4
FUNCDATA_ARG_INFO = 5
FUNCDATA_ARG_LIVE_INFO = 6
FUNCDATA_WRAP_INFO = 7

FUNCFLAG_TOPFRAME = 1
FUNCFLAG_SPWRITE = 2
FUNCFLAG_ASM = 4

# FuncID values differ between Go releases (the enum is iota-numbered and gained/renamed members: the
# tables are layouts.FUNCIDS). Func.func_id and Frame.func_id are normalized to the FUNCID_* numbering below,
# which is the newest release's; raw_func_id keeps the byte from the binary. Names that only exist in older
# releases (runfinq) get values above the current enum.
FUNCID_TABLES: Dict[str, List[str]] = FUNCIDS
_FUNCID_TABLES_NEWEST_FIRST = [FUNCIDS[k] for k in sorted(FUNCIDS, key=GoVersion.parse, reverse=True)]

_CANON: Dict[str, int] = {name: i for i, name in enumerate(_FUNCID_TABLES_NEWEST_FIRST[0])}
_CANON["runfinq"] = 64
FUNCID_NORMAL = _CANON["normal"]
FUNCID_ABORT = _CANON["abort"]
FUNCID_ASMCGOCALL = _CANON["asmcgocall"]
FUNCID_ASYNCPREEMPT = _CANON["asyncPreempt"]
FUNCID_CGOCALLBACK = _CANON["cgocallback"]
FUNCID_COROSTART = _CANON["corostart"]
FUNCID_DEBUGCALLV2 = _CANON["debugCallV2"]
FUNCID_GCBGMARKWORKER = _CANON["gcBgMarkWorker"]
FUNCID_GOEXIT = _CANON["goexit"]
FUNCID_GOGO = _CANON["gogo"]
FUNCID_GOPANIC = _CANON["gopanic"]
FUNCID_HANDLEASYNCEVENT = _CANON["handleAsyncEvent"]
FUNCID_MCALL = _CANON["mcall"]
FUNCID_MORESTACK = _CANON["morestack"]
FUNCID_MSTART = _CANON["mstart"]
FUNCID_PANICWRAP = _CANON["panicwrap"]
FUNCID_RT0_GO = _CANON["rt0_go"]
FUNCID_RUNTIME_MAIN = _CANON["runtime_main"]
FUNCID_RUNFINALIZERS = _CANON["runFinalizers"]
FUNCID_RUNCLEANUPS = _CANON["runCleanups"]
FUNCID_RUNFINQ = _CANON["runfinq"]
FUNCID_SIGPANIC = _CANON["sigpanic"]
FUNCID_SYSTEMSTACK = _CANON["systemstack"]
FUNCID_SYSTEMSTACK_SWITCH = _CANON["systemstack_switch"]
FUNCID_WRAPPER = _CANON["wrapper"]
FUNCID_UNKNOWN = 255  # a raw value outside the release's table

# Name-based fallback: the runtime functions that carry each special FuncID (cmd/internal/objabi
# funcid.go maps "runtime.<name>" to the ID, plus a few assembly spellings).
FUNCID_BY_NAME: Dict[str, int] = {
    "runtime.abort": FUNCID_ABORT, "runtime.asmcgocall": FUNCID_ASMCGOCALL,
    "runtime.asyncPreempt": FUNCID_ASYNCPREEMPT, "runtime.cgocallback": FUNCID_CGOCALLBACK,
    "runtime.corostart": FUNCID_COROSTART, "runtime.debugCallV2": FUNCID_DEBUGCALLV2,
    "runtime.gcBgMarkWorker": FUNCID_GCBGMARKWORKER, "runtime.goexit": FUNCID_GOEXIT,
    "runtime.gogo": FUNCID_GOGO, "runtime.gopanic": FUNCID_GOPANIC,
    "runtime.handleAsyncEvent": FUNCID_HANDLEASYNCEVENT, "runtime.mcall": FUNCID_MCALL,
    "runtime.morestack": FUNCID_MORESTACK, "runtime.mstart": FUNCID_MSTART,
    "runtime.panicwrap": FUNCID_PANICWRAP, "runtime.rt0_go": FUNCID_RT0_GO,
    "runtime.main": FUNCID_RUNTIME_MAIN, "runtime.runFinalizers": FUNCID_RUNFINALIZERS,
    "runtime.runCleanups": FUNCID_RUNCLEANUPS, "runtime.runfinq": FUNCID_RUNFINQ,
    "runtime.sigpanic": FUNCID_SIGPANIC, "runtime.systemstack": FUNCID_SYSTEMSTACK,
    "runtime.systemstack_switch": FUNCID_SYSTEMSTACK_SWITCH,
}

# The pc quantum (pcHeader.minLC) each architecture's Go linker writes: Arch.pc_quantum (arch.py). A
# pclntab whose quantum disagrees with the ELF machine is damaged or belongs to another binary: every
# pc-value table would decode to wrong pcs.
PC_QUANTUM = {a.name: a.pc_quantum for a in ARCHES}

_MAX_INLINE_DEPTH = 256
_MAX_TABLE_STEPS = 1 << 20
_MAX_NAME = 1 << 16


def funcid_table(go_version: Optional[str]) -> Optional[List[str]]:
    """The FuncID names, in value order, used by a Go release; None when the release is unknown."""
    key = release_key(FUNCIDS, go_version)
    return None if key is None else FUNCIDS[key]


def funcid_name(func_id: int) -> str:
    """Name of a normalized FUNCID_* value ('goexit', 'wrapper', ...)."""
    for name, value in _CANON.items():
        if value == func_id:
            return name
    return "unknown"


@dataclass
class Func:
    entry: int
    end: int
    name: str
    func_id: int  # normalized to FUNCID_* (see above)
    flag: int
    args: int
    deferreturn: int
    raw_func_id: int = 0
    start_line: Optional[int] = None  # Go 1.20+
    index: int = 0  # position in the functab
    name_off: int = 0
    pcsp: int = 0
    pcfile: int = 0
    pcln: int = 0
    npcdata: int = 0
    nfuncdata: int = 0
    cu_offset: int = 0
    _off: int = field(default=0, repr=False)  # offset of the _func from the pcHeader

    @property
    def package(self) -> str:
        return split_func_name(self.name)[0]

    @property
    def is_top_frame(self) -> bool:
        return bool(self.flag & FUNCFLAG_TOPFRAME)

    @property
    def is_spwrite(self) -> bool:
        return bool(self.flag & FUNCFLAG_SPWRITE)

    @property
    def is_asm(self) -> bool:
        return bool(self.flag & FUNCFLAG_ASM)


@dataclass
class Frame:
    function: str
    file: Optional[str]
    line: Optional[int]
    inlined: bool
    entry: int  # entry of the physical function holding the code
    pc: int  # the pc frames_at was asked about (same for every frame of one physical frame)
    func_id: int = FUNCID_NORMAL  # normalized FUNCID_* of this (possibly inlined) function
    lookup_pc: int = 0  # the pc whose file:line this frame shows (pc-1, or entry+parentPc)
    start_line: Optional[int] = None


class _BadTable(Exception):
    """A pc-value table that runs off the end of the pctab or has an over-long varint."""


class PcLnTab:
    """A Go pclntab over a buffer (an mmap of the executable, or bytes).

    buf/base_off: the buffer and the offset of the pcHeader in it; size: bytes available from there.
    vaddr: link-time address of the pcHeader; text_start: link-time address of runtime.text (None:
    take it from the header, Go < 1.26). reader: an object with file_view(vaddr, n) to read the
    inline tree (a GoBinary); gofunc: link-time address of go:func.* (or a callable returning it,
    resolved on first need). go_version selects the FuncID table (None: calibrated from known
    runtime functions)."""

    def __init__(self, buf: Any, base_off: int = 0, size: Optional[int] = None, *, vaddr: int = 0,
                 text_start: Optional[int] = None, reader: Any = None, gofunc: Any = None,
                 go_version: Optional[str] = None, name: str = "the program", arch: Optional[str] = None):
        self._b = buf
        self.arch = arch
        self._o = base_off
        self._size = (len(buf) - base_off) if size is None else min(size, len(buf) - base_off)
        self.vaddr = vaddr
        self._reader = reader
        self._gofunc_src = gofunc
        self._gofunc: Optional[int] = None
        self._gofunc_done = False
        self._what = name
        self.go_version = go_version
        self._parse_header(text_start)
        self._funcs: Dict[int, Func] = {}
        self._names: Dict[int, str] = {}
        self._files: Dict[int, Optional[str]] = {}
        self._tables: "OrderedDict[Tuple[int, int], Tuple[List[int], List[int]]]" = OrderedDict()
        self._seen: "OrderedDict[Tuple[int, int], None]" = OrderedDict()
        self._name_index: Optional[Dict[str, int]] = None
        self._dups: Dict[str, List[int]] = {}
        self._funcid_names: Optional[List[str]] = funcid_table(go_version)

    # ------------------------------------------------------------------------------------ header
    def _corrupt(self, why: str) -> UserError:
        return UserError("%s: Go pclntab is corrupt (%s)" % (self._what, why),
                         "point at the exact executable that is running, unmodified")

    def _parse_header(self, text_start: Optional[int]) -> None:
        if self._size < 8:
            raise self._corrupt("truncated header")
        magic_le = struct.unpack_from("<I", self._b, self._o)[0]
        magic_be = struct.unpack_from(">I", self._b, self._o)[0]
        if magic_le in PCLNTAB_FORMATS:
            e, magic = "<", magic_le
        elif magic_be in PCLNTAB_FORMATS:
            e, magic = ">", magic_be
        elif magic_le in OLD_PCLNTAB_MAGICS or magic_be in OLD_PCLNTAB_MAGICS:
            m = magic_le if magic_le in OLD_PCLNTAB_MAGICS else magic_be
            raise UserError("%s was built by Go older than 1.18 (pclntab format of Go %s)"
                            % (self._what, OLD_PCLNTAB_MAGICS[m]), "rebuild it with Go 1.18 or newer")
        else:
            raise self._corrupt("bad magic 0x%08x" % magic_le)
        self._e = e
        self._use_format(magic)
        pad1, pad2, min_lc, ptr_size = struct.unpack_from("4B", self._b, self._o + 4)
        if pad1 or pad2 or min_lc not in (1, 2, 4) or ptr_size not in (4, 8):
            raise self._corrupt("header pad=%d,%d quantum=%d ptrsize=%d" % (pad1, pad2, min_lc, ptr_size))
        want = PC_QUANTUM.get(self.arch or "")
        if want is not None and min_lc != want:
            raise self._corrupt("pc quantum %d in the header, but %s code has quantum %d" % (min_lc, self.arch, want))
        self.quantum = min_lc
        self.ptr_size = ptr_size
        hdr_size = 8 + 8 * ptr_size
        if self._size < hdr_size:
            raise self._corrupt("truncated header")
        words = struct.unpack_from(e + ("Q" if ptr_size == 8 else "I") * 8, self._b, self._o + 8)
        nfunc, nfiles, hdr_text, funcname_off, cu_off, filetab_off, pctab_off, pcln_off = words
        self.nfunc = nfunc
        self.nfiles = nfiles
        self.header_text_start = hdr_text
        if not 0 < nfunc < 1 << 24:
            raise self._corrupt("nfunc=%d" % nfunc)
        if not (hdr_size <= funcname_off <= cu_off <= filetab_off <= pctab_off <= pcln_off < self._size):
            raise self._corrupt("table offsets out of range")
        self._funcname_off = funcname_off
        self._cu_off = cu_off
        self._filetab_off = filetab_off
        self._pctab_off = pctab_off
        self._pcln_off = pcln_off
        ftab_size = (2 * nfunc + 1) * 4
        if pcln_off + ftab_size > self._size:
            raise self._corrupt("function table out of range")
        raw = bytes(self._b[self._o + pcln_off:self._o + pcln_off + ftab_size])
        ftab = array.array("I")
        if ftab.itemsize != 4:  # pragma: no cover - every CPython platform has a 4-byte 'I'
            ftab = array.array("L")
        ftab.frombytes(raw)
        if (e == "<") != (sys.byteorder == "little"):
            ftab.byteswap()
        self._ftab = ftab
        self._entries = ftab[0::2]  # nfunc+1 entry offsets, sorted
        self._funcoffs = ftab[1::2]
        # Sanity: sorted entries (binary search depends on it; checking all of them costs ~1 ms per
        # 50k functions), _func offsets inside the table for a sample.
        as_list = self._entries.tolist()
        if as_list != sorted(as_list):
            raise self._corrupt("function table not sorted")
        for i in range(0, nfunc, max(1, nfunc // 16)):
            if pcln_off + self._funcoffs[i] + self._func_size > self._size:
                raise self._corrupt("function record out of range")
        if text_start is None:
            text_start = hdr_text  # Go 1.18-1.25 store it; 0 from Go 1.26 (the loader finds it)
        self.text_start = text_start
        self.text_end = text_start + self._entries[-1]

    def _use_format(self, magic: int) -> None:
        """The record layouts of the pclntab format with this magic (layouts.PCLNTAB_FORMATS), by field name."""
        self.magic = magic
        self.format: PclntabFormat = PCLNTAB_FORMATS[magic]
        self.version = self.format.go
        self._func_size = self.format.func_size
        self._start_line_at = self.format.func.get("startLine")
        self._funcid_at = self.format.func["funcID"]
        self._flag_at = self.format.func["flag"]
        self._nfuncdata_at = self.format.func["nfuncdata"]

    # ------------------------------------------------------------------------------------ strings
    def _cstring(self, off: int, limit: int) -> Optional[str]:
        """NUL-terminated string at off (relative to the header), not crossing limit."""
        if off < 0 or off >= limit:
            return None
        start = self._o + off
        stop = self._o + min(limit, off + _MAX_NAME)
        end = self._b.find(b"\0", start, stop)
        if end < 0:
            return None
        return bytes(self._b[start:end]).decode("utf-8", "replace")

    def func_name_at(self, name_off: int) -> str:
        """The function name at an offset into funcnametab ('' when out of range)."""
        s = self._names.get(name_off)
        if s is None:
            s = self._cstring(self._funcname_off + name_off, self._cu_off) or ""
            if len(self._names) > 1 << 18:
                self._names.clear()
            self._names[name_off] = s
        return s

    def _file_name(self, cu_offset: int, fileno: int) -> Optional[str]:
        key = cu_offset + fileno
        if key in self._files:
            return self._files[key]
        res: Optional[str] = None
        pos = self._cu_off + 4 * key
        if fileno >= 0 and pos + 4 <= self._filetab_off:
            foff = struct.unpack_from(self._e + "I", self._b, self._o + pos)[0]
            if foff != 0xFFFFFFFF:
                res = self._cstring(self._filetab_off + foff, self._pctab_off)
        self._files[key] = res
        return res

    # ------------------------------------------------------------------------------------ funcs
    def func_at_index(self, i: int) -> Func:
        f = self._funcs.get(i)
        if f is not None:
            return f
        if not 0 <= i < self.nfunc:
            raise IndexError(i)
        off = self._pcln_off + self._funcoffs[i]
        if off + self._func_size > self._size:
            raise self._corrupt("function record %d out of range" % i)
        e = self._e
        b = self._b
        p = self._o + off
        entry_off, name_off, args, deferreturn, pcsp, pcfile, pcln, npcdata, cu_offset = \
            struct.unpack_from(e + "IiiIIIIII", b, p)
        at = self._start_line_at
        start_line: Optional[int] = None if at is None else struct.unpack_from(e + "i", b, p + at)[0]
        raw_id, flag, nfuncdata = b[p + self._funcid_at], b[p + self._flag_at], b[p + self._nfuncdata_at]
        name = self.func_name_at(name_off)
        f = Func(entry=self.text_start + entry_off, end=self.text_start + self._entries[i + 1], name=name,
                 func_id=self._normalize_funcid(raw_id, name), flag=flag, args=args, deferreturn=deferreturn,
                 raw_func_id=raw_id, start_line=start_line, index=i, name_off=name_off, pcsp=pcsp,
                 pcfile=pcfile, pcln=pcln, npcdata=npcdata, nfuncdata=nfuncdata, cu_offset=cu_offset, _off=off)
        if len(self._funcs) > 1 << 16:
            self._funcs.clear()
        self._funcs[i] = f
        return f

    def func_for_pc(self, pc: int) -> Optional[Func]:
        """The function whose code holds pc (a link-time address), or None."""
        off = pc - self.text_start
        if off < 0 or pc >= self.text_end:
            return None
        i = bisect.bisect_right(self._entries, off) - 1
        if i < 0 or i >= self.nfunc:
            return None
        return self.func_at_index(i)

    def funcs(self):
        """Iterate over all functions in address order (decodes each one: use sparingly)."""
        for i in range(self.nfunc):
            yield self.func_at_index(i)

    def entry_of_index(self, i: int) -> int:
        return self.text_start + self._entries[i]

    def lookup(self, name: str) -> Optional[Func]:
        """The function with this exact symbol name, or None. When several functions share the name
        (ABI wrappers of assembly functions), the first one that is not a wrapper wins."""
        idx = self._name_index
        if idx is None:
            idx = {}
            dups: Dict[str, List[int]] = {}
            e = self._e + "i"
            b = self._b
            base = self._o + self._pcln_off + 4
            offs = self._funcoffs
            limit = self._size - self._pcln_off - 8
            for i in range(self.nfunc):
                fo = offs[i]
                if fo > limit:
                    continue
                n = self.func_name_at(struct.unpack_from(e, b, base + fo)[0])
                if n in idx:
                    dups.setdefault(n, [idx[n]]).append(i)
                else:
                    idx[n] = i
            self._names.clear()  # the index holds the names now; keep memory flat
            self._dups = dups
            self._name_index = idx
        i = idx.get(name)
        if i is None:
            return None
        many = self._dups.get(name)
        if many:
            for j in many:
                f = self.func_at_index(j)
                if f.func_id != FUNCID_WRAPPER:
                    return f
        return self.func_at_index(i)

    def names(self) -> List[str]:
        """All distinct function names (builds the name index)."""
        self.lookup("")
        return list(self._name_index or ())

    # ------------------------------------------------------------------------------------ funcid
    def _normalize_funcid(self, raw: int, name: str) -> int:
        if raw == 0:
            return FUNCID_NORMAL
        table = self._funcid_names
        if table is None:
            table = self._funcid_names = self._calibrate_funcids()
        if table is not None and raw < len(table):
            return _CANON[table[raw]]
        by_name = FUNCID_BY_NAME.get(name)
        return by_name if by_name is not None else FUNCID_UNKNOWN

    def _calibrate_funcids(self) -> Optional[List[str]]:
        """Pick the FuncID table whose values match the runtime functions present in the binary."""
        probes = ("runtime.goexit", "runtime.sigpanic", "runtime.mstart", "runtime.systemstack")
        raws = {}
        saved = self._funcid_names
        self._funcid_names = _FUNCID_TABLES_NEWEST_FIRST[0]  # avoid recursion while decoding the probes
        try:
            for p in probes:
                f = self.lookup(p)
                if f is not None:
                    raws[p.split(".", 1)[1]] = f.raw_func_id
        finally:
            self._funcid_names = saved
        # lookup() cached Func objects normalized with a guessed table: drop them.
        self._funcs.clear()
        for table in _FUNCID_TABLES_NEWEST_FIRST:
            if raws and all(v < len(table) and table[v] == k for k, v in raws.items()):
                return table
        return None

    # ------------------------------------------------------------------------------------ pc tables
    def _steps(self, off: int, entry: int) -> Iterator[Tuple[int, int]]:
        """Walk the pc-value table at pctab+off of the function at entry: yield (end_pc, value) for
        each run, value holding for pcs below end_pc. Raises _BadTable when it runs off the table or
        a varint is too long."""
        b = self._b
        pos = self._o + self._pctab_off + off
        end = self._o + self._pcln_off
        pc = entry
        val = -1
        q = self.quantum
        # A table that runs past the end of the text, or longer than any function can need, is damaged
        # (each run covers at least one instruction): the walk stays bounded whatever the bytes say.
        last = max(self.text_end, entry)
        steps = 0
        try:
            while pos < end:
                steps += 1
                if steps > _MAX_TABLE_STEPS or pc > last:
                    raise _BadTable()
                x = b[pos]
                pos += 1
                if x == 0 and pc != entry:
                    return
                uv = x & 0x7F
                shift = 7
                while x & 0x80:
                    x = b[pos]
                    pos += 1
                    uv |= (x & 0x7F) << shift
                    shift += 7
                    if shift > 35:
                        raise _BadTable()
                val += ~(uv >> 1) if uv & 1 else uv >> 1
                x = b[pos]
                pos += 1
                pd = x & 0x7F
                shift = 7
                while x & 0x80:
                    x = b[pos]
                    pos += 1
                    pd |= (x & 0x7F) << shift
                    shift += 7
                    if shift > 35:
                        raise _BadTable()
                pc += pd * q
                yield pc, val
        except IndexError:
            raise _BadTable()

    def _decode_table(self, off: int, entry: int) -> Tuple[List[int], List[int]]:
        """Decode a whole pc-value table: (ends, values), value[i] holds for pcs below ends[i] (and at
        or above ends[i-1]). Cached (bounded LRU): unwinding hits the same functions again and again."""
        key = (off, entry)
        cache = self._tables
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
        ends: List[int] = []
        vals: List[int] = []
        try:
            for pc, val in self._steps(off, entry):
                ends.append(pc)
                vals.append(val)
        except _BadTable:
            ends, vals = [], []  # runs off the table: treat as absent
        res = (ends, vals)
        cache[key] = res
        if len(cache) > 2048:
            cache.popitem(last=False)
        return res

    def _pcvalue(self, off: int, entry: int, target: int) -> int:
        """Value of the pc-value table at pctab+off for target (-1 when absent or not covered).

        The first query of a table scans it up to target, like the runtime; a table asked about
        again is decoded whole and cached, so unwinding many stacks through the same functions
        costs a binary search."""
        if off == 0 or self._pctab_off + off >= self._pcln_off:
            return -1
        key = (off, entry)
        if key in self._tables or key in self._seen:
            ends, vals = self._decode_table(off, entry)
            i = bisect.bisect_right(ends, target)
            return vals[i] if i < len(vals) else -1
        self._seen[key] = None
        if len(self._seen) > 4096:
            self._seen.popitem(last=False)
        try:
            for pc, val in self._steps(off, entry):
                if target < pc:
                    return val
        except _BadTable:
            return -1
        return -1

    def file_line(self, f: Func, pc: int) -> Tuple[Optional[str], Optional[int]]:
        """Source file and line of pc inside f, as the pcfile/pcln tables say; (None, None) if unknown."""
        fileno = self._pcvalue(f.pcfile, f.entry, pc)
        line = self._pcvalue(f.pcln, f.entry, pc)
        if fileno < 0 or line < 0:
            return None, None
        return self._file_name(f.cu_offset, fileno), line

    def sp_delta(self, f: Func, pc: int) -> Optional[int]:
        """Frame size in bytes at pc (the pcsp table), None when the table has no value."""
        v = self._pcvalue(f.pcsp, f.entry, pc)
        return None if v < 0 else v

    def max_sp_delta(self, f: Func) -> int:
        """Largest pcsp value anywhere in f (0 without a table)."""
        if f.pcsp == 0 or self._pctab_off + f.pcsp >= self._pcln_off:
            return 0
        _ends, vals = self._decode_table(f.pcsp, f.entry)
        return max([0] + vals)

    def pc_ranges(self, f: Func, table_off: int) -> List[Tuple[int, int, int]]:
        """[(start, end, value)] of a pc-value table (f.pcsp, f.pcfile, f.pcln or a pcdata offset)."""
        if table_off == 0 or self._pctab_off + table_off >= self._pcln_off:
            return []
        ends, vals = self._decode_table(table_off, f.entry)
        out = []
        start = f.entry
        for e, v in zip(ends, vals):
            out.append((start, e, v))
            start = e
        return out

    def pcdata_value(self, f: Func, table: int, pc: int) -> int:
        """PCDATA table value at pc (-1 when the function has no such table)."""
        if table < 0 or table >= f.npcdata:
            return -1
        pos = f._off + self._func_size + 4 * table
        if pos + 4 > self._size:
            return -1
        off = struct.unpack_from(self._e + "I", self._b, self._o + pos)[0]
        return self._pcvalue(off, f.entry, pc)

    def funcdata_offset(self, f: Func, i: int) -> Optional[int]:
        """The i-th funcdata as an offset from go:func.* (None when absent)."""
        if i < 0 or i >= f.nfuncdata:
            return None
        pos = f._off + self._func_size + 4 * f.npcdata + 4 * i
        if pos + 4 > self._size:
            return None
        off = struct.unpack_from(self._e + "I", self._b, self._o + pos)[0]
        return None if off == 0xFFFFFFFF else off

    @property
    def funcnametab_addr(self) -> int:
        return self.vaddr + self._funcname_off

    @property
    def gofunc(self) -> Optional[int]:
        """Link-time address of go:func.* (base of funcdata), None when unknown."""
        if not self._gofunc_done:
            self._gofunc_done = True
            src = self._gofunc_src
            try:
                self._gofunc = src() if callable(src) else src
            except UserError:
                self._gofunc = None
        return self._gofunc

    def funcdata_addr(self, f: Func, i: int) -> Optional[int]:
        off = self.funcdata_offset(f, i)
        base = self.gofunc
        if off is None or base is None:
            return None
        return base + off

    @property
    def inline_supported(self) -> bool:
        """Whether inline trees can be read (needs go:func.* and the file's data)."""
        return self._reader is not None and self.gofunc is not None

    def _inlined_call(self, tree: int, idx: int) -> Optional[Tuple[int, int, int, Optional[int]]]:
        """(raw funcID, nameOff, parentPc, startLine) of inline tree entry idx."""
        if self._reader is None or idx < 0:
            return None
        size, at = self.format.inlined_call_size, self.format.inlined_call
        v = self._reader.file_view(tree + size * idx, size)
        if v is None:
            return None
        i32 = self._e + "i"
        start_line = struct.unpack_from(i32, v, at["startLine"])[0] if "startLine" in at else None
        return (v[at["funcID"]], struct.unpack_from(i32, v, at["nameOff"])[0],
                struct.unpack_from(i32, v, at["parentPc"])[0], start_line)

    def frames_at(self, pc: int, is_return_address: bool = True) -> List[Frame]:
        """Logical frames at pc, innermost first: inlined calls (inlined=True), then the physical
        function. For a return address the call instruction (pc-1) is looked up, as Go does.
        [] when pc is not in Go code."""
        lookup_pc = pc - 1 if is_return_address else pc
        f = self.func_for_pc(lookup_pc)
        if f is None:
            return []
        frames: List[Frame] = []
        cur = lookup_pc
        tree = self.funcdata_addr(f, FUNCDATA_INL_TREE) if self._reader is not None else None
        if tree is not None:
            idx = self.pcdata_value(f, PCDATA_INL_TREE_INDEX, cur)
            seen = set()
            while idx >= 0 and len(frames) < _MAX_INLINE_DEPTH and idx not in seen:
                seen.add(idx)
                ic = self._inlined_call(tree, idx)
                if ic is None:
                    break
                raw_id, name_off, parent_pc, start_line = ic
                name = self.func_name_at(name_off)
                file, line = self.file_line(f, cur)
                frames.append(Frame(function=name, file=file, line=line, inlined=True, entry=f.entry, pc=pc,
                                    func_id=self._normalize_funcid(raw_id, name), lookup_pc=cur,
                                    start_line=start_line))
                nxt = f.entry + parent_pc
                if not f.entry <= nxt < f.end:
                    break
                cur = nxt
                idx = self.pcdata_value(f, PCDATA_INL_TREE_INDEX, cur)
        file, line = self.file_line(f, cur)
        frames.append(Frame(function=f.name, file=file, line=line, inlined=False, entry=f.entry, pc=pc,
                            func_id=f.func_id, lookup_pc=cur, start_line=f.start_line))
        return frames


def split_func_name(name: str) -> Tuple[str, str]:
    """('package path', 'rest') of a Go symbol name, like debug/gosym's PackageName.

    'gioui.org/app.(*window).NewContext' -> ('gioui.org/app', '(*window).NewContext');
    'main.main' -> ('main', 'main'); 'pkg.F[...].func1' -> ('pkg', 'F[...].func1'). Compiler-made
    symbols ('type:.eq.T', 'go:buildid', 'type..eq.T' before 1.20) have no package: ('', name).
    The linker escapes '.' (and a few other bytes) in the last path element as %xx; the package
    path returned is unescaped ('gopkg.in/yaml%2ev3' -> 'gopkg.in/yaml.v3')."""
    if not name:
        return "", ""
    plain = name
    start = name.find("[")
    if start >= 0:
        end = name.rfind("]")
        if end > start:
            plain = name[:start] + name[end + 1:]
    if plain.startswith(("go:", "type:", "go.", "type.")):
        return "", name
    pathend = plain.rfind("/")
    if pathend < 0:
        pathend = 0
    dot = plain.find(".", pathend)
    if dot < 0:
        return "", name
    # The package part contains no brackets (they come after it), so the index applies to name too.
    pkg = name[:dot]
    rest = name[dot + 1:]
    if "%" in pkg:
        pkg = _unescape_path(pkg)
    return pkg, rest


def _unescape_path(s: str) -> str:
    out = bytearray()
    raw = s.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25 and i + 2 < len(raw) + 0 and _ishex(raw[i + 1:i + 3]):
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "replace")


def _ishex(b: bytes) -> bool:
    return len(b) == 2 and all(ch in b"0123456789abcdefABCDEF" for ch in b)


# ---------------------------------------------------------------------------------------- loading
def _no_pclntab(binary) -> UserError:
    import os
    name = os.path.basename(binary.path)
    try:
        bi = binary.buildinfo
    except Exception:  # the build info is only a better message here
        bi = None
    if bi is not None and bi.go_version:
        return UserError("%s was built by %s but its Go pclntab is missing or damaged" % (name, bi.go_version),
                         "point gdb at the unmodified executable that runs (`file PATH`)")
    return NotGoProgram("%s has no Go pclntab" % name,
                        "this is %s built by the gc toolchain; go-callers needs one" % NOT_GO_PROGRAM)


def _header_ok(buf: Any, off: int, avail: int, e: str = "<", quantum: Optional[int] = None) -> bool:
    """Cheap plausibility check of a pcHeader candidate (magic already matched)."""
    if avail < 72:
        return False
    pad1, pad2, min_lc, ptr_size = struct.unpack_from("4B", buf, off + 4)
    if pad1 or pad2 or min_lc not in (1, 2, 4) or ptr_size not in (4, 8):
        return False
    if quantum is not None and min_lc != quantum:
        return False
    fmt = e + ("Q" if ptr_size == 8 else "I") * 8
    nfunc, _nfiles, _text, a, b, c, d, e = struct.unpack_from(fmt, buf, off + 8)
    hdr = 8 + 8 * ptr_size
    return 0 < nfunc < 1 << 24 and hdr <= a <= b <= c <= d <= e < avail and e + (2 * nfunc + 1) * 4 <= avail


def locate_pclntab(binary, use_sections: bool = True, use_symbols: bool = True) -> Tuple[int, int]:
    """(link-time address of the pcHeader, bytes available from there): the .gopclntab section, else
    runtime.pcheader/runtime.firstmoduledata symbols, else a bounded scan of read-only data for a
    plausible header. The flags turn sources off (tests use them to exercise the fallbacks)."""
    for secname in (".gopclntab", ".data.rel.ro.gopclntab"):
        s = binary.section(secname) if use_sections else None
        if s is not None and not s.nobits and s.size:
            return s.addr, s.size
    for symname in ("runtime.pcheader", "runtime.pclntab"):
        addr = binary.symbol(symname) if use_symbols else None
        if addr:
            end = binary.symbol("runtime.epclntab")
            avail = binary.file_backed_extent(addr)
            if end and addr < end <= addr + avail:
                avail = end - addr
            if avail:
                return addr, avail
    md = binary.symbol("runtime.firstmoduledata") if use_symbols else None
    if md:
        try:
            addr = binary.read_ptr_static(md)
        except UserError:
            addr = 0
        avail = binary.file_backed_extent(addr) if addr else 0
        if avail:
            return addr, avail
    # Bounded scan of the read-only data (and .data.rel.ro, where PIE links put it).
    magics = [struct.pack(binary._end + "I", f.magic)
              for f in sorted(PCLNTAB_FORMATS.values(), key=lambda f: GoVersion.parse(f.go), reverse=True)]
    regions = [s for s in binary.readonly_data_sections()]
    regions += [s for s in binary.writable_sections() if s.name.startswith(".data.rel.ro")]
    budget = 1 << 30
    buf = binary._map
    for s in regions:
        if budget <= 0:
            break
        budget -= s.size
        for magic in magics:
            pos = buf.find(magic, s.offset, s.offset + s.size)
            guard = 0
            while pos >= 0 and guard < 100000:
                guard += 1
                if (pos - s.offset) % 4 == 0 and _header_ok(buf, pos, s.offset + s.size - pos, binary._end,
                                                            PC_QUANTUM.get(binary.arch)):
                    return s.addr + (pos - s.offset), s.size - (pos - s.offset)
                pos = buf.find(magic, pos + 1, s.offset + s.size)
    raise _no_pclntab(binary)


class ModuleData:
    """The fields of runtime.firstmoduledata we use, found without symbols when needed."""

    def __init__(self, binary, addr: int):
        self.binary = binary
        self.addr = addr
        self.p = binary.ptr_size

    def word(self, index: int) -> Optional[int]:
        try:
            return self.binary.read_ptr_static(self.addr + index * self.p)
        except UserError:
            return None

    @property
    def text(self) -> Optional[int]:
        return self.word(moduledata_word("text"))

    @property
    def minpc(self) -> Optional[int]:
        return self.word(moduledata_word("minpc"))

    def gofunc(self, magic: int, go_version: Optional[str]) -> Optional[int]:
        """go:func.*, from the moduledata layout of the release (layouts.MODULEDATA; each layout of the
        pclntab's format in turn when the release is unknown), checked against rodata before it."""
        for row in moduledata_rows(magic, go_version):
            rodata = self.word(row["rodata"])
            gofunc = self.word(row["gofunc"])
            if rodata is None or gofunc is None:
                continue
            if (self.binary.section_at(rodata) is not None and rodata <= gofunc
                    and self.binary.file_backed_extent(gofunc) > 0):
                return gofunc
        return None


def find_moduledata(binary, pchdr: int, funcnametab: int, use_symbols: bool = True) -> Optional[ModuleData]:
    """runtime.firstmoduledata: by symbol, else the pointer-aligned word in writable data (or the
    RELATIVE relocation) holding the pcHeader address, confirmed by the funcnametab pointer after it."""
    addr = binary.symbol("runtime.firstmoduledata") if use_symbols else None
    if addr:
        return ModuleData(binary, addr)
    p = binary.ptr_size
    at_pchdr, at_names = moduledata_word("pcHeader") * p, moduledata_word("funcnametab") * p
    want = struct.pack(binary._ptrfmt, pchdr)
    buf = binary._map
    cands: List[int] = []
    for s in binary.writable_sections():
        pos = buf.find(want, s.offset, s.offset + s.size)
        guard = 0
        while pos >= 0 and guard < 10000:
            guard += 1
            if (pos - s.offset) % p == 0:
                cands.append(s.addr + pos - s.offset - at_pchdr)
            pos = buf.find(want, pos + 1, s.offset + s.size)
    relocs = binary.relocations()
    if relocs:
        cands += [a - at_pchdr for a, v in relocs.items() if v == pchdr]
    for a in cands:
        try:
            if binary.read_ptr_static(a + at_names) == funcnametab:
                return ModuleData(binary, a)
        except UserError:
            continue
    return None


def load_pclntab(binary, use_sections: bool = True, use_symbols: bool = True) -> PcLnTab:
    """Find and open the pclntab of a GoBinary (section, symbols, moduledata, or a bounded scan).
    The flags turn sources off (tests use them to exercise the fallbacks)."""
    import os
    what = os.path.basename(binary.path)
    addr, avail = locate_pclntab(binary, use_sections, use_symbols)
    off = binary._file_offset(addr, 8)
    if off is None:
        raise _no_pclntab(binary)
    avail = min(avail, binary.file_backed_extent(addr) or avail, len(binary._map) - off)
    go_version = binary.go_version
    # A first parse with the header's text start (0 from Go 1.26): validates the header.
    probe = PcLnTab(binary._map, off, avail, vaddr=addr, text_start=0, reader=binary,
                    go_version=go_version, name=what, arch=binary.arch)
    if probe.ptr_size != binary.ptr_size:
        raise probe._corrupt("pointer size %d in the header, but the ELF file is %d-bit"
                             % (probe.ptr_size, 8 * binary.ptr_size))
    hdr_text = 0
    if probe.header_text_start:
        hdr_text = binary.relocations().get(addr + 8 + 2 * probe.ptr_size, probe.header_text_start)
    moddata: List[Optional[ModuleData]] = []

    def moduledata() -> Optional[ModuleData]:
        if not moddata:
            moddata.append(find_moduledata(binary, addr, addr + probe._funcname_off, use_symbols))
        return moddata[0]

    text = hdr_text or (binary.symbol("runtime.text") if use_symbols else 0) or 0
    if not text:
        md = moduledata()
        text = (md.text if md is not None else None) or 0
    if not text:
        raise UserError("%s: cannot find the start of the Go text (no runtime.text, no moduledata)" % what,
                        "use an executable with its symbol table")
    first_entry = text + probe._entries[0]
    if not binary.is_text(first_entry) and binary.section_at(first_entry) is not None:
        raise UserError("%s: Go pclntab is corrupt (text start 0x%x is not code)" % (what, text),
                        "point at the exact executable that is running, unmodified")

    def gofunc() -> Optional[int]:
        for sym in ("go:func.*", "go.func.*"):
            a = binary.symbol(sym) if use_symbols else None
            if a:
                return a
        md = moduledata()
        return md.gofunc(probe.magic, go_version) if md is not None else None

    return PcLnTab(binary._map, off, avail, vaddr=addr, text_start=text, reader=binary, gofunc=gofunc,
                   go_version=go_version, name=what, arch=binary.arch)
