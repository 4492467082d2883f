"""gdb 16.1 against rr 5.8.0: every memory read fails, and one gdb setting fixes it.

gdb 16.1 reads memory with the new `x` packet whenever the stub does not refuse it. rr 5.8.0 answers `x`
with the raw bytes but without the `b` prefix gdb expects (rr's src/GdbServerConnection.cc reply_get_mem at
f248913a; rr issue #3901, "Backtrace in Debian gdb 16.1-1 is broken"; fixed in rr by 59902231, first
released in 5.9.0); rr 5.7.0 refuses `x` (gdb falls back to `m`). gdb 16.2 and later send `x` only to a
stub whose qSupported reply has `binary-upload+` (LLDB's and gdb's discussion of the incompatibility,
llvm-project PR #124733), which no rr release sends (the same qSupported reply in 5.7.0-5.9.0): checked
in the lab with gdb 16.3 through the imitation (tests/test_rr_stub_lab.py: no `x` packet). gdb 15 and older
have no `x` at all (no `set remote binary-upload-packet` either). So at a remote stop under gdb 16.1 where
not even the stopped thread's pc or sp is readable, and the `x` packet is not turned off, the cause is very
likely rr 5.8.0 (or an older LLDB-style stub) and the fix is `set remote binary-upload-packet off`.

The decision is pure (unit-tested without gdb); gdbtarget.py gathers its inputs. This module imports gdb
only inside gather().
"""
from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

FIX = "set remote binary-upload-packet off"


def gdb_major(version: str) -> int:
    m = re.match(r"\s*(\d+)", version or "")
    return int(m.group(1)) if m else 0


def probes_x_unasked(version: str) -> bool:
    """gdb 16.1 (and the 16.0.x development snapshots): `x` tried on any stub. 16.2+: only when advertised."""
    m = re.match(r"\s*(\d+)\.(\d+)", version or "")
    return bool(m) and int(m.group(1)) == 16 and int(m.group(2)) <= 1


def x_packet_may_be_used(show_text: str) -> bool:
    """From `show remote binary-upload-packet`: False when the user turned it off or gdb found it
    unsupported ("currently disabled"), True otherwise (auto and enabled or not yet probed, or on)."""
    t = (show_text or "").lower()
    if not t.strip():
        return False                 # gdb has no such setting: it never sends `x`
    if '"off"' in t or "currently disabled" in t:
        return False
    return True


def hint(version: str, kind: str, pc: Optional[int], sp: Optional[int], pc_ok: bool, sp_ok: bool,
         show_text: str, where: str = "") -> Optional[Tuple[str, str]]:
    """(what, todo) when the selected thread's own memory is unreadable over a remote stub because of the
    `x` packet (see the module's docstring), else None. where: the remote's host:port, when known."""
    if kind != "remote" or not probes_x_unasked(version) or (pc_ok and sp_ok):
        return None
    if not x_packet_may_be_used(show_text):
        return None
    bad = [(n, v) for n, v, ok in (("pc", pc, pc_ok), ("sp", sp, sp_ok)) if not ok]
    at = " and ".join("its %s (0x%x)" % (n, v) if v is not None else "its %s" % n for n, v in bad)
    what = ("gdb %s cannot read the stopped thread's memory at %s over this remote stub: gdb 16.1 reads memory "
            "with the `x` packet, which rr 5.8.0 answers without the `b` prefix (rr issue #3901, fixed in rr 5.9.0; "
            "gdb 16.2 and later do not send it to rr)" % (version.split()[0] if version else "", at))
    todo = ("type `%s`, then reconnect (%s); rr's stub serves one session, so for the next one start gdb with "
            "-ex '%s' before rr's target extended-remote" % (
                FIX, "`target extended-remote %s`" % where if where else "the same `target extended-remote`", FIX))
    return what, todo


def gather(inferior, thread) -> Optional[Tuple[str, str]]:
    """hint() for gdb's selected thread: reads its pc and sp registers and one byte at each (nothing of
    any other thread). None whenever something cannot be asked."""
    import gdb  # type: ignore
    if not probes_x_unasked(getattr(gdb, "VERSION", "")):
        return None
    conn = getattr(inferior, "connection", None)
    ctype = getattr(conn, "type", "") or ""
    if "remote" not in ctype:
        return None
    pc = sp = None
    try:
        frame = gdb.newest_frame()
        pc = int(frame.read_register("pc")) & ((1 << 64) - 1)
        sp = int(frame.read_register("sp")) & ((1 << 64) - 1)
    except (gdb.error, ValueError):
        return None

    def readable(addr, n):
        try:
            inferior.read_memory(addr, n)
            return True
        except (gdb.error, gdb.MemoryError, ValueError, OverflowError):
            return False
    pc_ok, sp_ok = readable(pc, 1), readable(sp, 8)
    if pc_ok and sp_ok:
        return None
    try:
        show = gdb.execute("show remote binary-upload-packet", to_string=True)
    except gdb.error:
        show = ""
    return hint(gdb.VERSION, "remote", pc, sp, pc_ok, sp_ok, show, getattr(conn, "details", "") or "")
