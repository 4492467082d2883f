"""The aarch64 lab: a real arm64 Debian trixie VM (kernel 6.12 with udmabuf, Mesa 25.0.7, gdb 16.3,
gdbserver, strace) under qemu-system-aarch64 TCG, the lab programs cross-built for arm64 on the host
(tests/fixtures/lab/build.py: cgo with aarch64-linux-gnu-gcc, -lEGL/-lvulkan from the arm64 rootfs),
each stopped just after its DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned (catch syscall ioctl, x1 == the
request; x0 = the result) and analysed three ways (tests/fixtures/lab/stops.py): host gdb-multiarch over
the guest's gdbserver (sysroot = the rootfs, no /proc: rr's emergency layout), gdb 16.3 in the guest, and
the core written there read on the host by gdb-multiarch.

Ground truth, all from outside our code: strace -f -yy in the guest (request, result, the dma-buf fd),
the guest's /proc fd links at the stop (readlink in the guest), the program's own goroutine id and
runtime.Stack, `go tool addr2line` on the arm64 binary for every Go frame's pc, gdb's own frames and bt,
and re-runs of the program under strace with a suggestion's environment (the ioctl must be gone).

Programs (stops.ARM64_PROGRAMS): demo (Go -> cgo -> its own C ioctl), demo-direct (the same demo,
DMADEMO_PATH=syscall: Go's syscall.Syscall, no cgo), eglgo (Go -> cgo -> eglInitialize -> llvmpipe), vkgo
(Go -> cgo -> vkEnumeratePhysicalDevices -> lavapipe), egl_c (C, no Go). The remote mode for every default
build and for the stripped and PIE builds of demo and eglgo; native and core as NATIVE / CORES below say
(LAB_ARM64_NATIVE=all LAB_ARM64_MESA_CORES=1: every mode for every default build). rr itself is not run.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.lab import stops
from tests.support.gdbrun import physical_frames
from tests.support.lab import lab_vm_arm64  # noqa: F401  (the session fixture)
from tests.support.suggestions import LOSSES, NOT_CHECKABLE, env_of_command
from tests.support.toolchains import DEFAULT_GO, go_root

FULL = ["demo", "demo-direct", "eglgo", "vkgo", "egl_c"]           # every mode
VARIANTS = ["demo-stripped", "demo-pie", "eglgo-stripped", "eglgo-pie"]   # the remote mode
# Time under TCG (measured on the 2-core host with other VMs up): a native stop costs 45-135 s, plus ~50 s
# of gdb start-up and plugin import once; so by default the native stops (all from one guest gdb) are the
# demo (Go -> cgo -> C) and eglgo (Go -> cgo -> Mesa), LAB_ARM64_NATIVE=all (or a comma list) for all of
# FULL. The cores read on the host: the demo's (its two paths when both are native). A Mesa program's core
# holds ~200 MB of data: under TCG gcore and the copy out of the guest over 9p take minutes each, so they
# are written only with LAB_ARM64_MESA_CORES=1.
_native_env = os.environ.get("LAB_ARM64_NATIVE", "demo,eglgo")
NATIVE = FULL if _native_env == "all" else [n for n in FULL if n in _native_env.split(",")]
CORES = [n for n in NATIVE if n in ("demo", "demo-direct")
         or (os.environ.get("LAB_ARM64_MESA_CORES") and n in ("eglgo", "vkgo", "egl_c"))]
MODES = list(stops.MODES)
CASES = ([(m, n) for n in FULL for m in MODES
          if m == "remote" or (m == "native" and n in NATIVE) or (m == "core" and n in CORES)]
         + [("remote", n) for n in VARIANTS])
GO_CASES = [c for c in CASES if stops.ARM64_PROGRAMS[c[1]].go]


def _stop(vm, mode, name):
    """stops.stop, but the native stops (and so the cores) of all of NATIVE come from one gdb in the guest."""
    if mode in ("native", "core"):
        stops.native_batch(vm, NATIVE, cores=CORES)
    return stops.stop(vm, mode, name)


def _prog(name):
    return stops.ARM64_PROGRAMS[name]


def _base(name):
    """The default build of a variant: its strace run is the variant's ground truth for the request,
    the result and the dma-buf fd (the same program, the same sequence of opens: the same fd numbers; the
    variant's own /proc at its stop confirms them). A stripped / PIE re-run under strace would cost
    another Mesa start under TCG (~40 s) and check nothing the build kind can change."""
    p = _prog(name)
    return name if p.kind == "default" else name[:-len("-" + p.kind)]


@pytest.fixture(params=CASES, ids=["%s-%s" % c for c in CASES])
def case(request, lab_vm_arm64):
    mode, name = request.param
    return mode, name, _stop(lab_vm_arm64, mode, name), stops.truth(lab_vm_arm64, _base(name))


# ---------------------------------------------------------------------------------------------
# The fd argument at the aarch64 exit stop: ONE place says what is expected of it.
#
# At the return x0 holds the result, so the fd argument (x0 at entry) is gone from the registers; today
# dmabuf-why says so: "fd": null and a note that the fd argument is lost. Recovering it (issue 11,
# "What to build" 3: from /proc when local, from the C frames' saved registers or arguments) is the
# a64fd branch's work: when it lands, put the (mode, name) stops where the fd MUST be recovered into
# FD_MUST_BE_RECOVERED (e.g. every native stop: /proc is readable there). Whatever it recovers is always
# checked against strace and the guest's /proc, in every mode, already now.
# Where dmabuf-why must recover it (gdb_rr_dmabuf/fdrecover.py), each source checked against strace:
# the demo's cgo C helper keeps it in a callee-saved register, demo-direct's Syscall6 loaded x0 from its
# stack slot, Mesa's drmIoctl keeps it in a callee-saved register (every default build, every mode run).
FD_MUST_BE_RECOVERED = {(m, n) for m in ("remote", "native", "core")
                        for n in ("demo", "demo-direct", "eglgo", "vkgo", "egl_c")}


def check_exit_stop_fd(mode, name, why, t, links):
    fd = why["fd"]
    if fd is None or fd.get("number") is None:
        assert (mode, name) not in FD_MUST_BE_RECOVERED, ("the fd should be recovered here", why["fd"])
        # "Unknown" must be said, not left blank.
        assert any("fd argument is lost" in n for n in why["notes"]), why["notes"]
        return None
    assert fd["number"] == t.exports[0]["fd"], (fd, t.exports)             # strace's fd
    assert links[fd["number"]].startswith("/dmabuf:"), links                # /proc at this stop
    if mode == "native":
        assert fd["target"] == links[fd["number"]], fd
    else:
        assert fd["target"] is None, fd                                     # no /proc: nothing made up
    return fd["number"]


# ---------------------------------------------------------------------------------------------
# Ground truth alone: the arm64 kernel really answers, once, with success

@pytest.mark.parametrize("name", FULL)
def test_strace_sees_one_successful_export(lab_vm_arm64, name):
    t = stops.truth(lab_vm_arm64, name)
    assert stops.succeeded(name, t.rc, t.stdout, lab_vm_arm64), t.stdout[-2000:]
    assert len(t.exports) == 1, t.trace[-3000:]
    e = t.exports[0]
    assert e["result"] == 0 and e["fd_path"].startswith("/dmabuf:"), e
    if _prog(name).path in ("egl", "vulkan"):
        opens = t.opened("/dev/udmabuf")
        assert opens and opens[0].args[2].startswith("O_RDWR") and opens[0].result >= 0, t.trace[-3000:]
        memfds = t.memfds("lp_dma_buf")
        assert memfds and memfds[0].args[1].startswith("MFD_ALLOW_SEALING"), t.trace[-3000:]
    if name == "vkgo":
        assert t.sync_fds, t.trace[-3000:]


def test_the_binaries_are_arm64_of_their_kind(lab_vm_arm64):
    """readelf (binutils, not our code): AArch64 machine; PIE builds are ET_DYN, stripped ones have no
    .symtab, cgo ones need the rootfs's libEGL.so.1 / libvulkan.so.1."""
    for name in FULL + VARIANTS:
        x = stops.exe(name, lab_vm_arm64)
        h = subprocess.run(["readelf", "-h", "-S", "-d", str(x)], stdout=subprocess.PIPE,
                           universal_newlines=True, check=True).stdout
        assert re.search(r"Machine:\s+AArch64", h), name
        kind = _prog(name).kind
        pie = kind == "pie" or not _prog(name).go          # Debian's gcc links PIE by default
        assert ("DYN (Position-Independent Executable file)" in h) == pie, (name, kind)
        assert (" .symtab " in h) == (kind != "stripped"), (name, kind)
        need = {"eglgo": "libEGL.so.1", "egl_c": "libEGL.so.1", "vkgo": "libvulkan.so.1"}.get(_prog(name).fixture)
        if need:
            assert "Shared library: [%s]" % need in h, (name, h[-1500:])


# ---------------------------------------------------------------------------------------------
# dmabuf-why against strace and /proc

def _links(st):
    assert st.proc is not None and st.proc["fd"], "no /proc ground truth for this stop"
    return {int(k): v for k, v in st.proc["fd"].items()}


def test_why_matches_strace_and_proc(case):
    mode, name, st, t = case
    assert "Traceback" not in st.result.output, st.result.output[-4000:]
    why = st.why
    assert why["source"] == "thread" and why["arch"] == "aarch64", (why["source"], why["arch"])
    sc = why["syscall"]
    assert sc["name"] == "ioctl" and sc["number"] == 29 and sc["state"] == "exit", sc
    assert sc["result"] == t.exports[0]["result"] == 0
    assert why["request"]["hex"] == stops.EXPORT and stops.EXPORT_NAME in why["request"]["names"]
    links = _links(st)
    check_exit_stop_fd(mode, name, why, t, links)
    # The argument (x2 survives the return): its new fd is the process's sync_file at this very stop.
    arg = why["argument"]
    assert arg["struct"] == "dma_buf_export_sync_file" and arg["error"] is None, arg
    assert arg["fields"]["flags"]["value"] & 3, arg
    new_fd = arg["fields"]["fd"]["value"]
    assert links[new_fd] == "anon_inode:sync_file", (new_fd, links)
    if _prog(name).fixture == "demo":
        m = re.search(r"^DEMO RESULT fd=(\d+) err=<nil>$", t.stdout, re.M)     # the demo prints it itself
        assert m and int(m.group(1)) == new_fd, (new_fd, t.stdout[-1500:])
    elif t.sync_fds:
        assert new_fd == t.sync_fds[0], (new_fd, t.sync_fds)
    assert why["rr"]["would_stop"] is True and why["rr"]["supported_since"] == "5.9.0"


def test_why_thread_is_the_programs_own(case):
    mode, name, st, t = case
    own = stops.go_stack_truth(st.log)
    if st.proc is not None and st.proc.get("tid"):
        assert st.why["thread"]["tid"] == st.proc["tid"]
    if _prog(name).fixture in ("eglgo", "egl_c"):      # the caller locks its OS thread (or is the only one)
        assert own["tid"] and st.why["thread"]["tid"] == own["tid"], (st.why["thread"], own)


# ---------------------------------------------------------------------------------------------
# go-callers against the program's own runtime.Stack, go tool addr2line and gdb's frames

EXPECT_CALLER = {"demo": "example.com/dmademo/internal/gpu.ExportSyncFile",
                 "demo-direct": "example.com/dmademo/internal/gpu.ExportSyncFileDirect",
                 "eglgo": "example.com/labegl/internal/egl.NewDisplay.func1",
                 "vkgo": "example.com/labvk/internal/vk.(*Instance).PhysicalDevices.func1"}
EXPECT_LIBS = {"eglgo": [r"libdrm\.so\.2", r"libgallium-[\d.]+.*\.so", r"libEGL_mesa\.so\.0"],
               "egl_c": [r"libdrm\.so\.2", r"libgallium-[\d.]+.*\.so", r"libEGL_mesa\.so\.0"],
               "vkgo": [r"libvulkan_lvp\.so", r"libvulkan\.so\.1"],
               "demo": [], "demo-direct": []}


def _key_name(name):
    p = _prog(name)
    return "demo-direct" if p.path == "go-direct" else p.fixture


def _addr2line(exe, pcs):
    goroot = go_root(DEFAULT_GO)
    out = subprocess.run([str(goroot / "bin" / "go"), "tool", "addr2line", str(exe)],
                         input="".join("0x%x\n" % p for p in pcs), stdout=subprocess.PIPE,
                         universal_newlines=True, env=dict(os.environ, GOROOT=str(goroot)), check=True,
                         timeout=60).stdout
    lines = out.splitlines()
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]


