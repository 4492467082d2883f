"""Figures for gdb-rr-dmabuf inside real gdb: start-up, go-callers/dmabuf-why time, a 50k-function
binary, remote packets over gdbserver, memory. Informational: prints a table and exits 0 unless the
benchmark itself cannot run.

    .venv/bin/python benchmarks/bench_gdb.py [--quick] [--reps N] [--profile] [--only NAMES]

--quick    fewer repetitions (for the smoke test); the same figures
--profile  also print cProfile of a first go-callers on each binary (in extra sessions, so the timed
           ones are not slowed), and the packets of the remote go-callers
--only     comma-separated sections: startup,demo,big,remote (default: all)

Every command is timed inside gdb's own Python (time.perf_counter around gdb.execute(cmd,
to_string=True)) at the stop rr makes: just after DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned
(tests/gdb_scripts/stop_ioctl_exit.gdb, or remote_stop_ioctl_exit.gdb through gdbserver).
See benchmarks/README.md for what each figure means.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import gdbrun, toolchains  # noqa: E402

GO_VERSION = "1.23.4"
DMA_BUF_IOCTL_EXPORT_SYNC_FILE = "0xc0086202"
BIGPROG = REPO / "tests" / "fixtures" / "go" / "bigprog"

# The Python that runs inside gdb (written to a temporary file, sourced with -x). It reads its job
# from $BENCH_JOB (JSON) and prints one line `BENCH-RESULT {json}`.
IN_GDB = r'''
import gc, json, os, time
import gdb

job = json.loads(os.environ["BENCH_JOB"])
res = {"cmds": {}}
cpu = []  # gdb's CPU time (user+sys, all threads) of each timed() call, in order


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return -1


def timed(cmd, capture=True):
    # capture=False for the remote job: to_string=True would capture gdb's debug log as well.
    c0 = time.process_time()
    t0 = time.perf_counter()
    try:
        out = gdb.execute(cmd, to_string=capture) or ""
        err = None
    except gdb.error as e:
        out, err = "", str(e)
    t1 = time.perf_counter()
    cpu.append(time.process_time() - c0)
    return t1 - t0, out, err


def drop_binary_cache():
    from gdb_rr_dmabuf.go_runtime.binary import GoBinary
    GoBinary.clear_cache()


if job.get("remote_log"):
    # Count the packets of the first command only: gdb's debug log of the remote protocol.
    gdb.execute("set logging file " + job["remote_log"])
    gdb.execute("set logging overwrite on")
    gdb.execute("set logging debugredirect on")
    gdb.execute("set logging enabled on")
    gdb.execute("set debug remote 1")
    # Which reads are go-callers' own (through its Target) and which are gdb's (its unwinder).
    from gdb_rr_dmabuf.commands import gdbtarget
    own_reads = []
    _orig_read = gdbtarget.GdbTarget.read

    def _logged_read(self, addr, size):
        own_reads.append([addr, size])
        return _orig_read(self, addr, size)

    gdbtarget.GdbTarget.read = _logged_read
    gdb.write("BENCH-MARK begin\n", gdb.STDLOG)
    gdb.flush(gdb.STDLOG)
    dt, out, err = timed(job["cmds"][0], capture=False)
    gdb.write("BENCH-MARK end\n", gdb.STDLOG)
    gdb.flush(gdb.STDLOG)
    gdb.execute("set debug remote 0")
    gdb.execute("set logging enabled off")
    gdbtarget.GdbTarget.read = _orig_read
    res["cmds"][job["cmds"][0]] = {"cold": dt, "cold_cpu": cpu[-1], "error": err, "own_reads": own_reads}
    # A second call: what gdb still caches between two commands at the same stop.
    gdb.execute("set logging file " + job["remote_log"] + ".2")
    gdb.execute("set logging enabled on")
    gdb.execute("set debug remote 1")
    dt2, _, _ = timed(job["cmds"][0], capture=False)
    gdb.execute("set debug remote 0")
    gdb.execute("set logging enabled off")
    res["cmds"][job["cmds"][0]]["second"] = dt2
else:
    for i, cmd in enumerate(job["cmds"]):
        r = {}
        if i == 0:
            gc.collect()
            for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                r[key + "_before"] = status(key)
        if i == 0 and job.get("profile"):
            import cProfile, io, pstats
            prof = cProfile.Profile()
            prof.enable()
            dt, out, err = timed(cmd)
            prof.disable()
            s = io.StringIO()
            st = pstats.Stats(prof, stream=s)
            st.sort_stats("cumulative").print_stats(30)
            st.sort_stats("tottime").print_stats(15)
            r["profile"] = s.getvalue()
        else:
            dt, out, err = timed(cmd)
        r["cold"] = dt
        r["cold_cpu"] = cpu[-1]
        r["error"] = err
        r["lines"] = out.count("\n")
        r["head"] = out[:400]
        if i == 0:
            for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                r[key + "_after"] = status(key)
        warm, warm_cpu = [], []
        for _ in range(job["reps"]):
            warm.append(timed(cmd)[0])
            warm_cpu.append(cpu[-1])
        r["warm"] = warm
        r["warm_cpu"] = warm_cpu
        # Cold again for the binary's parsed facts (ELF, build info, pclntab), modules already imported.
        drop_binary_cache()
        r["reparse"] = timed(cmd)[0]
        r["reparse_cpu"] = cpu[-1]
        res["cmds"][cmd] = r
    if job.get("tracemalloc"):
        import tracemalloc
        drop_binary_cache()
        gc.collect()
        tracemalloc.start()
        timed(job["cmds"][0])
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        res["tracemalloc_peak"] = peak
        res["tracemalloc_kept"] = cur
if job.get("json_cmd"):
    _, out, err = timed(job["json_cmd"])
    try:
        start = out.index("{")
        res["json"] = json.JSONDecoder().raw_decode(out[start:])[0]
    except ValueError:
        res["json_error"] = err or out[:400]
gdb.write("BENCH-RESULT " + json.dumps(res) + "\n")
gdb.flush()
'''


# ----------------------------------------------------------------------------------------- helpers
class Row:
    def __init__(self, figure: str, value: str, target: str, verdict: str, note: str = ""):
        self.figure, self.value, self.target, self.verdict, self.note = figure, value, target, verdict, note


ROWS: List[Row] = []


def figure(name: str, value: str, target: str = "-", ok: Optional[bool] = None, note: str = "") -> None:
    verdict = "INFO" if ok is None else ("PASS" if ok else "OVER")
    row = Row(name, value, target, verdict, note)
    ROWS.append(row)
    print("FIGURE %-34s %-26s target %-14s %s%s" % (name, value, target, verdict, ("  (" + note + ")") if note else ""),
          flush=True)


def ms(seconds: float) -> str:
    return "%.1f ms" % (seconds * 1000.0)


PYCACHE = toolchains.CACHE / "bench-pycache"


def bench_env(extra: Optional[Dict[str, str]] = None, bytecode: bool = True) -> Dict[str, str]:
    """gdb's environment. bytecode=True: Python may write and read compiled modules (.pyc), kept under
    .cache/bench-pycache (PYTHONPYCACHEPREFIX), as on a user's machine after the first start;
    bytecode=False: PYTHONDONTWRITEBYTECODE=1, every module gdb_rr_dmabuf imports is compiled from
    source at each start (a read-only checkout, or the very first start)."""
    e = gdbrun.gdb_env(extra)
    if bytecode:
        e.pop("PYTHONDONTWRITEBYTECODE", None)
        e["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        e["PYTHONDONTWRITEBYTECODE"] = "1"
        e.pop("PYTHONPYCACHEPREFIX", None)
    return e


_warmed = False


def warm_bytecode() -> None:
    """Fill .cache/bench-pycache once: one throw-away session at the demo's stop."""
    global _warmed
    if not _warmed:
        _warmed = True
        exe = toolchains.build_go("demo", GO_VERSION)
        run_gdb_job(exe, ["stop_ioctl_exit"], {"cmds": ["go-callers", "dmabuf-why", "go-callers --json"],
                                               "reps": 0}, env={"GDBT_REQUEST": DMA_BUF_IOCTL_EXPORT_SYNC_FILE})


