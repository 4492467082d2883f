"""`check` in the lab VM (real trixie kernel with udmabuf, real Mesa 25, gdb 16.3 + Python 3.13 in the guest):
each x86-64 lab program run by `python3 -m gdb_rr_dmabuf check` inside the guest, without rr.

Ground truth from outside check: strace -f -yy of the same program in the guest (stops.truth: the
DMA_BUF_IOCTL_EXPORT_SYNC_FILE line, its fd's path and result), the program's own goroutine line and
runtime.Stack (stops.go_stack_truth), its own success line and exit status. The programs run with their lab
environment minus LIBGL_ALWAYS_SOFTWARE, which check itself adds as rr does.

The arm64 lab (lab_vm_arm64: trixie arm64 under qemu-system-aarch64): the demo's direct syscall path (the
real kernel's udmabuf), stopped the same way (aarch64 registers: x8 = 29, x0 = the result; the fd comes from dmabuf-why's
recovery).

Cost: one `check --rr-version 5.8.0` per program (the stop, gdb attached in the guest; with --verify for eglgo
and vkgo: one re-run per environment setting the advice names, each run again under strace) and one
`check --rr-version 5.9.0` per program."""
import json
import os
import re
import time

import pytest

from tests.fixtures.lab import gui, stops
from tests.support.gdbrun import REPO
from tests.support.gotraceback import parse_traceback
from tests.support.lab import lab_vm, lab_vm_arm64  # noqa: F401  (the session fixtures)

NAMES = list(stops.PROGRAMS)  # demo, eglgo, vkgo, egl_c
EXPECT_CALLER = {"demo": "example.com/dmademo/internal/gpu.ExportSyncFile",
                 "eglgo": "example.com/labegl/internal/egl.NewDisplay.func1",
                 "vkgo": "example.com/labvk/internal/vk.(*Instance).PhysicalDevices.func1"}
_runs = {}


def run_check(vm, name, *opts, timeout=600):
    """check --json in the guest; (exit status, the JSON object, the program's output, seconds). Memoised."""
    key = (id(vm), name, opts)
    if key in _runs:
        return _runs[key]
    env = {k: v for k, v in stops.program(vm, name).env.items() if k != "LIBGL_ALWAYS_SOFTWARE"}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(REPO))
    t0 = time.time()
    rc, out, err = vm.run(["python3", "-m", "gdb_rr_dmabuf", "check", "--json"] + list(opts)
                          + ["--", vm.to_guest(stops.exe(name, vm))], env=env, cwd=str(REPO), timeout=timeout)
    secs = time.time() - t0
    assert out.startswith("{"), (rc, out[-2000:], err[-3000:])
    _runs[key] = (rc, json.loads(out), err, secs)
    return _runs[key]


@pytest.mark.parametrize("name", NAMES)
def test_rr_58_stops_at_export_sync_file(lab_vm, name):
    opts = ("--verify",) if name in ("eglgo", "vkgo") else ()  # the advice's settings re-run (Mesa programs)
    rc, d, log, _ = run_check(lab_vm, name, *opts, "--rr-version", "5.8.0")
    t = stops.truth(lab_vm, name)
    assert len(t.exports) == 1 and t.exports[0]["result"] == 0, t.trace[-2000:]
    assert rc == 1 and d["verdict"] == "aborts", (d, log[-2000:])
    st, why = d["stop"], d["dmabuf_why"]
    assert (st["request"], st["result"]) == (stops.EXPORT, t.exports[0]["result"])
    assert why["request"]["names"] == [stops.EXPORT_NAME] and why["syscall"]["state"] == "exit"
    assert why["syscall"]["result"] == 0 and why["rr"]["would_stop"] is True
    assert why["rr"]["supported_since"] == "5.9.0" and why["rr"]["rr_version"] == "5.8.0"
    # the fd: strace -yy names it <dmabuf:...> (a udmabuf's dma-buf); gdb reads /proc in the guest
    assert (t.exports[0]["fd_path"] or "").startswith("/dmabuf:"), t.exports
    assert why["fd"]["target"].startswith("/dmabuf:"), why["fd"]
    assert "registers_mismatch" not in d and "gdb_error" not in d, d
    if not stops.PROGRAMS[name].go:
        assert d["go_callers"] is None
        return
    own = stops.go_stack_truth(log)
    c = d["go_callers"]
    assert own["goid"] and c["goroutine"]["id"] == own["goid"], (c["goroutine"], own)
    assert c["goroutine"]["created_by"]["function"] == own["created_by"]
    assert c["caller"]["function"] == EXPECT_CALLER[name]
    go = [f["function"] for f in c["frames"] if f["kind"] == "go"]
    outer = own["functions"][1:]
    assert outer and go[-len(outer):] == outer, (go, own["functions"])
    if name == "eglgo":  # its caller locks its OS thread: the stopped thread is the one that printed
        assert st["tid"] == own["tid"]


