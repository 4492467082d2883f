"""MemoryTarget: the Target backend made of byte ranges and a register dict (tests, `--request` decoding)."""
from __future__ import annotations

import bisect
from typing import Callable, Dict, List, Optional, Tuple

from .errors import TargetReadError
from .target import ARCH_X86_64, NativeFrame, Target


class MemoryTarget(Target):
    """A target made of byte ranges and a register dict, for tests and for `--request` decoding."""

    kind = "memory"

    def __init__(self, regions: Optional[Dict[int, bytes]] = None, regs: Optional[Dict[str, int]] = None,
                 arch: str = ARCH_X86_64, tid: Optional[int] = None, executable: Optional[str] = None,
                 frames: Optional[List[NativeFrame]] = None, links: Optional[Dict[int, str]] = None,
                 auxv: Optional[Dict[int, int]] = None):
        self._starts: List[int] = []
        self._regions: List[Tuple[int, bytes]] = []
        for start, data in sorted((regions or {}).items()):
            self._starts.append(start)
            self._regions.append((start, bytes(data)))
        self._regs = dict(regs or {})
        self.arch = arch
        self.tid = tid
        self.executable = executable
        self._frames = list(frames or [])
        self._links = dict(links or {})
        self._auxv = dict(auxv or {})
        self.reads = 0  # number of read() calls, for tests of block reading

    def read(self, addr: int, size: int) -> bytes:
        self.reads += 1
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            start, data = self._regions[i]
            off = addr - start
            if 0 <= off and off + size <= len(data):
                return data[off:off + size]
        raise TargetReadError(addr, size)

    def registers(self) -> Dict[str, int]:
        return dict(self._regs)

    def native_frames(self, limit: int = 64, stop: Optional[Callable[[int], bool]] = None) -> List[NativeFrame]:
        out: List[NativeFrame] = []
        for f in self._frames[:limit]:
            out.append(f)
            if stop is not None and stop(f.pc):
                break
        return out

    def fd_link(self, fd: int) -> Optional[str]:
        return self._links.get(fd)

    def fd_links(self) -> Dict[int, str]:
        return dict(self._links)

    def auxv(self) -> Dict[int, int]:
        return dict(self._auxv)