def run_gdb_job(exe: Path, scripts: Sequence[str], job: dict, env: Optional[Dict[str, str]] = None,
                timeout: float = 300) -> dict:
    """One gdb session: the stop scripts, `source gdbinit.py`, then the in-gdb timing code."""
    with tempfile.TemporaryDirectory(prefix="bench-gdb-") as tmp:
        script = Path(tmp) / "bench_in_gdb.py"
        script.write_text(IN_GDB)
        e = bench_env(env)
        e["BENCH_JOB"] = json.dumps(job)
        argv = ["gdb", "-nx", "-q", "-batch", "-ex", "set pagination off", "-ex", "set confirm off",
                "-ex", "set auto-load safe-path /nonexistent"]
        for s in scripts:
            argv += ["-x", str(gdbrun.SCRIPTS / (s + ".gdb"))]
        argv += ["-x", str(gdbrun.SCRIPTS / "load_plugin.gdb"), "-x", str(script), str(exe)]
        proc = subprocess.run(argv, cwd=str(REPO), env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)
    m = re.search(r"^BENCH-RESULT (\{.*\})$", proc.stdout, re.M)
    if not m:
        raise RuntimeError("gdb gave no result (exit %d):\n%s" % (proc.returncode, proc.stdout[-4000:]))
    return json.loads(m.group(1))


