"""gdbinit.py in real gdb: where pygments (the one runtime dependency) comes from, what it warns about
(only what is really missing, once per session, with the cause), that no command needs pyelftools, and
the one line it prints when sourced at a stop in an ioctl rr would abort on. Ground truth: gdb's own
Python (find_spec, sys.path, sys.modules), and the kernel's /proc/PID/task/TID/syscall for which thread is
in the ioctl."""
import ast
import re

from tests.support.gdbrun import REPO, run_gdb
from tests.support.toolchains import build_go

LOAD = "source %s" % (REPO / "gdbinit.py")
# The kernel's view of every thread of the inferior: [(tid, [nr, arg0, arg1]), ...]
KERNEL_CMD = ("python print('KERNEL', [(int(t), open('/proc/%d/task/%s/syscall' % (gdb.selected_inferior().pid, t))"
              ".read().split()[:3]) for t in __import__('os').listdir('/proc/%d/task' % gdb.selected_inferior().pid)])")
THREADS_CMD = "python print('THREADS', sorted((t.num, t.ptid[1]) for t in gdb.selected_inferior().threads()))"


def _venv_site() -> str:
    site = sorted((REPO / ".venv" / "lib").glob("python*/site-packages"))
    assert site, "the project venv (tools/bootstrap.sh) has no site-packages"
    return str(site[0])


def _lines(output: str, prefix: str):
    return [ln for ln in output.splitlines() if ln.startswith(prefix)]


def test_venv_for_another_python_is_refused_with_one_line(tmp_path):
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.9" / "site-packages"
    site.mkdir(parents=True)
    (site / "pygments").mkdir()  # must not be picked up
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.18\n")
    res = run_gdb(["hide_pygments", "load_plugin", "run_commands"], None,
                  env={"GDB_RR_DMABUF_VENV": str(venv), "GDB_RR_DMABUF_QUIET": ""},
                  commands=["python import sys; print('SITE', [p for p in sys.path if 'python3.9' in p])",
                            "dmabuf-why --request 0xc0086202 --json"])
    warnings = _lines(res.output, "gdb-rr-dmabuf: warning:")
    assert len(warnings) == 1, res.output
    assert "is for Python 3.9 but gdb embeds Python 3." in warnings[0] and "tools/install.sh" in warnings[0]
    assert "SITE []" in res.section("c0")
    assert res.json("c1")["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]
    assert sum(ln.startswith("gdb-rr-dmabuf 0.1.0: dmabuf-why, go-callers") for ln in res.output.splitlines()) == 1


def test_packages_gdb_already_imports_need_no_venv_and_no_warning(tmp_path):
    """pygments on gdb's PYTHONPATH (as a distribution package would be): no venv is looked for, nothing is
    said but the banner, and go-callers answers."""
    res = run_gdb(["load_plugin", "run_commands"], None,
                  env={"GDB_RR_DMABUF_VENV": str(tmp_path / "none"), "PYTHONPATH": _venv_site(),
                       "GDB_RR_DMABUF_QUIET": ""},
                  commands=["python import importlib.util as u; print('SPEC', u.find_spec('pygments').origin)",
                            "go-callers"])
    assert res.section("c0").strip().startswith("SPEC " + _venv_site())
    assert _lines(res.output, "gdb-rr-dmabuf: warning") == [], res.output
    assert len(_lines(res.output, "gdb-rr-dmabuf 0.1.0")) == 1
    assert res.section("c1").strip() == ("go-callers: no process to inspect: run the program, attach, connect to "
                                         "rr's gdbserver or load a core file")


def test_missing_pygments_is_said_once_with_its_cause_and_the_commands_answer(tmp_path):
    nowhere = tmp_path / "no-venv"
    res = run_gdb(["hide_pygments", "load_plugin", "load_plugin", "run_commands"], build_go("demo"),
                  env={"GDB_RR_DMABUF_VENV": str(nowhere), "GDB_RR_DMABUF_QUIET": ""},
                  commands=[LOAD, "go-callers", "go-callers --json", "dmabuf-why --request 0xc0086202 --json"])
    warnings = _lines(res.output, "gdb-rr-dmabuf: warning:")
    assert len(warnings) == 1, res.output          # three `source`s, one warning ...
    assert len(_lines(res.output, "gdb-rr-dmabuf 0.1.0")) == 1  # ... and one banner
    w = warnings[0]
    assert "cannot import pygments (no source colouring without pygments; no venv at %s)" % nowhere in w, w
    assert w.endswith("run %s/tools/install.sh" % REPO) and "pyelftools" not in res.output
    assert res.section("c1").strip().startswith("go-callers: no process to inspect"), res.output[-2000:]
    assert res.json("c2")["error"]["what"] == "no process to inspect"
    assert res.json("c3")["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]


def _thread_in_ioctl(res, sec: str):
    """(gdb thread number, tid) of the one thread the kernel says is in ioctl(.., EXPORT_SYNC_FILE, ..)."""
    kernel = ast.literal_eval(re.search(r"^KERNEL (\[.*\])$", res.section(sec), re.M).group(1))
    tids = [tid for tid, sc in kernel if sc[:1] == ["16"] and sc[2:3] == ["0xc0086202"]]
    assert len(tids) == 1, kernel
    threads = ast.literal_eval(re.search(r"^THREADS (\[.*\])$", res.section("c1"), re.M).group(1))
    [num] = [n for n, lwp in threads if lwp == tids[0]]
    return num, tids[0]


def test_sourced_at_an_ioctl_stop_says_so_in_one_line():
    """The demo stopped after EXPORT_SYNC_FILE returned (rr's stop), then gdbinit.py sourced: one line
    names the thread the kernel says is in that ioctl and the command that explains it. Sourced again
    with another thread selected: nothing, since only the selected thread is read (rr's emergency
    gdbserver can end the session when gdb reads another thread); no second banner."""
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], build_go("demo"),
                  env={"GDBT_REQUEST": "0xc0086202", "GDB_RR_DMABUF_QUIET": ""},
                  inferior_env={"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"},
                  commands=[KERNEL_CMD, THREADS_CMD, "thread 1", LOAD])
    num, tid = _thread_in_ioctl(res, "c0")
    hint = ("gdb-rr-dmabuf: thread %d (LWP %d) is in ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE, which rr before 5.9.0 "
            "aborts on: `dmabuf-why` explains it")
    before = res.output.split("BEGIN c0")[0]
    assert _lines(before, "gdb-rr-dmabuf: thread") == [hint % (num, tid)], before[-2000:]
    again = res.section("c3")
    assert again.strip() == (hint % (num, tid) if num == 1 else ""), again
    assert len(_lines(res.output, "gdb-rr-dmabuf 0.1.0")) == 1