@pytest.mark.parametrize("name", NAMES)
def test_rr_59_records_the_run(lab_vm, name):
    rc, d, log, _ = run_check(lab_vm, name, "--rr-version", "5.9.0")
    assert rc == 0 and d["verdict"] == "records", (d, log[-2000:])
    assert d["program_end"] == {"how": "exited", "status": 0, "signal": None}
    assert stops.succeeded(name, 0, log), log[-2000:]
    # every ioctl strace sees was seen; 5.9.0 handles EXPORT_SYNC_FILE by name, so it was not followed
    t = stops.truth(lab_vm, name)
    assert d["counts"]["ioctls"] == len(re.findall(r"^(?:\d+ +)?ioctl\(", t.trace, re.M)), t.trace[-3000:]


def _verify(d, env):
    got = [v for v in d.get("verify", []) if v["env"] == env]
    assert got, ("no --verify run with %s" % env, d.get("verify"))
    return got[0]


def test_verify_softpipe_removes_the_abort_and_egl_still_works(lab_vm):
    """(strace's view of the same runs: test_every_verify_run_matches_strace)"""
    rc, d, log, _ = run_check(lab_vm, "eglgo", "--verify", "--rr-version", "5.8.0")
    v = _verify(d, "GALLIUM_DRIVER=softpipe")
    assert v["abort_gone"] is True and v["program"] == "exited with status 0", v
    assert any(re.search(stops.PROGRAMS["eglgo"].ok, ln) for ln in v["last_output"]), v


def test_verify_vulkan_knob_removes_the_abort_and_the_device(lab_vm):
    rc, d, log, _ = run_check(lab_vm, "vkgo", "--verify", "--rr-version", "5.8.0")
    vk = [v for v in d["verify"] if v["env"].startswith("VK_LOADER_DRIVERS_DISABLE=")]
    assert vk, d["verify"]
    v = vk[0]
    assert v["abort_gone"] is True and v["program"] == "exited with status 1", v
    assert any(re.match(r"LAB FAIL (no Vulkan physical device|vkEnumeratePhysicalDevices: VkResult -3)$", ln)
               for ln in v["last_output"]), v


@pytest.mark.parametrize("name", ["eglgo", "vkgo"])
def test_every_verify_run_matches_strace(lab_vm, name):
    """Each setting --verify tried, run again under strace in the guest: the export is gone exactly when check
    said so, and the program's exit status is the one check reported."""
    rc, d, log, _ = run_check(lab_vm, name, "--verify", "--rr-version", "5.8.0")
    assert d["verify"]
    for v in d["verify"]:
        r = stops.strace_run(lab_vm, name, dict([v["env"].split("=", 1)]))
        assert v["abort_gone"] is (len(r.exports) == 0), (v, r.trace[-2000:])
        if v["abort_gone"]:
            assert v["program"] == "exited with status %d" % r.rc, (v, r.rc)
            assert (r.rc == 0) is stops.succeeded(name, r.rc, r.stdout), r.stdout[-1500:]


@pytest.mark.parametrize("name", ["demo-direct"])  # Mesa under arm64 TCG costs minutes per run: EGL was tried by hand
def test_arm64_rr_58_stops_at_export_sync_file(lab_vm_arm64, name):
    vm = lab_vm_arm64
    rc, d, log, _ = run_check(vm, name, "--rr-version", "5.8.0")
    t = stops.truth(vm, name)
    assert len(t.exports) == 1 and t.exports[0]["result"] == 0, t.trace[-2000:]
    assert rc == 1 and d["verdict"] == "aborts", (d, log[-2000:])
    st, why, c = d["stop"], d["dmabuf_why"], d["go_callers"]
    assert (st["request"], st["result"]) == (stops.EXPORT, 0)
    assert why["request"]["names"] == [stops.EXPORT_NAME] and why["syscall"]["number"] == 29
    assert why["syscall"]["state"] == "exit" and why["syscall"]["result"] == 0
    assert why["fd"]["number"] == st["fd"] == t.exports[0]["fd"] and why["fd"]["target"].startswith("/dmabuf:")
    assert "registers_mismatch" not in d and "gdb_error" not in d, d
    own = stops.go_stack_truth(log)
    assert c["goroutine"]["id"] == own["goid"] and c["goroutine"]["created_by"]["function"] == own["created_by"]
    assert c["caller"]["function"] == {"demo-direct": "example.com/dmademo/internal/gpu.ExportSyncFileDirect",
                                       "eglgo": EXPECT_CALLER["eglgo"]}[name]
    if name == "eglgo":
        assert st["tid"] == own["tid"]