def check_cmd(res: dict, cmd: str) -> dict:
    r = res["cmds"][cmd]
    if r.get("error"):
        raise RuntimeError("%s failed at the stop: %s" % (cmd, r["error"]))
    return r


# ----------------------------------------------------------------------------------------- sections
def _time_runs(argv: Sequence[str], env: Dict[str, str]) -> Tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(argv), p.stdout))
    return dt, p.stdout


SOURCE_TIMED = ("python import time; _bench_t0 = time.perf_counter(); _bench_c0 = time.process_time()",
                "source " + str(gdbrun.GDBINIT),
                "python print('BENCH-SOURCE %.6f %.6f' % (time.perf_counter() - _bench_t0, "
                "time.process_time() - _bench_c0))")


def bench_startup(reps: int) -> None:
    """gdb -nx -q -batch with and without `source gdbinit.py`, interleaved, reps times each; and the
    `source gdbinit.py` alone, timed inside gdb, with and without compiled bytecode."""
    base = ["gdb", "-nx", "-q", "-batch"]
    plugin = base + ["-ex", "source " + str(gdbrun.GDBINIT)]
    timed_src: List[str] = list(base)
    for c in SOURCE_TIMED:
        timed_src += ["-ex", c]
    env = bench_env()
    for argv in (base, plugin):  # fill the bytecode cache and the page cache once
        _time_runs(argv, env)
    wall: Dict[str, List[float]] = {"plain": [], "plugin": []}
    for _ in range(reps):
        wall["plain"].append(_time_runs(base, env)[0])
        dt, out = _time_runs(plugin, env)
        if "gdb-rr-dmabuf" in out:
            raise RuntimeError("source gdbinit.py complained:\n" + out)
        wall["plugin"].append(dt)
    inside: Dict[str, List[float]] = {"pyc": [], "nopyc": []}
    inside_cpu: Dict[str, List[float]] = {"pyc": [], "nopyc": []}
    for _ in range(reps):
        for k, e in (("pyc", env), ("nopyc", bench_env(bytecode=False))):
            out = _time_runs(timed_src, e)[1]
            m = re.search(r"BENCH-SOURCE ([0-9.]+) ([0-9.]+)", out)
            if not m:
                raise RuntimeError("no BENCH-SOURCE line:\n" + out)
            inside[k].append(float(m.group(1)))
            inside_cpu[k].append(float(m.group(2)))
    med = {k: statistics.median(v) for k, v in wall.items()}
    low = {k: min(v) for k, v in wall.items()}
    figure("startup.plain", "%s median, %s min" % (ms(med["plain"]), ms(low["plain"])), note="wall, n=%d" % reps)
    figure("startup.with_gdbinit", "%s median, %s min" % (ms(med["plugin"]), ms(low["plugin"])),
           note="wall, n=%d" % reps)
    added = med["plugin"] - med["plain"]
    figure("startup.added", "%s median, %s min" % (ms(added), ms(low["plugin"] - low["plain"])), "< 50 ms",
           added < 0.050, note="wall-clock difference")
    for k, name, note in (("pyc", "startup.source_gdbinit", "timed inside gdb, .pyc cached"),
                          ("nopyc", "startup.source_nopyc", "PYTHONDONTWRITEBYTECODE=1: compiled from source")):
        src = statistics.median(inside[k])
        figure(name, "%s median, %s min (cpu %s)" % (ms(src), ms(min(inside[k])), ms(statistics.median(inside_cpu[k]))),
               "< 50 ms", src < 0.050, note=note)


