"""A Target over another one (a core) with some bytes replaced, counting reads: damaged memory for the
fuzz tests and benchmarks of go-goroutines, without touching the core file. A patch whose bytes are
b"UNMAPPED" makes every read that starts inside it fail."""
from __future__ import annotations

from typing import Dict, List

from gdb_rr_dmabuf.errors import TargetReadError
from gdb_rr_dmabuf.target import Target


class Patched(Target):
    def __init__(self, base, patches: Dict[int, bytes]):
        self.base = base
        self.patches = dict(patches)
        self.arch, self.tid, self.executable, self.kind = base.arch, base.tid, base.executable, "core"
        self.warnings: List[str] = []
        self.reads = 0

    def read(self, addr: int, size: int) -> bytes:
        self.reads += 1
        for a, data in self.patches.items():
            if a <= addr < a + len(data) and data == b"UNMAPPED":
                raise TargetReadError(addr, size, "damaged")
        buf = bytearray(self.base.read(addr, size))
        for a, data in self.patches.items():
            lo, hi = max(a, addr), min(a + len(data), addr + size)
            if lo < hi:
                buf[lo - addr:hi - addr] = data[lo - a:hi - a]
        return bytes(buf)

    def registers(self):
        return self.base.registers()

    def auxv(self):
        return self.base.auxv()
