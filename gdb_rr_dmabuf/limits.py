"""Bounds shared by the analyses and the commands (a module with no imports: the commands read it at
gdb's start-up)."""

DEFAULT_DEPTH = 100      # Go frames go-callers unwinds by default
MAX_DEPTH = 10000        # the most --depth accepts