def _cmd_figures(prefix: str, r: dict, limit: float) -> None:
    warm = statistics.median(r["warm"]) if r["warm"] else float("nan")
    warm_cpu = statistics.median(r["warm_cpu"]) if r["warm_cpu"] else float("nan")
    figure(prefix + ".first", "%s (cpu %s)" % (ms(r["cold"]), ms(r["cold_cpu"])), "< %g s" % limit,
           r["cold"] < limit, note="first call: imports + binary parse + gdb's unwinder")
    figure(prefix + ".repeat", "%s median (cpu %s)" % (ms(warm), ms(warm_cpu)), "< %g s" % limit, warm < limit,
           note="n=%d, same stop" % len(r["warm"]))
    figure(prefix + ".reparse", "%s (cpu %s)" % (ms(r["reparse"]), ms(r["reparse_cpu"])), "< %g s" % limit,
           r["reparse"] < limit, note="binary cache dropped, modules already imported")


def _rss_figure(name: str, r: dict) -> None:
    def d(key: str) -> float:
        return (r[key + "_after"] - r[key + "_before"]) / 1024.0
    figure(name, "%.1f MB (RSS %.0f -> %.0f MB)" % (d("VmRSS"), r["VmRSS_before"] / 1024.0, r["VmRSS_after"] / 1024.0),
           note="gdb's RSS around the first call: anonymous +%.1f MB, file-backed +%.1f MB; VmHWM +%.1f MB"
           % (d("RssAnon"), d("RssFile"), d("VmHWM")))


def print_profile(what: str, exe: Path, env: Dict[str, str]) -> None:
    """cProfile of a first go-callers, in a session of its own (the timed sessions are not profiled)."""
    r = run_gdb_job(exe, ["stop_ioctl_exit"], {"cmds": ["go-callers"], "reps": 0, "profile": True}, env=env)
    print("\n--- profile: first go-callers on %s (cumulative, then own time) ---\n%s"
          % (what, r["cmds"]["go-callers"].get("profile", "")), flush=True)


def bench_demo(reps: int, profile: bool) -> None:
    exe = toolchains.build_go("demo", GO_VERSION)
    warm_bytecode()
    env = {"GDBT_REQUEST": DMA_BUF_IOCTL_EXPORT_SYNC_FILE}
    # Two sessions, so each command is measured first (cold) once.
    a = run_gdb_job(exe, ["stop_ioctl_exit"], {"cmds": ["go-callers", "dmabuf-why"], "reps": reps}, env=env)
    b = run_gdb_job(exe, ["stop_ioctl_exit"], {"cmds": ["dmabuf-why"], "reps": reps}, env=env)
    gc_ = check_cmd(a, "go-callers")
    if "goroutine" not in gc_["head"]:
        raise RuntimeError("go-callers on the demo printed no goroutine:\n" + gc_["head"])
    _cmd_figures("demo.go-callers", gc_, 0.2)
    _cmd_figures("demo.dmabuf-why", check_cmd(b, "dmabuf-why"), 0.2)
    _rss_figure("demo.memory.rss_added", gc_)
    if profile:
        print_profile("the demo", exe, env)


