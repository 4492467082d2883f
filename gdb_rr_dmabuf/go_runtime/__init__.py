"""Go runtime knowledge read from the executable (ELF, build info, pclntab) and the target's memory.

binary.GoBinary is the entry point: GoBinary.open(path).pclntab / .buildinfo / .go_version.
"""
from __future__ import annotations

from .binary import GoBinary, load_bias
from .buildinfo import BuildInfo, Module, read_buildinfo
from .pclntab import Frame, Func, PcLnTab, split_func_name

__all__ = ["GoBinary", "load_bias", "BuildInfo", "Module", "read_buildinfo", "Frame", "Func", "PcLnTab",
           "split_func_name"]
