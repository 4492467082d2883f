"""A stop hook for aarch64: at a syscall catchpoint's entry stop, remember the thread's x0..x5 (the
kernel keeps x1.. at the exit but x0 becomes the result), so dmabuf-why at the matching exit stop (same
thread, pc, x8, x1, x2) can name the fd. Reads eight registers of the stopped thread on aarch64 only;
never writes anything; an error in here is swallowed (a stop must never fail because of us)."""
from __future__ import annotations

import gdb  # type: ignore

_MASK64 = (1 << 64) - 1
_entries = {}      # (inferior pid, tid) -> EntryRecord of the last syscall-entry catchpoint stop
_catch_stop = {}   # (inferior pid, tid) -> (pc, x0, x1, x2, x7, x8) of the thread's last catchpoint stop
_connected = False
MAX_THREADS = 4096


def _is_catchpoint(bp) -> bool:
    t = getattr(gdb, "BP_CATCHPOINT", None)
    if t is not None:
        return getattr(bp, "type", None) == t
    return getattr(bp, "location", "") is None and getattr(bp, "expression", "") is None  # gdb 12


def on_stop(event) -> None:
    try:
        thread = getattr(event, "inferior_thread", None) or gdb.selected_thread()
        if thread is None:
            return
        frame = gdb.newest_frame()
        if not frame.architecture().name().startswith("aarch64"):   # gdb's name: "aarch64"
            return
        key = (thread.inferior.pid, thread.ptid[1] or thread.ptid[0])
        catch = isinstance(event, gdb.BreakpointEvent) and any(_is_catchpoint(b) for b in event.breakpoints)
        if not catch:
            _catch_stop.pop(key, None)
            return
        r = {}
        for n in ("x0", "x1", "x2", "x3", "x4", "x5", "x7", "x8", "pc"):
            r[n] = int(frame.read_register(n)) & _MASK64
        _catch_stop[key] = (r["pc"], r["x0"], r["x1"], r["x2"], r["x7"], r["x8"])
        if r["x7"] == 0:   # the kernel's syscall-entry marker (syscall.aarch64_stop_kind)
            if len(_entries) >= MAX_THREADS:
                _entries.clear()
            from ..fdrecover import EntryRecord
            _entries[key] = EntryRecord(tid=key[1], pc=r["pc"], x=tuple(r["x%d" % i] for i in range(6)), x8=r["x8"])
        elif r["x7"] != 1:
            _entries.pop(key, None)
    except Exception:  # never let a stop fail because of the hook
        return


def on_exited(event) -> None:
    try:
        pid = event.inferior.pid if getattr(event, "inferior", None) is not None else None
    except Exception:
        pid = None
    for d in (_entries, _catch_stop):
        for k in [k for k in d if pid is None or k[0] == pid or k[0] == 0]:
            d.pop(k, None)


def connect() -> None:
    global _connected
    if _connected:
        return
    gdb.events.stop.connect(on_stop)
    gdb.events.exited.connect(on_exited)
    _connected = True


def entry_record(pid: int, tid: int):
    return _entries.get((pid, tid))


def catch_stop_kind(pid: int, tid: int, regs):
    """'entry'/'exit' when the thread's current stop is the syscall catchpoint stop the hook saw (same
    pc, x0, x1, x2, x7, x8 now), from x7; else None."""
    got = _catch_stop.get((pid, tid))
    if got is None:
        return None
    now = tuple(regs.get(n) for n in ("pc", "x0", "x1", "x2", "x7", "x8"))
    if now != got:
        return None
    return {0: "entry", 1: "exit"}.get(got[4])