def _bigprog() -> Tuple[Path, int]:
    gen = subprocess.run([sys.executable, "-B", str(BIGPROG / "generate.py")], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True)
    if gen.returncode != 0:
        raise RuntimeError("generate.py failed:\n" + gen.stdout)
    t0 = time.perf_counter()
    exe = toolchains.build_go("bigprog", GO_VERSION)
    built = time.perf_counter() - t0
    if built > 1:
        print("note: built bigprog (%d generated functions) in %.0f s" % (int(gen.stdout.split()[-1]), built),
              flush=True)
    from gdb_rr_dmabuf.go_runtime.binary import GoBinary
    return exe, GoBinary.open(str(exe)).pclntab.nfunc


def bench_big(reps: int, profile: bool) -> None:
    exe, nfunc = _bigprog()
    figure("big.nfunc", "%d functions" % nfunc, ">= 50000", nfunc >= 50000, note="pclntab nfunc")
    warm_bytecode()
    res = run_gdb_job(exe, ["stop_ioctl_exit"], {"cmds": ["go-callers"], "reps": reps,
                                                 "tracemalloc": True, "json_cmd": "go-callers --json"},
                      env={"GDBT_REQUEST": DMA_BUF_IOCTL_EXPORT_SYNC_FILE})
    r = check_cmd(res, "go-callers")
    js = res.get("json")
    if not js:
        raise RuntimeError("go-callers --json on bigprog: %s" % res.get("json_error"))
    names = [f.get("function") or "" for f in js.get("frames", [])]
    chain = [n for n in names if re.match(r"example\.com/bigprog/gen/p\d{3}\.Down$", n)]
    # The generated chain is 24 packages deep (generate.py DEFAULT_CHAIN): all must show.
    if len(chain) < 24 or "main.worker" not in names:
        raise RuntimeError("go-callers on bigprog missed frames: %r" % names)
    _cmd_figures("big.go-callers", r, 0.5)
    figure("big.frames", "%d frames (%d Go)" % (len(names), sum(1 for f in js["frames"] if f.get("kind") == "go")),
           note="chain p000..p023 and main.worker all found")
    _rss_figure("big.memory.rss_added", r)
    figure("big.memory.py_peak", "%.1f MB" % (res["tracemalloc_peak"] / 1048576.0),
           note="tracemalloc peak, binary cache dropped; %.1f MB kept after" % (res["tracemalloc_kept"] / 1048576.0))
    if profile:
        print_profile("bigprog", exe, {"GDBT_REQUEST": DMA_BUF_IOCTL_EXPORT_SYNC_FILE})


_PKT = re.compile(r"Sending packet: \$([^#]*)#")


def parse_remote_log(text: str) -> List[str]:
    """The packets gdb sent between the BENCH-MARK lines (gdb 13: `[remote] Sending packet: $...#xx`)."""
    m = re.search(r"BENCH-MARK begin\n(.*?)BENCH-MARK end", text, re.S)
    body = m.group(1) if m else text
    return _PKT.findall(body)


def memory_reads(packets: Sequence[str]) -> List[Tuple[int, int]]:
    """(address, length) of each memory-read packet: m (hex) and x (binary reply, gdb 15+)."""
    out = []
    for p in packets:
        mm = re.match(r"[mx]([0-9a-fA-F]+),([0-9a-fA-F]+)$", p)
        if mm:
            out.append((int(mm.group(1), 16), int(mm.group(2), 16)))
    return out