# ---------------------------------------------------------------------------------------------
# Go GUI programs others built (tests/fixtures/lab/gui.py): Debian's nwg-look, ymuse and nwg-bar on Xvfb

GUI = gui.NAMES
GTK_RULE = "go-gotk3-gtk3-glx"
GTK_KNOBS = ["GDK_GL=disable", "GALLIUM_DRIVER=softpipe"]


def run_gui_check(vm, name, *opts):
    """check --json --until (the program's window is mapped: gui.until_window) in the guest, the program started
    as the first GTK 3 client on Xvfb; (exit status, JSON, the program's output, seconds, windows): windows are
    the --until command's lines, one per run that mapped its window: (pid, whether GDK had set up GLX, i.e. the
    root window had GDK_VISUALS). Memoised."""
    key = (id(vm), name, opts)
    if key in _runs:
        return _runs[key]
    gui.xserver(vm)
    gui.first_gtk_client(vm)
    log = "/tmp/lab-check-gui-%s-%d.windows" % (name, int(time.time() * 1000))
    env = {"DISPLAY": gui.DISPLAY, "GOTRACEBACK": "all", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO)}
    t0 = time.time()
    rc, out, err = vm.run(["python3", "-m", "gdb_rr_dmabuf", "check", "--json", "--timeout", str(gui.WINDOW_LIMIT),
                           "--until", gui.until_window(name, log)] + list(opts) + ["--", gui.PROGRAMS[name].exe],
                          env=env, cwd=str(REPO), timeout=4 * gui.WINDOW_LIMIT + 600)
    secs = time.time() - t0
    _, wins, _ = vm.run(["sh", "-c", 'cat "$1" 2>/dev/null; rm -f "$1"', "sh", log], timeout=60)
    assert out.startswith("{"), (rc, out[-2000:], err[-3000:])
    windows = []
    for ln in wins.splitlines():
        m = re.match(r"^(\d+) GDK_VISUALS(?:\(INTEGER\) = \d+, \d+|:\s+not found\.)$", ln)
        assert m, wins
        windows.append((int(m.group(1)), "not found" not in ln))
    _runs[key] = (rc, json.loads(out), err, secs, windows)
    return _runs[key]


def gui_own_traceback(vm, name):
    """The program's own traceback at its probe (tests/test_lab_gui.py's remote stop: SIGQUIT delivered there)."""
    tb = gui.remote(vm, name).extra["traceback"]
    at = tb.find("SIGQUIT: quit")
    assert at >= 0 and "signal arrived during cgo execution" in tb[at:], tb[-4000:]
    return parse_traceback(tb[at:])


def _gui_stop_agrees(vm, name, rc, d, log):
    """check's stop at rr 5.8.0 on a GUI program against strace in the guest and the program's own traceback:
    the probe (result 0 on a /dmabuf: fd), goroutine 1 and its Go frames, gotk3's caller, the GTK rule first.
    Returns strace's run and dmabuf-why's JSON."""
    t = gui.truth(vm, name)
    assert len(t.exports) == 1 and t.exports[0]["result"] == 0, t.truth.trace[-2000:]
    assert rc == 1 and d["verdict"] == "aborts", (d, log[-2000:])
    st, why, c = d["stop"], d["dmabuf_why"], d["go_callers"]
    assert (st["request"], st["result"]) == (stops.EXPORT, 0) and st["executable"] == gui.PROGRAMS[name].exe, st
    assert why["syscall"]["state"] == "exit" and why["fd"]["target"].startswith("/dmabuf:"), (why["syscall"], why["fd"])
    assert "registers_mismatch" not in d and "gdb_error" not in d, d
    own = gui_own_traceback(vm, name)
    assert c["goroutine"]["id"] == own.goid and c["goroutine"]["created_by"] is None is own.created_by
    ours = [f["function"] for f in c["frames"] if f["kind"] == "go" and f["function"] != "runtime.goexit"]
    assert ours == [f.function for f in own.frames if f.function != "runtime.goexit"], (ours, own.frames)
    p = gui.PROGRAMS[name]
    assert c["caller"]["function"] == p.gtk_call or c["caller"]["function"].startswith(p.gtk_call + ".func")
    assert [x["rule_id"] for x in why["suggestions"]][0] == GTK_RULE, why["suggestions"]
    return t, why