def _pc_table(path):
    """(.text's address, the bytes of .gopclntab): Go's pc -> function, file:line table, read by pyelftools."""
    from elftools.elf.elffile import ELFFile
    with open(str(path), "rb") as f:
        e = ELFFile(f)
        return e.get_section_by_name(".text")["sh_addr"], e.get_section_by_name(".gopclntab").data()


def _addr2line_binary(name, vm):
    """The binary go tool addr2line reads for name's pcs. For a stripped build (-s -w), its default build:
    `go tool addr2line` misreads stripped cgo binaries (without runtime.text in a symbol table it takes
    .text's start, where the C code is, as Go's text start), and -s -w only drops the symbol table and
    DWARF: the two builds have .text at the same address and byte-identical .gopclntab (Go's own table
    of functions, entries and lines; checked here), so the default build's answers are the stripped
    build's."""
    x = stops.exe(name, vm)
    if _prog(name).kind != "stripped":
        return x
    d = stops.exe(_base(name), vm)
    assert _pc_table(x) == _pc_table(d), "the stripped build's pc table differs from the default build's"
    return d


def _load_bias(st, exe):
    """0 for a fixed-address build; for a PIE one, where the guest's /proc/PID/maps (read at the stop,
    outside our code) has the executable's first mapping."""
    if _prog(st.program).kind != "pie":
        return 0
    maps = st.extra.get("maps")
    assert maps, "no /proc/PID/maps read at the stop of a PIE build"
    for line in maps.splitlines():
        f = line.split()
        if len(f) >= 6 and f[5].endswith("/" + exe.name) and int(f[2], 16) == 0:
            return int(f[0].split("-")[0], 16)
    raise AssertionError("the executable is not in /proc/PID/maps:\n" + maps)


