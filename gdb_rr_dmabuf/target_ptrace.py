"""PtraceTarget: the Target backend over a thread `check` holds stopped (ptrace): the same seam gdb's
commands use. Memory through ptrace.read_memory, registers as check read them at the stop, the innermost
native frame named from the mapped object's ELF symbols (elf.function_symbols)."""
from __future__ import annotations

import mmap
import os
import stat
from typing import Dict, List, Optional, Tuple

from . import elf, ptrace as pt
from .arch import arch_of
from .errors import TargetReadError
from .target import NativeFrame, Target


class PtraceTarget(Target):
    kind = "live"

    def __init__(self, pid: int, tid: int, arch: str, regs: Dict[str, int]):
        self.pid, self.tid, self.arch, self._regs = pid, tid, arch, dict(regs)
        try:
            self.executable = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            self.executable = None
        self.program = self.executable
        self._maps: Optional[List[Tuple[int, int, str]]] = None

    def read(self, addr: int, size: int) -> bytes:
        try:
            data = pt.read_memory(self.pid, addr, size)
        except (OSError, OverflowError, ValueError) as e:
            raise TargetReadError(addr, size, str(e))
        if len(data) != size:
            raise TargetReadError(addr, size)
        return data

    def registers(self) -> Dict[str, int]:
        return dict(self._regs)

    def maps(self) -> List[Tuple[int, int, str]]:
        if self._maps is None:
            self._maps = []
            try:
                with open("/proc/%d/maps" % self.pid) as f:
                    for line in f:
                        parts = line.split(None, 5)
                        lo, hi = (int(x, 16) for x in parts[0].split("-"))
                        self._maps.append((lo, hi, parts[5].strip() if len(parts) > 5 else ""))
            except OSError:
                pass
        return self._maps

    def native_frames(self, limit: int = 64, stop=None) -> List[NativeFrame]:
        """Only the innermost frame (the pc, named from the object's symbols): check has no unwinder of
        its own; gdb's full native stack comes with the stop report."""
        pc = self._regs.get(arch_of(self.arch).pc_reg, 0)
        return [symbolize(pc, self.maps())]


_SYMS: Dict[str, elf.FunctionSymbols] = {}


def symbolize(pc: int, maps: List[Tuple[int, int, str]]) -> NativeFrame:
    for lo, hi, path in maps:
        if lo <= pc < hi:
            if not path.startswith("/"):
                return NativeFrame(pc=pc, function=None, objfile=path or None)
            base = min(l for l, h, p in maps if p == path)
            func = _symbol_in(path, pc, base)
            return NativeFrame(pc=pc, function=func, objfile=path)
    return NativeFrame(pc=pc)


def _symbol_in(path: str, pc: int, base: int) -> Optional[str]:
    """The function symbol holding pc in the object mapped from path at base (its lowest mapping), read
    with elf.py's bounded symbol reader; None when the file is unreadable, damaged or has no symbol there."""
    syms = _SYMS.get(path)
    if syms is None:
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode) or not st.st_size:
                    return None   # a device's or an empty file's mapping: no symbols
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                    syms = elf.function_symbols(m)
        except (OSError, ValueError):  # ValueError: elf.HeaderError, elf.SymbolsError, a bad mmap
            return None
        _SYMS[path] = syms
    return syms.name_at(pc - base if syms.pie else pc)
