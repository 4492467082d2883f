"""benchmarks/bench_gdb.py --quick runs to the end and prints every figure line it promises.

Not a timed test: the figures' values are not compared with their targets here, only checked for
being measurements at all (numbers, the big binary's size from its pclntab, remote packets seen).
The first run builds the 50k-function fixture (tests/fixtures/go/bigprog, about a minute); later
runs reuse the cached build.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

EXPECTED = [
    "startup.plain", "startup.with_gdbinit", "startup.added", "startup.source_gdbinit", "startup.source_nopyc",
    "demo.go-callers.first", "demo.go-callers.repeat", "demo.go-callers.reparse",
    "demo.dmabuf-why.first", "demo.dmabuf-why.repeat", "demo.dmabuf-why.reparse", "demo.memory.rss_added",
    "big.nfunc", "big.go-callers.first", "big.go-callers.repeat", "big.go-callers.reparse", "big.frames",
    "big.memory.rss_added", "big.memory.py_peak",
    "remote.go-callers.first", "remote.packets", "remote.memory_reads", "remote.stack_reads",
]
TIMED = [f for f in EXPECTED if f.startswith("startup.") or f.split(".")[-1] in ("first", "repeat", "reparse")]

FIGURE = re.compile(r"^FIGURE (\S+)\s+(.*?)\s+target (\S.*?)\s+(PASS|OVER|INFO)\b", re.M)


@pytest.mark.skipif(shutil.which("gdb") is None or shutil.which("gdbserver") is None,
                    reason="needs gdb and gdbserver")
def test_bench_gdb_quick_prints_its_figures():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_gdb.py"), "--quick"], cwd=str(REPO),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=1200)
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    figures = {m.group(1): (m.group(2), m.group(3), m.group(4)) for m in FIGURE.finditer(out)}
    missing = [f for f in EXPECTED if f not in figures]
    assert not missing, "figures missing: %s\n%s" % (missing, out[-6000:])

    # Every timed figure is a positive number of milliseconds, with a target and a verdict.
    for name in TIMED:
        value, target, verdict = figures[name]
        m = re.match(r"(-?[0-9.]+) ms", value)
        assert m, (name, value)
        if name != "startup.added":  # a difference of two noisy medians may be negative
            assert 0 < float(m.group(1)) < 60000, (name, value)
        if name in ("startup.plain", "startup.with_gdbinit"):  # the two halves of startup.added
            assert (target, verdict) == ("-", "INFO"), (name, target, verdict)
        else:
            assert target.startswith("<") and verdict in ("PASS", "OVER"), (name, target, verdict)

    # The big binary: generate.py writes 112 packages x 500 functions (plus the chain); the pclntab
    # also holds the runtime and the standard library, so nfunc is a little above 56000.
    nfunc = int(re.match(r"(\d+) functions", figures["big.nfunc"][0]).group(1))
    assert 56000 < nfunc < 70000, nfunc
    frames = re.match(r"(\d+) frames \((\d+) Go\)", figures["big.frames"][0])
    assert frames and int(frames.group(2)) >= 26, figures["big.frames"]  # 24 chain links, worker, goexit

    # Remote: packets were counted, and memory was read.
    assert int(re.match(r"(\d+) packets", figures["remote.packets"][0]).group(1)) > 0
    reads = re.match(r"(\d+) m-packets, (\d+) bytes", figures["remote.memory_reads"][0])
    assert reads and int(reads.group(1)) > 0 and int(reads.group(2)) >= int(reads.group(1))
    assert re.match(r"\d+ m-packets, \d+ bytes; \d+ word-sized", figures["remote.stack_reads"][0]), \
        figures["remote.stack_reads"]

    # The closing table repeats every figure.
    table = out[out.rindex("\nfigure "):]
    for name in EXPECTED:
        assert re.search(r"^%s\s" % re.escape(name), table, re.M), name
