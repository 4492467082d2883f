"""Figures for the pclntab decoder: open + first lookup, lookups per second, memory.

    .venv/bin/python benchmarks/bench_pclntab.py [EXECUTABLE ...]

Without arguments: the inlines fixture (built with the default Go) and the Go toolchain's own
`compile` (GOROOT/pkg/tool/linux_amd64/compile, the largest Go binary at hand).
"""
from __future__ import annotations

import os
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gdb_rr_dmabuf.go_runtime.binary import GoBinary  # noqa: E402


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def bench(path: str, n: int = 20000) -> None:
    GoBinary.clear_cache()
    rss0 = rss_kb()
    t0 = time.perf_counter()
    b = GoBinary.open(path)
    t1 = time.perf_counter()
    tab = b.pclntab
    mid = tab.text_start + (tab.text_end - tab.text_start) // 2
    f = tab.func_for_pc(mid)
    file, line = tab.file_line(f, mid)
    t2 = time.perf_counter()
    rss_open = rss_kb()

    rnd = random.Random(1)
    pcs = [rnd.randrange(tab.text_start, tab.text_end) for _ in range(n)]
    q = n // 4
    t3 = time.perf_counter()
    for pc in pcs:
        tab.func_for_pc(pc)
    t4 = time.perf_counter()
    for pc in pcs[:q]:
        g = tab.func_for_pc(pc)
        tab.file_line(g, pc)
    t5 = time.perf_counter()
    for pc in pcs[q:2 * q]:
        tab.frames_at(pc, is_return_address=False)
    t6 = time.perf_counter()
    for pc in pcs[:q]:  # the same pcs again: tables decoded and cached on the second query
        tab.frames_at(pc, is_return_address=False)
    t7 = time.perf_counter()
    for pc in pcs[2 * q:3 * q]:
        g = tab.func_for_pc(pc)
        tab.sp_delta(g, pc)
    t8 = time.perf_counter()
    tab.lookup("main.main")
    t9 = time.perf_counter()
    for _ in range(n):
        tab.lookup("runtime.goexit")
    t10 = time.perf_counter()
    rss1 = rss_kb()

    print("%s" % path)
    print("  %s, %s, pclntab format %s, %d functions, text %d KiB, file %d KiB"
          % (b.go_version, b.arch, tab.version, tab.nfunc, (tab.text_end - tab.text_start) >> 10,
             os.path.getsize(path) >> 10))
    print("  open (ELF headers)                %8.1f ms" % ((t1 - t0) * 1e3))
    print("  pclntab + first pc lookup         %8.1f ms   (%s %s:%s)" % ((t2 - t1) * 1e3, f.name, file, line))
    print("  func_for_pc                       %8.0f /s" % (n / (t4 - t3)))
    print("  func_for_pc + file_line           %8.0f /s" % (q / (t5 - t4)))
    print("  frames_at (inline expanded)       %8.0f /s" % (q / (t6 - t5)))
    print("  frames_at, pcs seen before        %8.0f /s" % (q / (t7 - t6)))
    print("  func_for_pc + sp_delta            %8.0f /s" % (q / (t8 - t7)))
    print("  first lookup(name) (builds index) %8.1f ms" % ((t9 - t8) * 1e3))
    print("  lookup(name) after                %8.0f /s" % (n / (t10 - t9)))
    print("  RSS: +%.1f MiB after open, +%.1f MiB after all (file mmapped, pages counted as touched)"
          % ((rss_open - rss0) / 1024, (rss1 - rss0) / 1024))
    # Python heap separately (tracemalloc slows everything down, so not during the timings).
    GoBinary.clear_cache()
    tracemalloc.start()
    b = GoBinary.open(path)
    tab = b.pclntab
    tab.func_for_pc(mid)
    open_heap = tracemalloc.get_traced_memory()[0]
    for pc in pcs[:q]:
        tab.frames_at(pc)
    tab.lookup("main.main")
    heap = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print("  Python heap: %.2f MiB after open + first lookup, %.2f MiB with caches and name index"
          % (open_heap / 2**20, heap / 2**20))


def main(argv) -> None:
    paths = argv[1:]
    if not paths:
        from tests.support.toolchains import DEFAULT_GO, build_go, go_root
        paths = [str(build_go("inlines", DEFAULT_GO)),
                 str(go_root(DEFAULT_GO) / "pkg" / "tool" / "linux_amd64" / "compile")]
    for p in paths:
        bench(p)


if __name__ == "__main__":
    main(sys.argv)
