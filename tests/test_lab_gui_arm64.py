"""Go GUI programs others built, in the arm64 lab: Debian trixie's own arm64 builds of nwg-look, ymuse and
nwg-bar (Go 1.24.4, -trimpath, cgo, gotk3 on GTK 3), installed by name from trixie's arm64 archive into the
arm64 rootfs (tools/lab/labbuild.py GUI_PACKAGES; nothing of theirs is built here), run on Xvfb in the
arm64 guest (qemu-system-aarch64, TCG) with rr's environment: GTK 3's start-up reaches GLX, Mesa's llvmpipe
and its DMA_BUF_IOCTL_EXPORT_SYNC_FILE probe, as on x86-64 (tests/test_lab_gui.py, whose fixtures
tests/fixtures/lab/gui.py serve both architectures).

Ground truth from outside our code: strace -f -yy in the guest (the probe's request, result and its
/dmabuf: fd), the guest's /proc at the stop, gdb's own frames for the C side, and the program's own
traceback (GOTRACEBACK=all; gdb delivers SIGQUIT at the stop and passes it). The stop is remote (rr's
emergency layout): the host's gdb-multiarch over the guest's gdbserver, `catch syscall ioctl` with
x1 == the request (tests/gdb_scripts/lab_arm64_remote_stop.gdb).

Under arm64 TCG a GTK start-up costs 7-30 s and a remote stop 40-70 s. By default: all three programs'
strace runs, the remote stops of nwg-look (gtk.Init) and ymuse (PIE, GApplication), and the knobs' closed
loop on nwg-bar (re-run with GDK_GL=disable and with GALLIUM_DRIVER=softpipe: no probe, its window still
mapped). LAB_GUI_ARM64=all runs the closed loop on every program and adds the other lab modes of both
stops: gdb 16.3 in the guest (both programs in one gdb, tests/gdb_scripts/lab_gui_native_batch.gdb; /proc
read there) and a core of each stop, read by the host's gdb-multiarch.
"""
import os
import re
import subprocess

import pytest

from tests.fixtures.lab import gui, gui_checks
from tests.fixtures.lab.gui_checks import GTK_RULE, own_traceback, theirs
from tests.support.lab import lab_vm_arm64  # noqa: F401  (the session fixture)
from tests.support.suggestions import env_of_command
from tests.support.toolchains import go_root

ALL = os.environ.get("LAB_GUI_ARM64") == "all"
NAMES = gui.NAMES
STOPPED = gui.STOPPED
# The knobs' closed loop: by default on nwg-bar (its start-ups are the shortest: 7-13 s each under TCG).
KNOB_NAMES = gui.NAMES if ALL else ["nwg-bar"]
# The stops: remote by default; LAB_GUI_ARM64=all adds gdb 16.3 in the guest (both programs in one gdb, a
# core of each stop written there) and those cores read by the host's gdb-multiarch.
MODES = ["remote", "native", "core"] if ALL else ["remote"]
CASES = [(m, n) for n in STOPPED for m in MODES]


@pytest.fixture(params=CASES, ids=["%s-%s" % c for c in CASES])
def case(request, lab_vm_arm64):  # noqa: F811
    mode, name = request.param
    if mode != "remote":
        # one guest gdb per program: the arm64 root disk has room for one GUI core at a time in the guest's
        # /tmp (two in one batch left ymuse's truncated: "not a core dump")
        gui.native_batch(lab_vm_arm64, [name])
    return mode, name, gui.stop(lab_vm_arm64, mode, name)


