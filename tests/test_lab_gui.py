"""Go GUI programs others built, in the lab (x86-64): Debian trixie's own nwg-look and ymuse (and nwg-bar),
Go 1.24.4 with -trimpath and cgo on gotk3/GTK 3, installed by name from trixie (nothing of theirs is built
here), started on Xvfb in the guest with rr's environment. GTK 3's start-up opens the X display, GDK
initialises GLX and Mesa's llvmpipe makes its DMA_BUF_IOCTL_EXPORT_SYNC_FILE probe (rr 5.8 aborts there).

Each program is stopped at the probe's return in every lab mode (tests/fixtures/lab/gui.py: the host's gdb
over the guest's gdbserver, gdb 16.3 in the guest, a core of that stop read on the host) and checked against
ground truth from outside our code: strace -f -yy and /proc in the guest, `go tool addr2line` on the binary,
gdb's own frames for the C side, and the program's own traceback for the goroutine that made the call
(GOTRACEBACK=all, SIGQUIT delivered at the stop; gdb passes it and the Go runtime prints every goroutine).
The advice's knobs are proven by the closed loop: the program run again with each (under strace, without rr):
no probe, and its window is still mapped (xwininfo in the guest).
"""
import os
import re
import subprocess

import pytest

from gdb_rr_dmabuf import advice
from tests.fixtures.lab import gui, gui_checks, stops
from tests.fixtures.lab.gui_checks import own_traceback, theirs as _theirs
from tests.support.gdbrun import physical_frames
from tests.support.lab import lab_vm  # noqa: F401  (the session fixture)
from tests.support.suggestions import NOT_CHECKABLE, env_of_command
from tests.support.toolchains import go_root

MODES = list(gui.MODES)
CASES = [(m, n) for n in gui.STOPPED for m in MODES]
ADDR2LINE_GO = gui_checks.GO_TOOLS      # Debian built these with Go 1.24.4; Go's addr2line from 1.24 on reads them
GTK_RULE = gui_checks.GTK_RULE


@pytest.fixture(params=CASES, ids=["%s-%s" % c for c in CASES])
def case(request, lab_vm):
    mode, name = request.param
    return mode, name, gui.stop(lab_vm, mode, name)


# ---------------------------------------------------------------------------------------------
# The programs are Debian's, and they reach the real probe under Xvfb

@pytest.mark.parametrize("name", gui.NAMES)
def test_the_program_is_debians_go_build(lab_vm, name):
    p = gui.PROGRAMS[name]
    manifest = (lab_vm.rootfs / ".lab-manifest").read_text()
    assert re.search(r"^%s=\S+$" % re.escape(p.package), manifest, re.M), "not installed from trixie"
    goroot = go_root(ADDR2LINE_GO)
    out = subprocess.run([str(goroot / "bin" / "go"), "version", "-m", str(gui.host_exe(lab_vm, name))],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True, timeout=60,
                         env=dict(os.environ, GOROOT=str(goroot))).stdout
    assert out.splitlines()[0].endswith(": go1.24.4"), out
    assert "\tpath\t%s\n" % p.path in out and "\tbuild\t-trimpath=true\n" in out and "\tbuild\tCGO_ENABLED=1\n" in out
    assert ("\tbuild\t-buildmode=pie\n" in out) == p.pie, out
    assert "\tdep\t" not in out      # Debian builds in GOPATH mode: no dependency versions


@pytest.mark.parametrize("name", gui.NAMES)
def test_the_program_reaches_the_probe_under_xvfb(lab_vm, name):
    gui_checks.reaches_the_probe(gui.truth(lab_vm, name))


# ---------------------------------------------------------------------------------------------
# dmabuf-why against strace and the guest's /proc at the stop

def test_why_matches_strace_and_proc(case, lab_vm):
    mode, name, st = case
    gui_checks.why_matches(mode, st, gui.truth(lab_vm, name))


# ---------------------------------------------------------------------------------------------
# go-callers against the program's own traceback, go tool addr2line, and gdb's frames

def test_callers_match_the_programs_own_traceback(case):
    mode, name, st = case
    gui_checks.callers_match_traceback(st)


def test_caller_and_the_programs_own_function(case):
    mode, name, st = case
    c = st.callers
    p = gui.PROGRAMS[name]
    # go-callers' caller: the nearest non-runtime, non-cgo frame, gotk3's function that calls GTK.
    assert c["caller"]["function"] == p.gtk_call or c["caller"]["function"].startswith(p.gtk_call + ".func"), c["caller"]
    assert c["caller"]["package"].startswith("github.com/gotk3/gotk3/")
    # The program's own function nearest the call (package main), as its traceback names it.
    own = next(t for t in _theirs(own_traceback(st)) if t.function.startswith("main."))
    top = st.why["suggestions"][0]
    assert "for %s (%s:%d, through gotk3)" % (own.function, own.file, own.line) in top["title"], top["title"]


