"""Go runtime knowledge read from the executable (ELF, build info, pclntab) and the target's memory.

binary.GoBinary is the entry point: GoBinary.open(path).pclntab / .buildinfo / .go_version.
"""
from __future__ import annotations

import importlib

# Imported on first use (PEP 562): gdb's start-up should not pay for the ELF and pclntab readers.
_LAZY = {"GoBinary": "binary", "load_bias": "binary", "BuildInfo": "buildinfo", "Module": "buildinfo",
         "read_buildinfo": "buildinfo", "Frame": "pclntab", "Func": "pclntab", "PcLnTab": "pclntab",
         "split_func_name": "pclntab"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module("." + _LAZY[name], __name__), name)
    raise AttributeError(name)