@pytest.mark.parametrize("mode, name", GO_CASES, ids=["%s-%s" % c for c in GO_CASES])
def test_callers_match_the_programs_own_stack(lab_vm_arm64, mode, name):
    st = _stop(lab_vm_arm64, mode, name)
    own = stops.go_stack_truth(st.log)
    c = st.callers
    assert "error" not in c, c
    assert own["goid"] and c["goroutine"]["id"] == own["goid"], (c["goroutine"], own)
    assert c["goroutine"]["parent_id"] == own["parent"]
    assert c["goroutine"]["created_by"]["function"] == own["created_by"]
    assert c["thread"]["in_cgo"] is (_prog(name).path != "go-direct"), c["thread"]
    go = [f["function"] for f in c["frames"] if f["kind"] == "go"]
    outer = own["functions"][1:]      # runtime.Stack was taken one call below the ioctl's caller
    assert outer and go[-len(outer):] == outer, (go, own["functions"])
    assert c["unwind"]["complete"] is True, c["unwind"]
    assert c["caller"]["function"] == EXPECT_CALLER[_key_name(name)], c["caller"]


@pytest.mark.parametrize("mode, name", GO_CASES, ids=["%s-%s" % c for c in GO_CASES])
def test_go_frames_agree_with_go_tool_addr2line(lab_vm_arm64, mode, name):
    """Go's own addr2line on the arm64 binary at each physical Go frame's pc (minus 1 for return
    addresses, as Go's tracebacks do; minus the load bias for PIE): the physical function, and the
    innermost (inlined) code's file:line."""
    st = _stop(lab_vm_arm64, mode, name)
    x = stops.exe(name, lab_vm_arm64)
    go = [f for f in st.callers["frames"] if f["kind"] == "go"]
    groups = physical_frames(go)
    bias = _load_bias(st, x)
    oracle = _addr2line_binary(name, lab_vm_arm64)
    # Only the innermost frame of the whole stack is at its pc itself; a Go frame above C frames is a
    # return address too.
    first_is_top = st.callers["frames"][0]["kind"] == "go"
    pcs = [g[0]["pc"] - bias - (0 if (k == 0 and first_is_top) else 1) for k, g in enumerate(groups)]
    assert len(groups) >= 4, groups
    for k, (g, (fn, fl)) in enumerate(zip(groups, _addr2line(oracle, pcs))):
        assert fl == "%s:%d" % (g[0]["file"], g[0]["line"]), (fl, g)
        if k == len(groups) - 1 and g[-1]["inlined"]:
            # The goroutine's entry: code inlined into the `go` statement's wrapper, which Go's own
            # traceback (and runtime.Stack) leaves out; addr2line names the wrapper.
            assert all(y["inlined"] for y in g) and re.search(r"\.gowrap\d+$", fn), (fn, g)
            continue
        assert [y["inlined"] for y in g] == [True] * (len(g) - 1) + [False], g
        assert fn == g[-1]["function"], (fn, g)


