"""The package's JSON data files (rr's tables, Go's wait reasons), each read once, on first use: start-up
(`source gdbinit.py`) reads none of them."""
from __future__ import annotations

import functools
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=None)
def load(relpath: str):
    """The parsed JSON of a data file of the package, by its path under gdb_rr_dmabuf/."""
    with open(os.path.join(HERE, relpath), encoding="utf-8") as f:
        return json.load(f)
