"""PtraceTarget: the Target backend over a thread `check` holds stopped (ptrace): the same seam gdb's
commands use. Memory through ptrace.read_memory, registers as check read them at the stop, the innermost
native frame named from the mapped object's ELF symbols."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from . import ptrace as pt
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


_SYMS: Dict[str, Any] = {}


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
    try:
        syms = _SYMS.get(path)
        if syms is None:
            from elftools.elf.elffile import ELFFile
            syms = []
            with open(path, "rb") as f:
                elf = ELFFile(f)
                pie = elf.header["e_type"] == "ET_DYN"
                for sec in ("symtab", "dynsym"):
                    s = elf.get_section_by_name("." + sec)
                    if s is None:
                        continue
                    for sym in s.iter_symbols():
                        if sym["st_info"]["type"] == "STT_FUNC" and sym["st_value"]:
                            syms.append((sym["st_value"], sym["st_size"], sym.name))
            syms.sort()
            _SYMS[path] = (pie, syms)
        pie, syms = _SYMS[path]
        addr = pc - base if pie else pc
        best = None
        for v, size, name in syms:
            if v <= addr < v + max(size, 1):
                best = name
                if name.startswith("__GI_") is False:
                    break
        return best
    except Exception:
        return None
