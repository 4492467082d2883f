"""gdb commands: the only package (with gdbinit.py) that imports gdb."""
from __future__ import annotations

_registered = False
COMMANDS = ("dmabuf-why", "go-callers", "go-goroutines")


def register() -> bool:
    """Register every command once; sourcing gdbinit.py again is harmless. Returns True the first time."""
    global _registered
    if _registered:
        return False
    from . import dmabuf_why, go_callers, go_goroutines  # noqa: F401  (instantiating registers them)
    dmabuf_why.DmabufWhy()
    go_callers.GoCallers()
    go_goroutines.GoGoroutines()
    from . import entry_stops
    entry_stops.connect()  # aarch64: remember x0 at syscall-entry stops (the exit stop overwrites it)
    _registered = True
    return True
