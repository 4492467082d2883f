"""Fuzz: damaged core files (real cores of the demo written by gdb at rr's stop, tests/support/cores.py)
and damaged memory behind the Target seam (garbage g, m, TLS and stack contents, wrong registers) fed
to the analyses both commands run. Property (tests/support/fuzz.py): a result or one clear UserError
line within the cap. Plus the size check: opening a damaged core costs the same whatever its size.

"detected" counts inputs where the code noticed: a UserError, or a result carrying a warning (from
CoreTarget or from go-callers' checks). "changed quietly" counts answers (thread, registers, ioctl,
goroutine id, caller, frames) that differ from the intact core's with no warning: plausible forgeries.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given, strategies as st

from gdb_rr_dmabuf import callers, evidence, render, why
from gdb_rr_dmabuf.errors import TargetReadError, UserError
from gdb_rr_dmabuf.target import Target
from gdb_rr_dmabuf.target_core import CoreTarget
from tests.support import fuzz
from tests.support.cores import EXPORT_SYNC_FILE_EXIT, make_core
from tests.support.fuzz import check, settings_for
from tests.support.toolchains import build_go

NT_FILE = 0x46494C45


from tests.support.fuzz import figures_saved_after_module  # noqa: E402,F401  (writes the figures)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("GDB_RR_DMABUF_RULES", raising=False)
    monkeypatch.setenv(evidence.ENV_RR_VERSION, "5.8.0")  # no `rr --version` lookups


def sparse_copy(src: Path, dst: Path, limit: Optional[int] = None) -> None:
    """Copy the first `limit` bytes (all by default) of a sparse file, keeping its holes."""
    size = src.stat().st_size if limit is None else min(limit, src.stat().st_size)
    with open(str(src), "rb") as f, open(str(dst), "wb") as out:
        fd = f.fileno()
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            if data >= size:
                break
            hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
            f.seek(data)
            out.seek(data)
            left = hole - data
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                out.write(chunk)
                left -= len(chunk)
            pos = hole
        out.truncate(size)


class CoreBase:
    """An intact core: path, executable, the byte regions worth damaging, the intact answers."""

    def __init__(self, exe: Path, core: Path):
        self.exe = str(exe)
        self.core = core
        with open(str(core), "rb") as f:
            head = f.read(1 << 16)
        phoff = struct.unpack_from("<Q", head, 32)[0]
        phnum = struct.unpack_from("<H", head, 56)[0]
        self.regions: Dict[str, Tuple[int, int]] = {"elf header": (0, 64), "program headers": (phoff, phnum * 56)}
        self.fields: List[int] = []  # offsets of 8-byte count/size fields worth setting to extremes
        for i in range(phnum):
            p_type, _f, off, _va, _pa, filesz = struct.unpack_from("<IIQQQQ", head, phoff + i * 56)
            self.fields += [phoff + i * 56 + 8, phoff + i * 56 + 32, phoff + i * 56 + 40]
            if p_type == 4:
                self.regions["notes"] = (off, filesz)
                pos, end = off, off + filesz
                while pos + 12 <= end:
                    namesz, descsz, ntype = struct.unpack_from("<III", head, pos)
                    desc = pos + 12 + ((namesz + 3) & ~3)
                    self.fields += [pos, pos + 4]
                    if ntype == NT_FILE:
                        self.regions["NT_FILE"] = (desc, descsz)
                        self.fields += [desc, desc + 8, desc + 16, desc + 24, desc + 32]
                    elif ntype == 1:
                        self.regions.setdefault("NT_PRSTATUS", (desc, descsz))
                    pos = desc + ((descsz + 3) & ~3)
        self.head_end = max(o + n for o, n in self.regions.values())
        t = CoreTarget(str(core), executable=self.exe)
        self.thread = ioctl_thread(t)
        self.answer = summary(t, full=True)
        t.close()


def ioctl_thread(t: CoreTarget) -> Optional[int]:
    for th in t.threads:
        if th.regs.get("orig_rax") == 16 and th.regs.get("rsi") == 0xC0086202:
            return th.tid
    return None


def summary(t: Target, full: bool, thread: Optional[int] = None) -> Tuple[Tuple, bool]:
    """(what the commands would answer, whether anything warned), after rendering it all."""
    warned = bool(getattr(t, "warnings", None))
    if thread is not None and isinstance(t, CoreTarget):
        try:
            t.select_thread(thread)
        except UserError:
            warned = True
    regs = t.registers()
    out: List[Any] = [t.tid, regs.get("rip"), regs.get("rsp"), tuple(sorted(t.auxv().items()))[:4]]
    try:
        rep = why.analyse_thread(t)
        json.dumps(why.report_json(rep))
        render.why_text(rep, render.Style(False))
        out += [rep.request, rep.result, rep.fd]
    except UserError as e:
        out.append(e.what)
    if full:
        _w, rep, sugg, notes = evidence.analyse(t, want_why=False, want_callers=True)
        rep.suggestions = sugg
        json.dumps(callers.report_json(rep))
        render.callers_text(rep, render.Style(False))
        warned = warned or bool(rep.warnings) or rep.kind == "unknown"
        g = rep.goroutine
        out += [rep.kind, g.goid if g is not None else None, rep.caller.function if rep.caller else None,
                tuple(f.function for f in rep.go)]
    return tuple(out), warned


_BASE: List[CoreBase] = []


def base() -> CoreBase:
    if not _BASE:
        exe = build_go("demo")
        core, _out = make_core(exe, EXPORT_SYNC_FILE_EXIT, env={"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"})
        _BASE.append(CoreBase(exe, core))
    return _BASE[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzzcore")
    b = base()
    sparse_copy(b.core, d / "core")
    return d


def _run_core(work: Path, muts, full: bool) -> None:
    b = base()
    path = work / "core"
    cuts = [m for m in muts if m[0] == "cut"]
    saved: List[Tuple[int, bytes]] = []
    if cuts:
        path = work / "cut"
        sparse_copy(b.core, path, min(m[1] for m in cuts))
        muts = [m for m in muts if m[0] != "cut"]
    size = path.stat().st_size
    with open(str(path), "r+b") as f:  # in place, restored afterwards
        for kind, off, v in muts:
            if off >= size:
                continue
            f.seek(off)
            old = f.read(8)
            saved.append((off, old))
            f.seek(off)
            f.write(fuzz.apply(old, [(kind, 0, v)])[:len(old)])

    def run():
        t = CoreTarget(str(path), executable=b.exe)
        try:
            return summary(t, full, b.thread)
        finally:
            t.close()

    try:
        out = check("cores", run, what=str(muts)[:200], warned=lambda r: r[1])
    finally:
        with open(str(path), "r+b") as f:
            for off, old in reversed(saved):
                f.seek(off)
                f.write(old)
    if out.kind == "result" and not out.value[1] and out.value[0] != (b.answer[0] if full else b.answer[0][:len(out.value[0])]):
        fuzz.note_changed_quietly("cores")


@settings_for(500)
@given(data=st.data())
def test_core_headers_and_notes(work, data):
    b = base()
    regions = list(b.regions.values()) + [(o, 8) for o in b.fields]
    muts = data.draw(fuzz.mutations(regions, max_ops=3))
    _run_core(work, muts, full=data.draw(st.integers(0, 9)) == 0)


def test_cores_measured_in_issue(work):
    """The core damage measured in issue 9: cut program headers and notes, PT_LOAD past the end, an
    unknown e_machine, NT_FILE's count 0x7fffffffffff, PN_XNUM without section headers."""
    b = base()
    phoff = b.regions["program headers"][0]
    nt_file = b.regions["NT_FILE"][0]
    notes_off, notes_size = b.regions["notes"]
    cases = [
        [("int", 18, (2, 0x1234))],                     # e_machine unknown
        [("int", 18, (2, 3))],                          # i386
        [("int", 56, (2, 0xFFFF))],                     # PN_XNUM, no section headers
        [("int", 54, (2, 8))],                          # phentsize too small
        [("int", 32, (8, (1 << 63) + 1))],              # e_phoff near 2**63
        [("cut", phoff + 30, 0)],                       # program headers cut off
        [("cut", notes_off + notes_size // 2, 0)],      # notes cut off
        [("cut", b.head_end + 4096, 0)],                # every PT_LOAD past the end
        [("int", nt_file, (8, 0x7FFFFFFFFFFF))],        # NT_FILE count
        [("int", nt_file + 8, (8, (1 << 64) - 1))],     # NT_FILE page size
        [("int", nt_file + 16 + 16, (8, (1 << 63) + 7))],  # a file's page offset
    ]
    for i in range(0, b.regions["program headers"][1], 56):  # each PT_LOAD offset past the file
        cases.append([("int", phoff + i + 8, (8, 1 << 40))])
    for muts in cases:
        _run_core(work, muts, full=True)


class GarbageTarget(Target):
    """A real core's thread whose memory lies: reads overlapping the chosen ranges (or, with
    rate > 0, any read) come back as random bytes, zeros, flipped bits or an unreadable error,
    decided by a seed; registers may be overridden."""

    def __init__(self, t: CoreTarget, seed: int, ranges: List[Tuple[int, int]], rate: float, how: str,
                 regs: Dict[str, int]):
        self.t = t
        self.seed = seed
        self.ranges = ranges
        self.rate = rate
        self.how = how
        self.regs = dict(t.registers(), **regs)
        for k in ("arch", "tid", "pid", "executable", "kind"):
            setattr(self, k, getattr(t, k))

    def registers(self):
        return dict(self.regs)

    def auxv(self):
        return self.t.auxv()

    def read(self, addr: int, size: int) -> bytes:
        hit = any(lo < addr + size and addr < hi for lo, hi in self.ranges)
        h = int.from_bytes(hashlib.blake2b(b"%d:%d:%d" % (self.seed, addr, size), digest_size=8).digest(), "little")
        if not hit and (h % 10000) >= self.rate * 10000:
            return self.t.read(addr, size)
        r = random.Random(h)
        how = self.how if self.how != "mixed" else r.choice(["random", "zero", "flip", "unreadable", "ones"])
        if how == "unreadable":
            raise TargetReadError(addr, size, "fuzz")
        if how == "zero":
            return b"\0" * size
        if how == "ones":
            return b"\xff" * size
        if how == "random":
            return bytes(r.getrandbits(8) for _ in range(min(size, 1 << 16))) + b"\0" * max(0, size - (1 << 16))
        data = bytearray(self.t.read(addr, size))
        for _ in range(1 + size // 64):
            i = r.randrange(size) if size else 0
            if size:
                data[i] ^= 1 << r.randrange(8)
        return bytes(data)


_INTACT: Dict[str, Any] = {}


def intact():
    if not _INTACT:
        b = base()
        t = CoreTarget(str(b.core), executable=b.exe)
        t.select_thread(b.thread)
        rep = callers.analyse_callers(t)
        g = rep.goroutine
        regs = t.registers()
        _INTACT.update(t=t, rep=rep, regs=regs, ranges={
            "g": [(g.addr, g.addr + 0x200)],
            "goroutine stack": [(g.stack_lo, g.stack_hi)],
            "system stack": [(regs["rsp"] - 0x100, regs["rsp"] + 0x4000)],
            "tls": [(regs["fs_base"] - 0x100, regs["fs_base"] + 0x100)],
            "all": [],
        })
    return _INTACT


REG_NAMES = ("rip", "rsp", "rbp", "fs_base", "r14", "orig_rax", "rsi", "rdx")


@settings_for(600)
@given(seed=st.integers(0, 1 << 30), where=st.sampled_from(["g", "goroutine stack", "system stack", "tls", "all"]),
       rate=st.sampled_from([0.0, 0.01, 0.1, 0.5]), how=st.sampled_from(["random", "zero", "flip", "unreadable",
                                                                         "ones", "mixed"]),
       regs=st.dictionaries(st.sampled_from(REG_NAMES), st.one_of(st.sampled_from(fuzz.EXTREMES),
                                                                  st.integers(0, (1 << 64) - 1)), max_size=2))
def test_memory_images(seed, where, rate, how, regs):
    """Garbage g, m, TLS and stack contents, and wrong registers, through the Target seam into both
    analyses (the pure functions go-callers and dmabuf-why use), rendered as text and JSON."""
    it = intact()
    ranges = it["ranges"][where]
    if where == "all" and rate == 0.0:
        rate = 0.05
    t = GarbageTarget(it["t"], seed, ranges, rate, how, regs)
    if "want" not in it:
        it["want"] = summary(it["t"], True)[0]
    want = it["want"]

    def run():
        return summary(t, True)

    out = check("memory images (Target)", run, what="%s %s %s %s %r" % (seed, where, rate, how, regs),
                warned=lambda r: r[1])
    if out.kind == "result" and not out.value[1] and out.value[0] != want:
        fuzz.note_changed_quietly("memory images (Target)")


# --------------------------------------------------------------------------------------- size check
def _damaged_core(b: CoreBase, path: Path, size: int) -> None:
    """The intact core's headers and notes with the damage of issue 9 (NT_FILE count 0x7fffffffffff,
    the notes segment and every PT_LOAD claiming the whole file), extended sparsely to `size`."""
    with open(str(b.core), "rb") as f:
        head = bytearray(f.read(b.head_end))
    nt = b.regions["NT_FILE"][0]
    struct.pack_into("<Q", head, nt, 0x7FFFFFFFFFFF)
    phoff, n = b.regions["program headers"]
    for i in range(0, n, 56):
        p_type = struct.unpack_from("<I", head, phoff + i)[0]
        if p_type == 1:
            struct.pack_into("<QQQQQ", head, phoff + i + 8, 0, 0x7F0000000000 + i * 0x10000000, 0, size, size)
        elif p_type == 4:
            struct.pack_into("<Q", head, phoff + i + 32, size)
    with open(str(path), "wb") as f:
        f.write(bytes(head))
        f.truncate(size)


def test_damaged_core_time_does_not_grow_with_size(tmp_path):
    """Opening and analysing a damaged core must not cost more for a bigger file: 400 MB and 1.6 GB
    (sparse) copies of the same damage take about the same time (52 s on 400 MB before the fix)."""
    b = base()
    times = {}
    for size in (400 << 20, 1600 << 20):
        p = tmp_path / ("core-%d" % size)
        _damaged_core(b, p, size)
        best = None
        for _ in range(3):
            def run():
                t = CoreTarget(str(p), executable=b.exe)
                try:
                    return summary(t, False, b.thread)
                finally:
                    t.close()
            t0 = time.perf_counter()
            check("cores (size check)", run, what="%d MB" % (size >> 20))
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        times[size] = best
        p.unlink()
    small, big = times[400 << 20], times[1600 << 20]
    assert big < 2 * small + 0.25, times  # 4x the size, not ~4x the time
    assert big < 5, times
