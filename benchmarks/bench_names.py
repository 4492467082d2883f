"""Figures for the ioctl name tables: `source gdbinit.py` inside gdb, `dmabuf-why --request X` in gdb
(first call and repeated calls), and the tables alone outside gdb (load, lookups, file size).
Informational: prints figures and exits 0 unless the benchmark itself cannot run.

    .venv/bin/python benchmarks/bench_names.py [--reps N]

Needs gdb. No program is started: `--request` decodes a number without a process.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_gdb  # noqa: E402
from bench_gdb import figure, ms  # noqa: E402

# A number with one name, an ambiguous one, one only strace/newer headers know, a name, an unknown one.
REQUESTS = ("0xc0086202", "0x40086203", "0x5401", "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD", "0x4008ffff")

OUTSIDE = r'''
import sys, time
c = time.process_time
t0 = c()
from gdb_rr_dmabuf.ioctl import names
t1 = c()
names.names_for(0xc0086202, "x86-64")
t2 = c()
names.names_for(0xc0086202, "aarch64")
t3 = c()
names.value_of("TCGETS", "x86-64")
t4 = c()
n = 0
for v in range(0xc0086200, 0xc0086200 + 2000):
    n += len(names.names_for(v, "x86-64"))
t5 = c()
print("%.6f %.6f %.6f %.6f %.6f" % (t1 - t0, t2 - t1, t3 - t2, t4 - t3, (t5 - t4) / 2000))
'''


def bench_source(reps: int) -> None:
    base = ["gdb", "-nx", "-q", "-batch"]
    argv: List[str] = list(base)
    for c in bench_gdb.SOURCE_TIMED:
        argv += ["-ex", c]
    env = bench_gdb.bench_env()
    bench_gdb._time_runs(argv, env)  # bytecode and page cache
    wall, cpu = [], []
    for _ in range(reps):
        out = bench_gdb._time_runs(argv, env)[1]
        parts = out.split("BENCH-SOURCE ")[1].split()
        wall.append(float(parts[0]))
        cpu.append(float(parts[1]))
    figure("names.source_gdbinit", "%s median, %s min (cpu %s)" % (ms(statistics.median(wall)), ms(min(wall)),
                                                                   ms(statistics.median(cpu))),
           "< 20 ms", statistics.median(wall) < 0.020, note="timed inside gdb, .pyc cached, n=%d" % reps)


def bench_request(reps: int) -> None:
    cmds = ["dmabuf-why --request " + r for r in REQUESTS]
    bench_gdb.run_gdb_job(Path("/bin/true"), [], {"cmds": cmds[:1], "reps": 0})  # fill the bytecode cache
    res = bench_gdb.run_gdb_job(Path("/bin/true"), [], {"cmds": cmds, "reps": reps})
    first = bench_gdb.check_cmd(res, cmds[0])
    figure("names.request.first", "%s (cpu %s)" % (ms(first["cold"]), ms(first["cold_cpu"])), "-",
           note="first dmabuf-why --request of the session (imports, rules, tables)")
    for cmd, req in zip(cmds, REQUESTS):
        r = bench_gdb.check_cmd(res, cmd)
        warm = statistics.median(r["warm"])
        figure("names.request.%s" % req, "%s median (cpu %s)" % (ms(warm), ms(statistics.median(r["warm_cpu"]))),
               "< 30 ms", warm < 0.030, note="after the first call, n=%d; cold in this session %s" % (
                   reps, ms(r["cold"])))


def _outside_runs(reps: int, bytecode: bool) -> List[float]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(bench_gdb.PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    rows = []
    for i in range(reps + (1 if bytecode else 0)):
        p = subprocess.run([sys.executable, "-c", OUTSIDE], cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, check=True)
        if bytecode and i == 0:
            continue  # fills the bytecode cache
        rows.append([float(x) for x in p.stdout.split()])
    return [statistics.median(c) for c in zip(*rows)]


def bench_outside(reps: int) -> None:
    for tag, bytecode in (("", True), (".nopyc", False)):
        med = _outside_runs(reps, bytecode)
        how = "cpu, .pyc cached" if bytecode else "cpu, compiled from source"
        figure("names%s.import" % tag, ms(med[0]), note="import gdb_rr_dmabuf.ioctl.names outside gdb, " + how)
        figure("names%s.first_lookup.x86-64" % tag, ms(med[1]), note="first names_for: the table is loaded, " + how)
        figure("names%s.first_lookup.aarch64" % tag, ms(med[2]), note="first names_for on the second arch")
        figure("names%s.first_value_of" % tag, ms(med[3]), note="first value_of (name index)")
        if bytecode:
            figure("names.lookup", "%.2f us" % (med[4] * 1e6), note="cpu per names_for call, 2000 different numbers, mostly misses")
    data = sorted(p for p in (REPO / "gdb_rr_dmabuf" / "ioctl").iterdir()
                  if p.name.startswith("_names") or p.name.startswith("ioctl_names"))
    figure("names.data_size", "%d bytes" % sum(p.stat().st_size for p in data),
           note=", ".join("%s %d" % (p.name, p.stat().st_size) for p in data))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args(argv)
    print("bench_names: %d cores, load average %s, reps=%d, %s" % (
        os.cpu_count() or 0, " ".join("%.2f" % x for x in os.getloadavg()), a.reps, time.strftime("%Y-%m-%d")),
        flush=True)
    bench_outside(a.reps)
    bench_source(a.reps)
    bench_request(a.reps)
    print()
    for row in bench_gdb.ROWS:
        print("%-32s %-40s %-10s %s" % (row.figure, row.value, row.target, row.verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