def test_no_stop_no_cost():
    """Nothing stopped (no process, or a program loaded but not run): no hint, and the ioctl tables and
    rr facts are not even imported."""
    mods = "python import sys; print('MODS', [m for m in ('gdb_rr_dmabuf.rr', 'gdb_rr_dmabuf.ioctl.names') if m in sys.modules])"
    for exe in (None, build_go("demo")):
        res = run_gdb(["load_plugin", "run_commands"], exe, env={"GDB_RR_DMABUF_QUIET": ""}, commands=[mods])
        assert "MODS []" in res.section("c0"), res.output[-2000:]
        assert _lines(res.output, "gdb-rr-dmabuf: thread") == []


def test_help_text_is_argparses_and_its_cache_follows_the_sources(tmp_path):
    """gdb's `help dmabuf-why` is argparse's own format_help() of the command's parser, whether it came
    from the cache (commands/__pycache__/help-*.txt, made at the first start-up) or not; editing a
    source changes it at the next start-up; a damaged cache file is formatted over again."""
    import shutil
    import subprocess
    copy = tmp_path / "proj"
    shutil.copytree(str(REPO / "gdb_rr_dmabuf"), str(copy / "gdb_rr_dmabuf"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(str(REPO / "gdbinit.py"), str(copy / "gdbinit.py"))
    fresh = ("python import argparse, gdb_rr_dmabuf.commands.dmabuf_why as m; "
             "print('FRESH' + repr(m.DmabufWhy.build_parser(m.DmabufWhy).format_help()))")
    shown = "python print('SHOWN' + repr(gdb.execute('help dmabuf-why', to_string=True)))"

    def start() -> tuple:
        env = dict(__import__("os").environ, COLUMNS="100", GDB_RR_DMABUF_QUIET="1")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        out = subprocess.run(["gdb", "-nx", "-q", "-batch", "-ex", "source %s" % (copy / "gdbinit.py"),
                              "-ex", fresh, "-ex", shown], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=120).stdout
        vals = {ln[:5]: ast.literal_eval(ln[5:]) for ln in out.splitlines() if ln[:5] in ("FRESH", "SHOWN")}
        assert set(vals) == {"FRESH", "SHOWN"}, out
        return vals["FRESH"], vals["SHOWN"]

    cache_dir = copy / "gdb_rr_dmabuf" / "commands" / "__pycache__"
    f, s = start()
    assert s.rstrip("\n") == f.rstrip("\n") and "--from-log" in s
    caches = sorted(cache_dir.glob("help-dmabuf-why-*.txt"))
    assert len(caches) == 1 and caches[0].read_text() == f
    f2, s2 = start()  # from the cache
    assert s2 == s and sorted(cache_dir.glob("help-dmabuf-why-*.txt")) == caches
    src = copy / "gdb_rr_dmabuf" / "commands" / "dmabuf_why.py"
    src.write_text(src.read_text().replace("Decode the pending ioctl", "Decode THE pending ioctl"))
    f3, s3 = start()
    assert "Decode THE pending ioctl" in s3 and s3.rstrip("\n") == f3.rstrip("\n")
    assert len(list(cache_dir.glob("help-dmabuf-why-*.txt"))) == 2
    for c in cache_dir.glob("help-dmabuf-why-*.txt"):
        c.write_bytes(b"\xff\xfe\x00junk")
    f4, s4 = start()
    assert s4.rstrip("\n") == f4.rstrip("\n") and "Decode THE pending ioctl" in s4


ANSWERS = ["dmabuf-why --json", "go-callers --json", "go-goroutines --json", "dmabuf-why"]


def test_no_command_needs_pyelftools():
    """pyelftools is a test dependency only. At the demo's stop, with pyelftools importable (on gdb's
    PYTHONPATH), dmabuf-why, go-callers and go-goroutines answer in full and import nothing of it (not even
    at their modules' first import); then, at the same stop, with it hidden (import fails) and the
    executable read afresh, they answer the same."""
    mods = ("python import sys; print('ELFTOOLS', sorted(m for m, v in sys.modules.items() "
            "if m.split('.')[0] == 'elftools' and v is not None))")
    hide = ("source %s; python from gdb_rr_dmabuf.go_runtime.binary import GoBinary; GoBinary.clear_cache()"
            % (REPO / "tests" / "gdb_scripts" / "hide_pyelftools.gdb"))
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], build_go("demo"),
                  env={"PYTHONPATH": _venv_site(), "GDB_RR_DMABUF_QUIET": "", "GDBT_REQUEST": "0xc0086202"},
                  inferior_env={"DMADEMO_KERNEL": "simulate", "DMADEMO_PATH": "cgo"},
                  commands=["python import importlib.util as u; print('SPEC', u.find_spec('elftools').origin)"]
                  + ANSWERS + [mods] + hide.split("; ", 1) + ANSWERS + [mods])
    assert "internal error" not in res.output and "Traceback" not in res.output, res.output[-3000:]
    assert _lines(res.output, "gdb-rr-dmabuf: warning") == [] and "pyelftools" not in res.output
    n = len(ANSWERS)
    assert res.section("c0").strip().startswith("SPEC " + _venv_site())      # importable ...
    assert res.section("c%d" % (n + 1)).strip() == "ELFTOOLS []"            # ... and not imported
    normal = [res.section("c%d" % (1 + i)) for i in range(n)]
    hidden = [res.section("c%d" % (n + 4 + i)) for i in range(n)]
    assert hidden == normal
    assert res.section("c%d" % (2 * n + 4)).strip() == "ELFTOOLS []"
    # In full: the call decoded, the Go caller named, the goroutines listed.
    assert res.json("c1")["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]
    caller = res.json("c2")
    assert caller["caller"]["function"] == "example.com/dmademo/internal/gpu.ExportSyncFile", caller
    assert res.json("c3")["goroutines"], hidden[2][:2000]
    text = hidden[3]
    assert text.startswith("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned 0") and "go-callers:" not in text, text
    assert "gpu.ExportSyncFile" in text, text
