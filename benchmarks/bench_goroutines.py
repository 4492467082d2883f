"""Figures for go-goroutines: the time to list about 10,000 goroutines at a stop, live, from a core and over
gdbserver; the reads a damaged allgs length costs; Delve's `goroutines` on the same core beside it when a
Debian package of Delve can be fetched. Informational: prints FIGURE lines and exits 0 unless the
benchmark itself cannot run.

    .venv/bin/python benchmarks/bench_goroutines.py [--quick] [--reps N] [--count N]

--count N  goroutines of each cheap kind in tests/fixtures/go/gmany (default 909: about 10,000 in all)
--quick    --count 100 and 2 repetitions (the smoke mode)

Each command is timed inside gdb's Python (time.perf_counter around gdb.execute(cmd, to_string=True)) at
gmany's stop (tests/gdb_scripts/stop_ioctl_entry.gdb: ioctl(-1, 0x7a7a) on main's thread). "first" is the
first command of the session (the executable's pclntab parsed, allgs found), "repeat" the median of the
next ones (the parsed binary is cached; memory is read again each time); "cpu" is gdb's own CPU time
for the same call, which moves less than wall time when the machine is shared. Delve (bookworm's delve package,
apt-get download + dpkg-deb -x into .cache/delve, never installed) runs `goroutines` on the same core
with --check-go-version=false; its figure is its run minus a run that only starts and exits.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import gdbrun, toolchains  # noqa: E402
from tests.support.cores import make_core  # noqa: E402

GO_VERSION = toolchains.DEFAULT_GO
REQUEST = "0x7a7a"
ENV = {"GODEBUG": "asyncpreemptoff=1"}

IN_GDB = r'''
import json, os, time
import gdb
job = json.loads(os.environ["BENCH_JOB"])
out = {}
for cmd in job["cmds"]:
    times, cpu = [], []
    for i in range(job["reps"]):
        c0, t0 = time.process_time(), time.perf_counter()
        text = gdb.execute(cmd, to_string=True)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    n = None
    if "--json" in cmd:
        try:
            n = len(json.loads(text[text.index("{"):])["goroutines"])
        except Exception as e:
            n = "error: %s %s" % (e, text[:300])
    out[cmd] = {"times": times, "cpu": cpu, "rows": n}
gdb.write("BENCH-RESULT " + json.dumps(out) + "\n")
'''


def figure(name: str, value: str, target: str = "-", ok: Optional[bool] = None, note: str = "") -> None:
    verdict = "INFO" if ok is None else ("PASS" if ok else "OVER")
    print("FIGURE %-36s %-22s target %-10s %s%s" % (name, value, target, verdict, ("  (" + note + ")") if note else ""),
          flush=True)


def in_gdb(scripts: List[str], exe: Path, cmds: List[str], reps: int, args: List[str], env: Dict[str, str],
           core: Optional[Path] = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(IN_GDB)
    try:
        e = dict(env)
        e["BENCH_JOB"] = json.dumps({"cmds": cmds, "reps": reps})
        argv = ["gdb", "-nx", "-q", "-batch", "-ex", "set pagination off", "-ex", "set width 0"]
        for k, v in ENV.items():
            argv += ["-ex", "set environment %s=%s" % (k, v)]
        if args:
            argv += ["-ex", "set args " + " ".join(args)]
        for s in scripts:
            argv += ["-x", str(gdbrun.SCRIPTS / (s + ".gdb"))]
        argv += ["-x", f.name, str(exe)]
        if core is not None:
            e["GDBT_CORE"] = str(core)
        proc = subprocess.run(argv, cwd=str(REPO), env=gdbrun.gdb_env(e), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=1200)
    finally:
        os.unlink(f.name)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT "):])
    raise SystemExit("the benchmark's gdb session failed:\n" + proc.stdout[-4000:])


def report(mode: str, res: dict, goal: float = 1.0) -> None:
    for cmd, r in res.items():
        t, c = r["times"], r["cpu"]
        short = cmd.replace("go-goroutines", "").strip() or "(text)"
        figure("%s.%s.first" % (mode, short), "%.3f s (cpu %.3f)" % (t[0], c[0]), "< %g s" % goal, t[0] < goal,
               "%s goroutines" % r["rows"] if r["rows"] is not None else "")
        if len(t) > 1:
            rep, repc = statistics.median(t[1:]), statistics.median(c[1:])
            figure("%s.%s.repeat" % (mode, short), "%.3f s (cpu %.3f)" % (rep, repc), "< %g s" % goal, rep < goal)


def damaged_length_reads(exe: Path, core: Path) -> None:
    """Reads and time of the analysis when allgs' length (and allglen) claim more than there is."""
    from gdb_rr_dmabuf.go_runtime.allgs import analyse_goroutines, find_allgs
    from gdb_rr_dmabuf.go_runtime.binary import GoBinary, load_bias
    from gdb_rr_dmabuf.go_runtime.layouts import layout_for
    from gdb_rr_dmabuf.target_core import CoreTarget
    from tests.support.patched import Patched

    base = CoreTarget(str(core), executable=str(exe))
    for th in base.threads:
        if th.regs.get("orig_rax") == 16 and th.regs.get("rsi") == int(REQUEST, 16):
            base.select_thread(th.tid)
    b = GoBinary.open(str(exe))
    layout, _ = layout_for(b.go_version, base.arch)
    loc = find_allgs(base, b, layout, load_bias(b, base.auxv()))
    n = struct.unpack("<Q", base.read(loc.slice_addr + 8, 8))[0]

    for length in (n, n * 10, 1 << 40):
        patch = {loc.slice_addr + 8: struct.pack("<QQ", length, length)}
        if loc.allglen_addr:
            patch[loc.allglen_addr] = struct.pack("<Q", length)
        t = Patched(base, patch)
        t0 = time.perf_counter()
        rep = analyse_goroutines(t, include_dead=True)
        dt = time.perf_counter() - t0
        figure("damaged.length=%s" % ("real" if length == n else length), "%.3f s, %d reads" % (dt, t.reads),
               note="%d listed, %d problem lines" % (len(rep.goroutines), len(rep.problems)))