@pytest.mark.parametrize("name", NAMES)
def test_the_program_is_debians_arm64_go_build(lab_vm_arm64, name):  # noqa: F811
    p = gui.PROGRAMS[name]
    exe = gui.host_exe(lab_vm_arm64, name)
    manifest = (lab_vm_arm64.rootfs / ".lab-manifest").read_text()
    assert re.search(r"^%s=\S+$" % re.escape(p.package), manifest, re.M), "not installed from trixie"
    head = subprocess.run(["readelf", "-h", str(exe)], stdout=subprocess.PIPE, universal_newlines=True,
                          check=True, timeout=60).stdout
    assert re.search(r"Machine:\s+AArch64", head), head
    goroot = go_root(gui_checks.GO_TOOLS)
    out = subprocess.run([str(goroot / "bin" / "go"), "version", "-m", str(exe)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True, timeout=60,
                         env=dict(os.environ, GOROOT=str(goroot))).stdout
    assert out.splitlines()[0].endswith(": go1.24.4"), out
    assert "\tpath\t%s\n" % p.path in out and "\tbuild\tGOARCH=arm64\n" in out, out
    assert "\tbuild\t-trimpath=true\n" in out and "\tbuild\tCGO_ENABLED=1\n" in out, out
    assert ("\tbuild\t-buildmode=pie\n" in out) == p.pie, out


def _entries(cache: str):
    return [line for line in cache.splitlines() if line and not line.startswith("#")]


def test_the_unpacked_rootfs_has_what_the_gui_triggers_make(lab_vm_arm64):  # noqa: F811
    """labbuild._guest_gui_caches ran the guest's tools under qemu-user on host paths and rewrote them: the
    same tools run in the guest itself give the same caches, byte for byte."""
    lib = "/usr/lib/aarch64-linux-gnu"
    for tool, cache in (("gdk-pixbuf-2.0/gdk-pixbuf-query-loaders", "gdk-pixbuf-2.0/2.10.0/loaders.cache"),
                        ("libgtk-3-0t64/gtk-query-immodules-3.0", "gtk-3.0/3.0.0/immodules.cache")):
        rc, out, err = lab_vm_arm64.run("%s/%s" % (lib, tool), timeout=300)
        assert rc == 0, err
        made = (lab_vm_arm64.rootfs / lib.lstrip("/") / cache).read_text()
        # (run without arguments, the tools add a comment naming the paths they searched)
        assert _entries(out) == _entries(made) and len(_entries(made)) > 5, (tool, out[:1000], made[:1000])
    for f in ("usr/share/glib-2.0/schemas/gschemas.compiled", "usr/share/mime/mime.cache",
              "usr/share/icons/hicolor/icon-theme.cache", "usr/share/icons/Adwaita/icon-theme.cache"):
        assert (lab_vm_arm64.rootfs / f).is_file(), f


@pytest.mark.parametrize("name", NAMES)
def test_the_program_reaches_the_probe_under_xvfb(lab_vm_arm64, name):  # noqa: F811
    gui_checks.reaches_the_probe(gui.truth(lab_vm_arm64, name))


def test_why_matches_strace_and_proc(case, lab_vm_arm64):  # noqa: F811
    mode, name, st = case
    gui_checks.why_matches(mode, st, gui.truth(lab_vm_arm64, name))


def test_callers_match_the_programs_own_traceback(case):
    gui_checks.callers_match_traceback(case[2])


def test_caller_and_the_gotk3_rule(case, lab_vm_arm64):  # noqa: F811
    mode, name, st = case
    c = st.callers
    p = gui.PROGRAMS[name]
    assert c["caller"]["function"] == p.gtk_call or c["caller"]["function"].startswith(p.gtk_call + ".func"), c["caller"]
    assert c["caller"]["package"].startswith("github.com/gotk3/gotk3/")
    sugs = st.why["suggestions"]
    assert [s["rule_id"] for s in sugs] == [GTK_RULE, "mesa-llvmpipe-fence-probe", "rr-upgrade"], sugs
    assert st.callers["suggestions"] == sugs
    own = next(t for t in theirs(own_traceback(st)) if t.function.startswith("main."))
    top = sugs[0]
    assert "for %s (%s:%d, through gotk3)" % (own.function, own.file, own.line) in top["title"], top["title"]
    exe = p.exe if mode != "core" else str(gui.host_exe(lab_vm_arm64, name))   # as gdb knows the program
    assert top["commands"] == ["rr record -v GDK_GL=disable %s" % exe, "rr record -v GALLIUM_DRIVER=softpipe %s" % exe]


def test_native_frames_are_gdbs_own(case):
    gui_checks.native_path(case[2], ("drmIoctl", "driCreateNewScreen3", "gdk_display_manager_open_display",
                                     "gtk_init_check"))


KNOBS = [{"GDK_GL": "disable"}, {"GALLIUM_DRIVER": "softpipe"}]


@pytest.mark.parametrize("name", KNOB_NAMES)
def test_the_gtk_rules_knobs(lab_vm_arm64, name):  # noqa: F811
    from gdb_rr_dmabuf import advice
    rule = next(r for r in advice.load_rules() if r.id == GTK_RULE)
    envs = [env_of_command(c.format(exe=gui.PROGRAMS[name].exe, args="")) for c in rule.commands]
    assert envs == KNOBS
    assert len(gui.truth(lab_vm_arm64, name).exports) == 1
    for env in envs:
        r = gui.run(lab_vm_arm64, name, env)
        assert len(r.exports) == 0, (env, r.truth.trace[-2000:])
        assert r.came_up, (env, r.window, r.rc, r.log[-2000:])


def _more(st, kind: str) -> str:
    if kind == "remote":
        return "to the stop and its commands; %.1fs with SIGQUIT" % st.extra["total_seconds"]
    if kind == "native":
        return "to the stop, the commands, gcore, SIGQUIT; gdb's start-up %.0fs, the core copied out in %.0fs" % (
            st.extra["batch_startup_seconds"], st.extra["core_copy_seconds"])
    return "the core (%d MB) read on the host" % (st.extra["core_bytes"] >> 20)


def test_gui_arm64_figures(lab_vm_arm64, capsys):  # noqa: F811
    """Not an assertion: per run and per stop, the seconds it took, and what go-callers named."""
    rows = []
    for (vmid, kind, *rest), v in sorted(gui._memo.items(), key=lambda kv: str(kv[0])):
        if vmid != id(lab_vm_arm64) or not rest:
            continue
        if kind == "run":
            env = " ".join("%s=%s" % kv for kv in rest[1]) or "(rr's environment)"
            rows.append("%-8s run %-26s exports=%d window=%s up in %.1fs, run %.1fs" % (
                rest[0], env, len(v.exports), "yes" if v.came_up else "NO", v.up_seconds, v.seconds))
        elif kind in gui.MODES:
            c = v.callers
            rows.append("%-8s %-6s %6.1fs (%s); goroutine %s, caller %s, "
                        "advice %s" % (rest[0], kind, v.seconds, _more(v, kind), (c.get("goroutine") or {}).get("id"),
                                       (c.get("caller") or {}).get("function"),
                                       ",".join(s["rule_id"] for s in v.why["suggestions"])))
    with capsys.disabled():
        print("\nlab GUI programs (arm64):\n  " + "\n  ".join(rows or ["(none: run with the other tests)"]))
