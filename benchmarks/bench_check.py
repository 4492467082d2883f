#!/usr/bin/env python3
"""`check --all` wall time beside a plain run and beside `strace -f --seccomp-bpf -e trace=ioctl` of the
same program (strace's own seccomp filter: the fair comparison, since neither stops at other calls).

Programs (tests/fixtures/go/checkprog, Go 1.23.4):
  spin N      N getppid calls and no ioctl: what a busy Go program costs under each tool (default 1,000,000)
  ioctls N    the same plus N/100 ioctls rr handles by name (TCGETS) and N/100 it would check (RNDGETENTCNT
              on a pipe, ENOTTY): the calls check follows to their return
Each figure is the median of --reps runs; check_all.engine is check --json's own figure for the run (no Python
start-up, about 0.1 s, nor the report). Target (issue 16): check --all within 1.5x of strace's time.

  .venv/bin/python benchmarks/bench_check.py            # 5 repetitions, N = 1000000
  .venv/bin/python benchmarks/bench_check.py --quick    # 3 repetitions, N = 100000
(tests/test_check_bench_smoke.py runs it with --reps 1 -n 20000 and checks that every figure is printed.)
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.toolchains import build_go  # noqa: E402

TARGET = 1.5


def figure(name: str, value: str, target: str = "-", ok=None, note: str = "") -> None:
    verdict = "INFO" if ok is None else ("PASS" if ok else "OVER")
    print("FIGURE %-34s %-26s target %-14s %s%s" % (name, value, target, verdict, ("  (" + note + ")") if note else ""),
          flush=True)


def timed(argv, env=None) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=str(REPO),
                       universal_newlines=True)
    dt = time.perf_counter() - t0
    if p.returncode not in (0,):
        raise SystemExit("bench_check: %s exited with %d: %s" % (" ".join(map(str, argv[:6])), p.returncode,
                                                                   p.stderr.strip()[-400:]))
    return dt


def engine_seconds(argv, env) -> float:
    """check --json's counts.seconds: from the program's start to its end under check's engine (no Python
    start-up, no report)."""
    import json
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=str(REPO),
                       universal_newlines=True)
    return float(json.loads(p.stdout)["counts"]["seconds"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 repetitions, N = 100000")
    ap.add_argument("--reps", type=int, help="repetitions per figure (default 5, --quick 3)")
    ap.add_argument("-n", type=int, help="non-ioctl system calls per run (default 1000000, --quick 100000)")
    args = ap.parse_args()
    reps = args.reps or (3 if args.quick else 5)
    n = args.n or (100000 if args.quick else 1000000)
    if shutil.which("strace") is None:
        print("bench_check: strace is not installed (Debian: apt-get install strace)", file=sys.stderr)
        return 1
    prog = str(build_go("checkprog"))
    env = dict(os.environ, NO_COLOR="1")
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user's install: the .pyc files are written once, then read
    check = [sys.executable, "-m", "gdb_rr_dmabuf", "check", "--all", "--rr-version", "5.8.0", "--"]
    strace = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=ioctl", "-o", "/dev/null"]
    print("bench_check: %s, %d repetitions, median wall time; %s" % (prog, reps, sys.version.split()[0]))
    timed(check + [prog, "spin", "10"], env)  # warm the page cache and Python's bytecode cache
    t_py = statistics.median(timed([sys.executable, "-c", "import gdb_rr_dmabuf.check"], env) for _ in range(reps))
    figure("python.import_check", "%.3f s" % t_py, note="check's fixed start-up: Python and its imports")
    for mode in ("spin", "ioctls"):
        argv = [prog, mode, str(n)]
        plain = statistics.median(timed(argv, env) for _ in range(reps))
        st = statistics.median(timed(strace + argv, env) for _ in range(reps))
        ck = statistics.median(timed(check + argv, env) for _ in range(reps))
        label = "%s.%d" % (mode, n)
        figure(label + ".plain", "%.3f s" % plain)
        figure(label + ".strace", "%.3f s" % st, note="%.2fx plain" % (st / plain))
        eng = statistics.median(engine_seconds(check[:4] + ["--json"] + check[4:] + argv, env) for _ in range(reps))
        figure(label + ".check_all", "%.3f s" % ck, "<= %.1fx strace" % TARGET, ck <= TARGET * st,
               "%.2fx strace, %.2fx plain" % (ck / st, ck / plain))
        figure(label + ".check_all.engine", "%.3f s" % eng, "<= %.1fx strace" % TARGET, eng <= TARGET * st,
               "the program's run under check's engine alone: %.2fx strace" % (eng / st))
    return 0


if __name__ == "__main__":
    sys.exit(main())