@pytest.mark.parametrize("name", GUI)
def test_gui_rr_58_stops_at_the_probe_and_verifies_the_gtk_knobs(lab_vm, name):
    """rr 5.8.0: check stops at the probe strace sees (the first GTK 3 client: gui.FIRST_GTK_CLIENT), go-callers
    names the goroutine and frames of the program's own traceback, the GTK rule comes first, and --verify runs
    the program again with each of its settings: no abort, and the program came up (its window mapped: the
    --until command saw it; without GL for GDK_GL=disable, through GLX with softpipe for GALLIUM_DRIVER)."""
    rc, d, log, _, windows = run_gui_check(lab_vm, name, "--verify", "--rr-version", "5.8.0")
    t, why = _gui_stop_agrees(lab_vm, name, rc, d, log)
    assert why["request"]["names"] == [stops.EXPORT_NAME]
    assert why["rr"]["would_stop"] is True and why["rr"]["rr_version"] == "5.8.0"
    assert t.exports[0]["fd_path"].startswith("/dmabuf:"), t.exports
    # --verify: the GTK rule's settings (the Mesa rule's softpipe is the same setting), in the rule's order
    assert [v["env"] for v in d["verify"]] == GTK_KNOBS, d["verify"]
    for v in d["verify"]:
        assert v["abort_gone"] is True, v
        assert v["program"].startswith("was still running when --until's command succeeded"), v
    # the stop run ended at the probe, before any window; each --verify run mapped its window
    assert [gl for _, gl in windows] == [False, True], windows


@pytest.mark.parametrize("name", GUI)
def test_gui_verify_runs_match_strace(lab_vm, name):
    """Each setting check --verify proved, run again under strace as the first GTK 3 client (gui.run): no
    probe exactly when check said so, and the window mapped."""
    rc, d, log, _, _ = run_gui_check(lab_vm, name, "--verify", "--rr-version", "5.8.0")
    for v in d["verify"]:
        r = gui.run(lab_vm, name, dict([v["env"].split("=", 1)]))
        assert v["abort_gone"] is (len(r.exports) == 0), (v, r.truth.trace[-2000:])
        assert r.came_up, (v, r.window, r.rc, r.log[-2000:])


@pytest.mark.parametrize("name", GUI)
def test_gui_rr_59_reports_no_abort(lab_vm, name):
    rc, d, log, _, windows = run_gui_check(lab_vm, name, "--rr-version", "5.9.0")
    assert rc == 0 and d["verdict"] == "records", (d, log[-2000:])
    assert d["program_end"] == {"how": "until", "status": None, "signal": None}, d["program_end"]
    assert [gl for _, gl in windows] == [True], windows     # it came up through GLX (llvmpipe, the probe)
    assert d["counts"]["ioctls"] > 0


# The arm64 lab's GUI programs (tests/test_lab_gui_arm64.py): ymuse by default (arm64 TCG: a GTK start-up under
# check costs a minute or more), nwg-look with --verify too under LAB_GUI_ARM64=all.
GUI_ARM64 = ["ymuse", "nwg-look"] if os.environ.get("LAB_GUI_ARM64") == "all" else ["ymuse"]


@pytest.mark.parametrize("name", GUI_ARM64)
def test_arm64_gui_rr_58_stops_at_the_probe(lab_vm_arm64, name):
    """As on x86-64: rr 5.8.0 stops at the probe strace sees in the arm64 guest, go-callers names the goroutine
    and Go frames of the program's own traceback, the GTK rule comes first; with LAB_GUI_ARM64=all, --verify
    proves the GTK rule's settings there too."""
    vm = lab_vm_arm64
    full = os.environ.get("LAB_GUI_ARM64") == "all"
    rc, d, log, _, windows = run_gui_check(vm, name, *((["--verify"] if full else []) + ["--rr-version", "5.8.0"]))
    t, why = _gui_stop_agrees(vm, name, rc, d, log)
    assert why["syscall"]["number"] == 29 and why["fd"]["number"] == t.exports[0]["fd"], (why["syscall"], why["fd"])
    if full:
        assert [v["env"] for v in d["verify"]] == GTK_KNOBS and all(v["abort_gone"] for v in d["verify"]), d["verify"]
        assert [gl for _, gl in windows] == [False, True], windows
    else:
        assert windows == [], windows          # the run ended at the probe, before any window


def test_check_figures(lab_vm, capsys):
    """Not an assertion about speed: what each check run in the guest took (TCG)."""
    rows = []
    for k, v in sorted(_runs.items(), key=lambda kv: kv[0][1:]):
        rows.append("%-12s %-40s rc=%d %.1fs" % (k[1], " ".join(k[2]), v[0], v[3]))
        if k[1] in gui.PROGRAMS:   # the GUI programs: what check said
            d, c = v[1], v[1].get("go_callers") or {}
            rows[-1] += "  %s%s%s; windows mapped %d" % (
                d["verdict"], ", goroutine %s, caller %s" % ((c.get("goroutine") or {}).get("id"),
                                                            (c.get("caller") or {}).get("function")) if c else "",
                "".join("; %s: abort gone %s" % (x["env"], x["abort_gone"]) for x in d.get("verify", [])), len(v[4]))
    with capsys.disabled():
        print("\ncheck in the lab:\n  " + "\n  ".join(rows or ["(none: run with the other lab-check tests)"]))