def _text_shift(exe) -> int:
    """runtime.text minus the .text section's address. Go's addr2line (1.24 to 1.27 alike) bases the function
    table at .text, but in an externally linked (cgo) binary the C start-up code comes first: on Debian's
    stripped nwg-look it names runtime.cgoCheckPointer for runtime.cgocall's pcs. The table's real base is
    the pcHeader's textStart (Go's runtime/symtab.go: magic 0xfffffff1, two pad bytes, minLC, ptrSize, nfunc,
    nfiles, textStart), read here with readelf's section table."""
    import struct
    secs = {}
    for line in subprocess.run(["readelf", "-SW", str(exe)], stdout=subprocess.PIPE, universal_newlines=True,
                               check=True, timeout=60).stdout.splitlines():
        m = re.match(r"^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m:
            secs[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    with open(str(exe), "rb") as f:
        f.seek(secs[".gopclntab"][1])
        head = f.read(32)
    magic, = struct.unpack_from("<I", head, 0)
    text_start, = struct.unpack_from("<Q", head, 24)
    assert magic == 0xFFFFFFF1, hex(magic)                       # Go 1.20+'s pclntab
    return text_start - secs[".text"][0]


# Go's addr2line finds no pclntab in a PIE (Debian's ymuse keeps it inside .data.rel.ro, and addr2line
# answers `?`): the PIE's ground truth is the Go runtime's own traceback (pcs and lines, above).
ADDR2LINE_CASES = [(m, n) for m, n in CASES if not gui.PROGRAMS[n].pie]


@pytest.mark.parametrize("mode, name", ADDR2LINE_CASES, ids=["%s-%s" % c for c in ADDR2LINE_CASES])
def test_go_frames_agree_with_go_tool_addr2line(lab_vm, mode, name):
    st = gui.stop(lab_vm, mode, name)
    go = [f for f in st.callers["frames"] if f["kind"] == "go"]
    groups = physical_frames(go)
    exe = gui.host_exe(lab_vm, name)
    shift = _text_shift(exe)
    assert shift > 0          # C code before Go's: without the shift addr2line would name the wrong functions
    # Every Go frame of a goroutine in a cgo call is at a return address: pc - 1 is in its call.
    pcs = [g[0]["pc"] - 1 - shift for g in groups]
    goroot = go_root(ADDR2LINE_GO)
    out = subprocess.run([str(goroot / "bin" / "go"), "tool", "addr2line", str(exe)],
                         input="".join("0x%x\n" % p for p in pcs), stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, GOROOT=str(goroot)), check=True, timeout=120).stdout.splitlines()
    got = [(out[i], out[i + 1]) for i in range(0, len(out), 2)]
    assert len(got) == len(groups) >= 4
    for g, (fn, fl) in zip(groups, got):
        assert fn == g[-1]["function"], (fn, g)                      # the physical function
        assert fl == "%s:%d" % (g[0]["file"], g[0]["line"]), (fl, g)  # the innermost (inlined) code's line


def test_native_frames_are_gdbs_own(case):
    """go-callers' native frames are gdb's own, from the ioctl out to gtk through gui_checks.PATH_OBJS."""
    mode, name, st = case
    gui_checks.native_path(st, ("drmIoctl", "driCreateNewScreen3", "epoxy_glx_version",
                                "gdk_display_manager_open_display", "gtk_init_check"))


# ---------------------------------------------------------------------------------------------
# The advice names the path and the program's function, and each knob it offers works

def test_advice_names_the_gtk_path(case, lab_vm):
    mode, name, st = case
    sugs = st.why["suggestions"]
    assert [s["rule_id"] for s in sugs] == [GTK_RULE, "mesa-llvmpipe-fence-probe", "rr-upgrade"], sugs
    assert st.callers["suggestions"] == sugs
    top = sugs[0]
    # the program's path as gdb knows it (in the guest, or in the rootfs for the host's gdb on a core)
    exe = gui.PROGRAMS[name].exe if mode != "core" else str(gui.host_exe(lab_vm, name))
    assert top["commands"] == ["rr record -v GDK_GL=disable %s" % exe, "rr record -v GALLIUM_DRIVER=softpipe %s" % exe]
    assert "GTK 3" in top["title"] and "GLX" in top["title"] and "llvmpipe" in top["title"]
    ev = " ".join(top["evidence"])
    for word in ("libgdk-3.so.0", "driCreateNewScreen3", "github.com/gotk3/gotk3/"):
        assert word in ev, (word, top["evidence"])
    if mode == "native":
        assert "missing" not in top and top["confidence"] == "high"
    else:
        assert top["missing"].endswith("recognised from libGLX_mesa.so.0 + driCreateNewScreen3"), top["missing"]


def test_every_suggestion_is_true(case, lab_vm):
    """The closed loop: each command's environment, the program run again under strace: no probe, and
    its window is still mapped."""
    mode, name, st = case
    assert len(gui.truth(lab_vm, name).exports) == 1
    checked = 0
    for s in st.why["suggestions"]:
        envs = [e for e in (env_of_command(c) for c in s["commands"]) if e]
        if not envs:
            assert NOT_CHECKABLE in s["source"], (s["rule_id"], s["source"])
            continue
        for env in envs:
            r = gui.run(lab_vm, name, env)
            assert len(r.exports) == 0, (s["rule_id"], env, r.truth.trace[-3000:])
            assert r.came_up, (s["rule_id"], env, r.window, r.rc, r.log[-2000:])
            checked += 1
    assert checked >= 3      # GDK_GL=disable and GALLIUM_DRIVER=softpipe (twice: the GTK and the Mesa rule)


def test_the_gtk_rules_knobs_on_nwg_bar(lab_vm):
    """nwg-bar is not stopped (CI time): its probe and the GTK rule's commands, through the loop."""
    rule = next(r for r in advice.load_rules() if r.id == GTK_RULE)
    envs = [env_of_command(c.format(exe=gui.PROGRAMS["nwg-bar"].exe, args="")) for c in rule.commands]
    assert envs == [{"GDK_GL": "disable"}, {"GALLIUM_DRIVER": "softpipe"}]
    assert len(gui.truth(lab_vm, "nwg-bar").exports) == 1
    for env in envs:
        r = gui.run(lab_vm, "nwg-bar", env)
        assert len(r.exports) == 0, (env, r.truth.trace[-2000:])
        assert r.came_up, (env, r.window, r.rc, r.log[-2000:], r.truth.trace[-1000:])


def test_a_later_gtk_client_makes_no_probe(lab_vm):
    """The GTK rule's wording: the start-up probe belongs to the first GTK 3 client of an X display. After a
    first run has left GDK_VISUALS on the root window (xprop shows it), the same program started again makes no
    probe (strace: not even /dev/udmabuf is opened) and maps its window; started as the first client, it does."""
    assert len(gui.truth(lab_vm, "nwg-bar").exports) == 1
    prop, r = gui.run_as_second_client(lab_vm, "nwg-bar")
    assert re.match(r"GDK_VISUALS\(INTEGER\) = \d+, \d+$", prop), prop
    assert len(r.exports) == 0 and not r.truth.opened("/dev/udmabuf"), r.truth.trace[-3000:]
    assert r.came_up, (r.window, r.rc, r.log[-2000:])
    rule = next(x for x in advice.load_rules() if x.id == GTK_RULE)
    assert "first GTK 3 client" in rule.title and "GDK_VISUALS" in rule.title


RECORDED = [("remote", "nwg-look"), ("native", "ymuse")]


@pytest.mark.parametrize("mode, name", RECORDED, ids=["%s-%s" % c for c in RECORDED])
def test_recorded_advice_data_is_current(lab_vm, mode, name):
    """LAB_RECORD_ADVICE=1 (re)writes tests/data/advice/lab_NAME_MODE.json (tests/test_advice.py reads it
    without the VM); otherwise the stored stop must still give the same advice."""
    from pathlib import Path
    path = Path(__file__).resolve().parent / "data" / "advice" / ("lab_%s_%s.json" % (name, mode))
    fresh = gui.advice_record(lab_vm, mode, name)
    stops.check_recorded_advice(path, fresh)


def test_gui_figures(lab_vm, capsys):
    """Not an assertion: per stop and per run, the seconds it took (the README's figures)."""
    rows = []
    for name in gui.NAMES:
        for (vmid, kind, *rest), v in sorted(gui._memo.items(), key=lambda kv: str(kv[0])):
            if vmid != id(lab_vm) or not rest or rest[0] != name:
                continue
            if kind == "run":
                env = " ".join("%s=%s" % kv for kv in rest[1]) or "(rr's environment)"
                env += " (second GTK client)" if len(rest) > 2 else ""
                rows.append("%-8s run %-26s exports=%d window=%s up in %.1fs, run %.1fs" % (
                    name, env, len(v.exports), "yes" if v.came_up else "NO", v.up_seconds, v.seconds))
            elif kind in gui.MODES:
                c = v.callers
                rows.append("%-8s %-6s %6.1fs  goroutine %s, caller %s, advice %s%s" % (
                    name, kind, v.seconds, (c.get("goroutine") or {}).get("id"), (c.get("caller") or {}).get("function"),
                    ",".join(s["rule_id"] for s in v.why["suggestions"]),
                    "; core %d MB, copied in %.0fs" % (v.extra["core_bytes"] >> 20,
                                                      gui._memo[(vmid, "native", name)].extra["core_copy_seconds"])
                    if kind == "core" else
                    "; batch start-up %.0fs" % v.extra["batch_startup_seconds"] if kind == "native" else
                    "; with SIGQUIT %.1fs" % v.extra["total_seconds"]))
    with capsys.disabled():
        print("\nlab GUI programs:\n  " + "\n  ".join(rows or ["(none: run with the other lab GUI tests)"]))