def delve(exe: Path, core: Path) -> None:
    dlv = toolchains.CACHE / "delve" / "usr" / "bin" / "dlv"
    if not dlv.exists():
        try:
            deb = toolchains.apt_download("delve")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(toolchains.CACHE / "delve")], check=True)
        except Exception as e:  # no package, no network: say so
            figure("delve.goroutines", "n/a", note="no Delve: %s" % str(e).splitlines()[0][:120])
            return
    ver = subprocess.run([str(dlv), "version"], stdout=subprocess.PIPE, universal_newlines=True).stdout.split("\n")[1]

    def run(cmds: str) -> (float, str):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write(cmds)
        t0 = time.perf_counter()
        p = subprocess.run([str(dlv), "core", "--allow-non-terminal-interactive=true", "--check-go-version=false",
                            "--init", f.name, str(exe), str(core)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
        dt = time.perf_counter() - t0
        os.unlink(f.name)
        return dt, p.stdout

    base = min(run("exit\n")[0] for _ in range(2))
    best, out = None, ""
    for _ in range(2):
        dt, out = run("goroutines\nexit\n")
        best = dt if best is None else min(best, dt)
    listed = out.count("  Goroutine ") + out.count("* Goroutine ")
    figure("delve.core.goroutines", "%.3f s" % (best - base), note="%s; %d listed; start-up %.3f s not counted"
           % (ver.strip(), listed, base))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--count", type=int, default=909)
    a = ap.parse_args()
    if a.quick:
        a.count, a.reps = 100, 2
    args = [str(a.count), "2"]
    print("load average %.2f %.2f %.2f on %d cores" % (os.getloadavg() + (os.cpu_count(),)), flush=True)
    exe = toolchains.build_go("gmany", GO_VERSION)
    cmds = ["go-goroutines --json", "go-goroutines", "go-goroutines --running --json", "go-goroutines --stacks --json"]
    live = in_gdb(["stop_ioctl_entry", "load_plugin"], exe, cmds, a.reps, args, {"GDBT_REQUEST": REQUEST})
    report("live", live)
    core, _ = make_core(exe, ["catch syscall ioctl", "condition $bpnum $rsi == %s" % REQUEST, "run " + " ".join(args)],
                        env=ENV, timeout=600)
    report("core", in_gdb(["load_core", "load_plugin"], exe, cmds, a.reps, [], {}, core=core))
    with gdbrun.gdbserver(exe, args, env=ENV) as addr:
        remote = in_gdb(["remote_stop_ioctl_entry", "load_plugin"], exe, cmds[:1], a.reps, [],
                        {"GDBT_REQUEST": REQUEST, "GDBT_REMOTE": addr})
    report("remote", remote)
    damaged_length_reads(exe, core)
    delve(exe, core)
    return 0


if __name__ == "__main__":
    sys.exit(main())