@pytest.mark.parametrize("mode, name", CASES, ids=["%s-%s" % c for c in CASES])
def test_native_frames_agree_with_gdbs_own(lab_vm_arm64, mode, name):
    st = _stop(lab_vm_arm64, mode, name)
    bt = st.bt
    for lib in EXPECT_LIBS[_key_name(name)]:
        assert re.search(lib, bt), (lib, bt)                       # gdb's own bt shows the library
    if not _prog(name).go:
        return
    c = st.callers
    native = [f for f in c["frames"] if f["kind"] == "native"]
    objs = [f["objfile"] or "" for f in native]
    for lib in EXPECT_LIBS[_key_name(name)]:
        assert any(re.search(lib, o) for o in objs), (lib, objs)
    if _prog(name).path == "go-direct":
        assert native == [], native                                # Go's own svc: no C on the way
        return
    # Frame by frame, the native part as gdb's own unwinder has it (function, shared object).
    ours = [(f["function"], os.path.basename(f["objfile"] or "")) for f in native]
    gdbs = [(fn, os.path.basename(o or "")) for fn, o in st.frames[:len(native)]]
    assert ours == gdbs, (ours, gdbs)
    names = [f["function"] for f in native if f["function"]]
    bt_names = [n for n in re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ (?:\[PAC\] )?in )?(\S+) \(", bt, re.M) if n != "??"]
    assert names and names == bt_names[:len(names)], (names, bt_names)


def test_c_program_is_plainly_not_go(lab_vm_arm64):
    for mode in [m for m in MODES if (m, "egl_c") in CASES]:
        st = _stop(lab_vm_arm64, mode, "egl_c")
        assert "not a Go program" in st.callers["error"]["what"], st.callers
        assert "Traceback" not in st.result.output
        if st.has("go-callers"):
            text = st.text("go-callers")
            assert "not a Go program" in text and len(text.strip().splitlines()) == 1, text


# ---------------------------------------------------------------------------------------------
# Advice on real, stripped arm64 Mesa, and its knobs proved by re-running the program

TOP = {"eglgo": "mesa-llvmpipe-fence-probe", "egl_c": "mesa-llvmpipe-fence-probe",
       "vkgo": "mesa-lavapipe-enumerate", "demo": "go-cgo-ioctl", "demo-direct": "go-direct-ioctl"}


def test_advice_recognises_the_real_path(case):
    mode, name, st, t = case
    sugs = st.why["suggestions"]
    ids = [s["rule_id"] for s in sugs]
    assert ids == [TOP[_key_name(name)], "rr-upgrade"], ids
    if _prog(name).go:
        assert st.callers["suggestions"] == sugs
    top = sugs[0]
    cmds = " ".join(c for s in sugs for c in s["commands"])
    if _prog(name).path == "egl":
        assert len(top["commands"]) == 1 and top["commands"][0].startswith("rr record -v GALLIUM_DRIVER=softpipe ")
        assert top["commands"][0].endswith("/" + _prog(name).fixture), top["commands"]
        assert any("driCreateNewScreen3" in e for e in top["evidence"]), top["evidence"]
        assert any("libgallium-" in e for e in top["evidence"]), top["evidence"]
    if _prog(name).path == "vulkan":
        assert any("VK_LOADER_DRIVERS_DISABLE='*lvp*'" in c for c in top["commands"]), top
        assert "GALLIUM_DRIVER" not in cmds
        assert "no Vulkan device is left" in top["action"]
    assert "LIBGL_ALWAYS_SOFTWARE" not in cmds


_reruns = {}


def _rerun(vm, name, env):
    k = (id(vm), name, tuple(sorted(env.items())))
    if k not in _reruns:
        _reruns[k] = stops.strace_run(vm, name, env)
    return _reruns[k]


@pytest.mark.parametrize("name", [n for n in FULL if _prog(n).path in ("egl", "vulkan")])
def test_every_suggested_knob_is_true_on_arm64(lab_vm_arm64, name):
    """As tests/test_lab_loop.py on x86-64: each suggestion that sets environment variables, re-run in
    the arm64 VM under strace with them (no rr): the export is gone and the program still works, or the
    suggestion says what is lost and that is what happened. The remote stop's advice (the others give
    the same suggestions: test_advice_recognises_the_real_path)."""
    base = stops.truth(lab_vm_arm64, name)
    assert len(base.exports) == 1
    checked = 0
    for s in _stop(lab_vm_arm64, "remote", name).why["suggestions"]:
        envs = [e for e in (env_of_command(c) for c in s["commands"]) if e]
        if not envs:
            assert NOT_CHECKABLE in s["source"], (s["rule_id"], s["source"])
            continue
        for env in envs:
            r = _rerun(lab_vm_arm64, name, env)
            assert len(r.exports) == 0, (s["rule_id"], env, r.trace[-3000:])
            if stops.succeeded(name, r.rc, r.stdout, lab_vm_arm64):
                checked += 1
                continue
            said = [loss for loss in LOSSES if loss in s["action"] or loss in s["title"]]
            assert said, (s["rule_id"], env, r.stdout[-1500:])
            assert any(re.search(LOSSES[x], r.stdout, re.M) for x in said), (said, r.stdout[-1500:])
            assert r.rc != 0
            checked += 1
    assert checked, "no suggestion for the Mesa path could be checked"


# ---------------------------------------------------------------------------------------------

def test_arm64_figures(lab_vm_arm64, capsys):
    """Not an assertion about speed: the boot and every stop's seconds (the report's table)."""
    rows = ["boot %.1fs (%s)" % (getattr(lab_vm_arm64, "boot_seconds", 0) or 0, lab_vm_arm64.accel)]
    for name in FULL + VARIANTS:
        t = stops._memo.get(stops._key(lab_vm_arm64, "truth", name))
        parts = ["strace %.1fs" % t.seconds] if t else []
        for mode in MODES:
            st = stops._memo.get(stops._key(lab_vm_arm64, mode, name))
            if st is not None:
                parts.append("%s %.1fs" % (mode, st.seconds))
        rows.append("%-15s %s" % (name, ", ".join(parts)))
    for (vmid, name, env), r in sorted(_reruns.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if vmid == id(lab_vm_arm64):
            rows.append("%-15s re-run %s: exports=%d rc=%d %.1fs" % (name, " ".join("%s=%s" % kv for kv in env),
                                                                    len(r.exports), r.rc, r.seconds))
    with capsys.disabled():
        print("\narm64 lab stops:\n  " + "\n  ".join(rows))