def bench_remote(verbose: bool) -> None:
    exe = toolchains.build_go("demo", GO_VERSION)
    warm_bytecode()
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        log = Path(tmp) / "remote.log"
        with gdbrun.gdbserver(exe) as addr:
            res = run_gdb_job(exe, ["remote_stop_ioctl_exit"],
                              {"cmds": ["go-callers"], "remote_log": str(log), "json_cmd": "go-callers --json"},
                              env={"GDBT_REMOTE": addr, "GDBT_REQUEST": DMA_BUF_IOCTL_EXPORT_SYNC_FILE})
        r = res["cmds"]["go-callers"]
        if r.get("error"):
            raise RuntimeError("go-callers over gdbserver failed: %s" % r["error"])
        first = parse_remote_log(log.read_text(errors="replace"))
        second = parse_remote_log(Path(str(log) + ".2").read_text(errors="replace"))
    if not first:
        raise RuntimeError("no remote packets logged during go-callers (set debug remote 1 gave nothing)")
    reads = memory_reads(first)
    if verbose:
        print("--- packets of the first go-callers over gdbserver ---\n" + "\n".join(first), flush=True)
        print("--- go-callers' Target.read calls (address, size) ---\n"
              + "\n".join("%#x,%#x" % (a, n) for a, n in r.get("own_reads") or []), flush=True)
    figure("remote.go-callers.first", "%s (cpu %s)" % (ms(r["cold"]), ms(r["cold_cpu"])), "< 0.2 s", r["cold"] < 0.2,
           note="first call over gdbserver; second %s" % ms(r["second"]))
    figure("remote.packets", "%d packets" % len(first),
           note="second call at the same stop: %d" % len(second))
    nbytes = sum(n for _, n in reads)
    own = r.get("own_reads") or []
    figure("remote.memory_reads", "%d m-packets, %d bytes" % (len(reads), nbytes),
           note="%d of them <= 8 bytes; go-callers' own Target.read: %d calls, %d bytes (the rest: gdb's unwinder)"
           % (sum(1 for _, n in reads if n <= 8), len(own), sum(n for _, n in own)))
    stack = (res.get("json") or {}).get("goroutine", {}).get("stack") or {}
    lo, hi = stack.get("lo"), stack.get("hi")
    if lo is None or hi is None:
        figure("remote.stack_reads", "goroutine stack bounds unknown", "blocks", None)
        return
    sreads = [(a, n) for a, n in reads if lo <= a < hi]
    words = [(a, n) for a, n in sreads if n <= 8]
    figure("remote.stack_reads", "%d m-packets, %d bytes; %d word-sized" % (len(sreads), sum(n for _, n in sreads),
                                                                           len(words)),
           "blocks", len(words) <= 1 and len(sreads) <= 4,
           note="goroutine stack [%#x, %#x)" % (lo, hi))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--reps", type=int, help="repetitions (default 20, --quick 3)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the first go-callers; list the remote packets")
    ap.add_argument("--only", default="startup,demo,big,remote", help="sections to run")
    a = ap.parse_args(argv)
    reps = a.reps or (3 if a.quick else 20)
    only = {s.strip() for s in a.only.split(",") if s.strip()}
    unknown = only - {"startup", "demo", "big", "remote"}
    if unknown:
        ap.error("unknown section(s): %s" % ", ".join(sorted(unknown)))
    print("bench_gdb: %s, Go %s, %d cores, load average %s, reps=%d, %s" % (
        subprocess.run(["gdb", "--version"], stdout=subprocess.PIPE, universal_newlines=True).stdout.splitlines()[0],
        GO_VERSION, os.cpu_count() or 0, " ".join("%.2f" % x for x in os.getloadavg()), reps,
        time.strftime("%Y-%m-%d")), flush=True)
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print("note: the machine is busy (load average above the number of cores): wall-clock figures are "
              "inflated; the cpu figures are closer to an idle machine's", flush=True)
    if "startup" in only:
        bench_startup(max(reps, 5))
    if "demo" in only:
        bench_demo(reps, a.profile)
    if "big" in only:
        bench_big(reps, a.profile)
    if "remote" in only:
        bench_remote(a.profile)
    print()
    print("%-26s %-46s %-10s %s" % ("figure", "value", "target", "verdict"))
    for row in ROWS:
        print("%-26s %-46s %-10s %s" % (row.figure, row.value, row.target, row.verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
