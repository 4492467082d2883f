# For tests: `damaged-go-callers HOW` runs go-callers' analysis at the current stop through a Target
# that damages what the thread's registers and memory say (the target itself is never written), and
# prints the JSON report. HOW: zero-tls (TLS g slot reads 0, R14 = 0), bad-fs-base (fs_base points at
# unmapped memory, R14 = 0), zero-tls-bad-m (and the M's
# g0/curg/gsignal fields read as garbage), curg-is-g0 (m.curg reads as m.g0), stack-hi (g.stack.hi reads
# 0x100 higher).
import json
import struct

import gdb

from gdb_rr_dmabuf import callers
from gdb_rr_dmabuf.commands.gdbtarget import GdbTarget
from gdb_rr_dmabuf.go_runtime.goroutines import tls_g_slot
from gdb_rr_dmabuf.go_runtime.layouts import layout_for


class _Damaged:
    def __init__(self, base, regs, mem):
        self.base, self._regs, self.mem = base, regs, mem

    def __getattr__(self, name):
        return getattr(self.base, name)

    def registers(self):
        r = dict(self.base.registers())
        r.update(self._regs)
        return r

    def read(self, addr, n):
        data = bytearray(self.base.read(addr, n))
        for a, b in self.mem.items():
            for i, x in enumerate(b):
                if addr <= a + i < addr + n:
                    data[a + i - addr] = x
        return bytes(data)

    def read_u64(self, addr):
        return struct.unpack("<Q", self.read(addr, 8))[0]

    read_ptr = read_u64


class DamagedGoCallers(gdb.Command):
    def __init__(self):
        super().__init__("damaged-go-callers", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        t = GdbTarget()
        binary = callers.open_go_binary(t)
        layout, _ = layout_for(binary.go_version, t.arch)
        good = callers.analyse_callers(t)
        regs = t.registers()
        slot = tls_g_slot(binary, regs["fs_base"], t.arch)
        g0 = t.read_u64(slot)  # the cgo path: TLS holds g0
        m = t.read_u64(g0 + layout.g["m"])
        how = arg.strip()
        mem, rg = {}, {}
        if how.startswith("zero-tls"):
            mem[slot] = bytes(8)
            rg["r14"] = 0
            if how == "zero-tls-bad-m":
                for f in ("g0", "curg", "gsignal"):
                    mem[m + layout.m[f]] = struct.pack("<Q", 0x1234560)
        elif how == "bad-fs-base":
            rg["fs_base"] = 0x10000
            rg["r14"] = 0
        elif how == "curg-is-g0":
            mem[m + layout.m["curg"]] = struct.pack("<Q", g0)
        elif how == "stack-hi":
            g = good.goroutine
            mem[g.addr + layout.g["stack.hi"]] = struct.pack("<Q", g.stack_hi + 0x100)
        rep = callers.analyse_callers(_Damaged(t, rg, mem))
        gdb.write("DAMAGED " + json.dumps(callers.report_json(rep)) + "\n")


DamagedGoCallers()
