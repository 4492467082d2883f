"""The lab stops, on both lab architectures (arch is each test's first parameter: x86-64, aarch64): every lab
program, in a real Debian trixie VM (kernel 6.12 with udmabuf, Mesa 25.0.7, gdb 16.3 + Python 3.13,
gdbserver, strace), stopped just after its DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned and analysed three ways
(tests/fixtures/lab/stops.py): the host's gdb over the guest's gdbserver (sysroot = the rootfs, no /proc: a
tunnelled remote), gdb 16.3 in the guest (native, /proc readable), and a core written there read on the host.
The x86-64 VM boots with KVM when it works; the aarch64 one is qemu-system-aarch64 TCG, its programs
cross-built on the host (tests/fixtures/lab/build.py: cgo with aarch64-linux-gnu-gcc, -lEGL/-lvulkan from
the arm64 rootfs), the host's gdb there gdb-multiarch.

Ground truth, all from outside our code: strace -f -yy in the guest (request, result, the dma-buf fd and its
path, the sync_file fd the program closes afterwards), the guest's /proc fd links at the stop (readlink in the
guest), the program's own goroutine id and runtime.Stack, gdb's own frames and bt, and on aarch64 `go tool
addr2line` for every Go frame's pc and re-runs of the program under strace with a suggestion's environment
(the ioctl must be gone; tests/test_lab_loop.py does that on x86-64).

What differs per architecture is data (ARCHES: its programs, which of them are stopped in which mode, the
ioctl's number, which checks run there); what each program's stop must show is data too (EXPECT). Programs:
demo (Go -> cgo -> its own C ioctl), eglgo (Go -> cgo -> eglInitialize -> llvmpipe), vkgo (Go -> cgo ->
vkEnumeratePhysicalDevices -> lavapipe), egl_c (C, no Go); on aarch64 also demo-direct (the same demo,
DMADEMO_PATH=syscall: Go's syscall.Syscall, no cgo), and the stripped and PIE builds of demo and eglgo,
stopped remotely. x86-64 runs every mode for every program; on aarch64 the native and core stops are as
NATIVE / CORES below say (LAB_ARM64_NATIVE=all LAB_ARM64_MESA_CORES=1: every mode for every default build).

rr itself is not run (it cannot record here); the stop is where rr's emergency gdbserver would stop.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from tests.fixtures.lab import stops
from tests.support.gdbrun import physical_frames
from tests.support.lab import lab_vm, lab_vm_arm64  # noqa: F401  (the session fixtures)
from tests.support.suggestions import LOSSES, NOT_CHECKABLE, env_of_command
from tests.support.toolchains import DEFAULT_GO, go_root

MODES = list(stops.MODES)


# ---------------------------------------------------------------------------------------------
# Per architecture: which programs are stopped how, and what is known of the arch from outside our code

@dataclass(frozen=True)
class LabArch:
    arch: str                       # gdb's name, = vm.arch
    vm: str                         # the session fixture that boots its VM (tests/support/lab.py)
    programs: Dict[str, stops.Program]
    full: List[str]                 # default builds: the remote mode, native / core as below
    variants: List[str]             # other builds (stripped, PIE): the remote mode only
    native: List[str]               # stopped natively in the guest
    cores: List[str]                # whose native stop is also written as a core and read on the host
    ioctl_nr: int                   # ioctl's system call number (the kernel's asm/unistd*.h)
    machine: str                    # readelf -h's Machine
    batched: bool                   # all native stops from ONE guest gdb (stops.native_batch)
    checks: Tuple[str, ...] = ()    # the checks that run on this arch only (the tests below say which)

    def cases(self) -> List[Tuple[str, str]]:
        return ([(m, n) for n in self.full for m in MODES
                 if m == "remote" or (m == "native" and n in self.native) or (m == "core" and n in self.cores)]
                + [("remote", n) for n in self.variants])


_X86 = list(stops.NAMES)
# aarch64, time under TCG (measured on the 2-core host with other VMs up): a native stop costs 45-135 s,
# plus ~50 s of gdb start-up and plugin import once; so by default the native stops (all from one guest
# gdb) are the demo (Go -> cgo -> C) and eglgo (Go -> cgo -> Mesa), LAB_ARM64_NATIVE=all (or a comma list)
# for all of its default builds. The cores read on the host: the demo's (its two paths when both are
# native). A Mesa program's core holds ~200 MB of data: under TCG gcore and the copy out of the guest over
# 9p take minutes each, so they are written only with LAB_ARM64_MESA_CORES=1.
_ARM64 = ["demo", "demo-direct", "eglgo", "vkgo", "egl_c"]
_native_env = os.environ.get("LAB_ARM64_NATIVE", "demo,eglgo")
NATIVE = _ARM64 if _native_env == "all" else [n for n in _ARM64 if n in _native_env.split(",")]
CORES = [n for n in NATIVE if n in ("demo", "demo-direct")
         or (os.environ.get("LAB_ARM64_MESA_CORES") and n in ("eglgo", "vkgo", "egl_c"))]

ARCHES: Dict[str, LabArch] = {a.arch: a for a in [
    LabArch("x86-64", "lab_vm", stops.PROGRAMS, _X86, [], _X86, _X86, ioctl_nr=16,
            machine="Advanced Micro Devices X86-64", batched=False,
            checks=("missing-evidence", "recorded-advice")),
    LabArch("aarch64", "lab_vm_arm64", stops.ARM64_PROGRAMS, _ARM64,
            ["demo-stripped", "demo-pie", "eglgo-stripped", "eglgo-pie"], NATIVE, CORES, ioctl_nr=29,
            machine="AArch64", batched=True, checks=("binaries", "addr2line", "knobs", "figures")),
]}


def _params(argnames: str, pick) -> pytest.MarkDecorator:
    """parametrize over (arch,) + what pick(arch) gives for each arch; ids ARCH-PART-..."""
    vals = [(a.arch,) + (v if isinstance(v, tuple) else (v,)) for a in ARCHES.values() for v in pick(a)]
    ids = ["-".join(v) for v in vals]
    return pytest.mark.parametrize(argnames, [v if len(v) > 1 else v[0] for v in vals], ids=ids)


def _case_params(pick=None):
    return _params("arch, mode, name", lambda a: [c for c in a.cases() if pick is None or pick(a, c)])


def _go(a: LabArch, c) -> bool:
    return a.programs[c[1]].go


# ---------------------------------------------------------------------------------------------
# Per program: what its stop must show (by its key: the fixture it is built from, demo-direct for the
# demo's direct syscall path)

@dataclass(frozen=True)
class Expect:
    top: str                        # the first suggestion's rule (then rr-upgrade)
    libs: Tuple[str, ...] = ()      # shared objects on the stack (re): in gdb's bt and our native frames
    caller: Optional[str] = None    # the Go function that makes the call (cgo's wrapper closure: NAME.func1)
    needs: Optional[str] = None     # a shared library its binary needs (readelf -d)


_EGL = (r"libdrm\.so\.2", r"libgallium-[\d.]+.*\.so", r"libEGL_mesa\.so\.0")
# (glvnd's eglInitialize in libEGL.so.1 tail-calls into libEGL_mesa.so.0: it is not on the stack.)
EXPECT: Dict[str, Expect] = {
    "demo": Expect("go-cgo-ioctl", caller="example.com/dmademo/internal/gpu.ExportSyncFile"),
    "demo-direct": Expect("go-direct-ioctl", caller="example.com/dmademo/internal/gpu.ExportSyncFileDirect"),
    "eglgo": Expect("mesa-llvmpipe-fence-probe", _EGL, "example.com/labegl/internal/egl.NewDisplay.func1",
                    "libEGL.so.1"),
    "egl_c": Expect("mesa-llvmpipe-fence-probe", _EGL, needs="libEGL.so.1"),
    "vkgo": Expect("mesa-lavapipe-enumerate", (r"libvulkan_lvp\.so", r"libvulkan\.so\.1"),
                   "example.com/labvk/internal/vk.(*Instance).PhysicalDevices.func1", "libvulkan.so.1"),
}


def _fixture(p: stops.Program) -> str:
    return p.fixture or p.name


def _expect(p: stops.Program) -> Expect:
    return EXPECT["demo-direct" if p.path == "go-direct" else _fixture(p)]


def _base(p: stops.Program) -> str:
    """The default build of a variant: its strace run is the variant's ground truth for the request,
    the result and the dma-buf fd (the same program, the same sequence of opens: the same fd numbers; the
    variant's own /proc at its stop confirms them). A stripped / PIE re-run under strace would cost
    another Mesa start under TCG (~40 s) and check nothing the build kind can change."""
    return p.name if p.kind == "default" else p.name[:-len("-" + p.kind)]


# ---------------------------------------------------------------------------------------------
# The VM and the stops

@pytest.fixture
def vm(request, arch):
    """The session's VM of this test's arch (booted at the first test that asks for it)."""
    return request.getfixturevalue(ARCHES[arch].vm)


def _stop(vm, mode, name):
    """stops.stop; where the arch batches them, the native stops (and so the cores) of all its native
    programs come from one gdb in the guest."""
    a = ARCHES[vm.arch]
    if a.batched and mode in ("native", "core"):
        stops.native_batch(vm, a.native, cores=a.cores)
    return stops.stop(vm, mode, name)


@dataclass
class Case:
    arch: LabArch
    mode: str
    name: str
    prog: stops.Program
    st: stops.Stop
    t: stops.Truth


@pytest.fixture
def case(vm, arch, mode, name):
    p = ARCHES[arch].programs[name]
    return Case(ARCHES[arch], mode, name, p, _stop(vm, mode, name), stops.truth(vm, _base(p)))


# ---------------------------------------------------------------------------------------------
# Ground truth alone: the kernel really answers, once, with success (otherwise nothing below means much)

@_params("arch, name", lambda a: a.full)
def test_strace_sees_one_successful_export(vm, arch, name):
    t = stops.truth(vm, name)
    assert stops.succeeded(name, t.rc, t.stdout, vm), t.stdout[-2000:]
    assert len(t.exports) == 1, t.trace[-3000:]
    e = t.exports[0]
    assert e["result"] == 0 and e["fd_path"].startswith("/dmabuf:"), e
    if ARCHES[arch].programs[name].path in ("egl", "vulkan"):
        # Mesa's probe: /dev/udmabuf, a memfd named lp_dma_buf, then the export.
        opens = t.opened("/dev/udmabuf")
        assert opens and opens[0].args[2].startswith("O_RDWR") and opens[0].result >= 0, t.trace[-3000:]
        memfds = t.memfds("lp_dma_buf")
        assert memfds and memfds[0].args[1].startswith("MFD_ALLOW_SEALING"), t.trace[-3000:]
    if name == "vkgo":
        assert t.sync_fds, t.trace[-3000:]     # vkDestroyInstance closes the probe's sync_file


@_params("arch", lambda a: [()] if "binaries" in a.checks else [])
def test_the_binaries_are_of_their_arch_and_kind(vm, arch):
    """readelf (binutils, not our code): the arch's machine; PIE builds are ET_DYN, stripped ones have no
    .symtab, cgo ones need the rootfs's libEGL.so.1 / libvulkan.so.1."""
    a = ARCHES[arch]
    for name in a.full + a.variants:
        p = a.programs[name]
        x = stops.exe(name, vm)
        h = subprocess.run(["readelf", "-h", "-S", "-d", str(x)], stdout=subprocess.PIPE,
                           universal_newlines=True, check=True).stdout
        assert re.search(r"Machine:\s+%s" % re.escape(a.machine), h), name
        pie = p.kind == "pie" or not p.go          # Debian's gcc links PIE by default
        assert ("DYN (Position-Independent Executable file)" in h) == pie, (name, p.kind)
        assert (" .symtab " in h) == (p.kind != "stripped"), (name, p.kind)
        need = _expect(p).needs
        if need:
            assert "Shared library: [%s]" % need in h, (name, h[-1500:])


# ---------------------------------------------------------------------------------------------
# dmabuf-why against strace and /proc

def _links(st):
    assert st.proc is not None and st.proc["fd"], "no /proc ground truth for this stop"
    return {int(k): v for k, v in st.proc["fd"].items()}


def check_exit_stop_fd(c: Case, links) -> Optional[int]:
    """The fd argument at the exit stop: ONE place says what is expected of it.

    On x86-64 it survives the return (rdi). On aarch64 x0 holds the result there, so the fd (x0 at entry)
    is gone from the registers and dmabuf-why recovers it (gdb_rr_dmabuf/fdrecover.py): the demo's cgo C
    helper keeps it in a callee-saved register, demo-direct's Syscall6 loaded x0 from its stack slot, Mesa's
    drmIoctl keeps it in a callee-saved register. Every default build must have it in every mode run;
    elsewhere "unknown" must be said, not left blank. Whatever is given is checked against strace and the
    guest's /proc, in every mode."""
    why = c.st.why
    fd = why["fd"]
    if fd is None or fd.get("number") is None:
        assert c.name not in c.arch.full, ("the fd should be recovered here", why["fd"])
        assert any("fd argument is lost" in n for n in why["notes"]), why["notes"]
        return None
    assert fd["number"] == c.t.exports[0]["fd"], (fd, c.t.exports)           # strace's fd
    assert links[fd["number"]].startswith("/dmabuf:"), links                # /proc at this stop
    if c.mode == "native":
        assert fd["target"] == links[fd["number"]], fd
    else:
        # Remote (another machine) and core: no /proc, and nothing made up in its place.
        assert fd["target"] is None, fd
    return fd["number"]


@_case_params()
def test_why_matches_strace_and_proc(case):
    c = case
    st, t = c.st, c.t
    assert "Traceback" not in st.result.output, st.result.output[-4000:]
    why = st.why
    assert why["source"] == "thread" and why["arch"] == c.arch.arch, (why["source"], why["arch"])
    sc = why["syscall"]
    assert sc["name"] == "ioctl" and sc["number"] == c.arch.ioctl_nr and sc["state"] == "exit", sc
    assert sc["result"] == t.exports[0]["result"] == 0
    assert why["request"]["hex"] == stops.EXPORT and stops.EXPORT_NAME in why["request"]["names"]
    # The process at this very stop, through the guest's /proc (ls/readlink there, not our code).
    links = _links(st)
    check_exit_stop_fd(c, links)
    # The argument (the pointer survives the return): its new fd is the process's sync_file at this stop.
    arg = why["argument"]
    assert arg["struct"] == "dma_buf_export_sync_file" and arg["error"] is None, arg
    assert arg["fields"]["flags"]["value"] & 3, arg            # DMA_BUF_SYNC_READ and/or WRITE
    new_fd = arg["fields"]["fd"]["value"]
    assert links[new_fd] == "anon_inode:sync_file", (new_fd, links)
    # The new sync_file fd as a run under strace shows it: the fd the demo prints itself, or the fd the
    # program later closes as anon_inode:sync_file (lavapipe does; llvmpipe for EGL keeps it).
    if _fixture(c.prog) == "demo":
        m = re.search(r"^DEMO RESULT fd=(\d+) err=<nil>$", t.stdout, re.M)
        assert m and int(m.group(1)) == new_fd, (new_fd, t.stdout[-1500:])
    elif t.sync_fds:
        assert new_fd == t.sync_fds[0], (new_fd, t.sync_fds)
    if c.mode == "native":
        assert "anon_inode:sync_file" in (arg["fields"]["fd"]["note"] or ""), arg["fields"]["fd"]
    assert why["rr"]["would_stop"] is True and why["rr"]["supported_since"] == "5.9.0"


@_case_params()
def test_why_thread_is_the_programs_own(case):
    st = case.st
    own = stops.go_stack_truth(st.log)
    if st.proc is not None and st.proc.get("tid"):
        assert st.why["thread"]["tid"] == st.proc["tid"]
    if _fixture(case.prog) in ("eglgo", "egl_c"):      # the caller locks its OS thread (or is the only one)
        assert own["tid"] and st.why["thread"]["tid"] == own["tid"], (st.why["thread"], own)


# ---------------------------------------------------------------------------------------------
# go-callers against the program's own runtime.Stack, go tool addr2line and gdb's frames

@_case_params(_go)
def test_callers_match_the_programs_own_stack(case):
    st = case.st
    own = stops.go_stack_truth(st.log)
    c = st.callers
    assert "error" not in c, c
    assert own["goid"] and c["goroutine"]["id"] == own["goid"], (c["goroutine"], own)
    assert c["goroutine"]["parent_id"] == own["parent"]
    assert c["goroutine"]["created_by"]["function"] == own["created_by"]
    assert c["thread"]["in_cgo"] is (case.prog.path != "go-direct"), c["thread"]
    go = [f["function"] for f in c["frames"] if f["kind"] == "go"]
    # runtime.Stack was taken one call below the ioctl's caller: its frames (but the first, the
    # printing function itself) are the outer frames of the stop.
    outer = own["functions"][1:]
    assert outer and go[-len(outer):] == outer, (go, own["functions"])
    assert c["unwind"]["complete"] is True, c["unwind"]
    # The Go function that makes the call. A C call with pointer arguments is wrapped by cgo in a closure
    # of the calling function (its pointer checks), which Go's own tracebacks name NAME.func1.
    assert c["caller"]["function"] == _expect(case.prog).caller, c["caller"]


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


def _addr2line_binary(p: stops.Program, vm):
    """The binary go tool addr2line reads for p's pcs. For a stripped build (-s -w), its default build:
    `go tool addr2line` misreads stripped cgo binaries (without runtime.text in a symbol table it takes
    .text's start, where the C code is, as Go's text start), and -s -w only drops the symbol table and
    DWARF: the two builds have .text at the same address and byte-identical .gopclntab (Go's own table
    of functions, entries and lines; checked here), so the default build's answers are the stripped
    build's."""
    x = stops.exe(p.name, vm)
    if p.kind != "stripped":
        return x
    d = stops.exe(_base(p), vm)
    assert _pc_table(x) == _pc_table(d), "the stripped build's pc table differs from the default build's"
    return d


def _load_bias(c: Case, exe):
    """0 for a fixed-address build; for a PIE one, where the guest's /proc/PID/maps (read at the stop,
    outside our code) has the executable's first mapping."""
    if c.prog.kind != "pie":
        return 0
    maps = c.st.extra.get("maps")
    assert maps, "no /proc/PID/maps read at the stop of a PIE build"
    for line in maps.splitlines():
        f = line.split()
        if len(f) >= 6 and f[5].endswith("/" + exe.name) and int(f[2], 16) == 0:
            return int(f[0].split("-")[0], 16)
    raise AssertionError("the executable is not in /proc/PID/maps:\n" + maps)


@_case_params(lambda a, c: "addr2line" in a.checks and _go(a, c))
def test_go_frames_agree_with_go_tool_addr2line(case, vm):
    """Go's own addr2line on the binary at each physical Go frame's pc (minus 1 for return addresses, as
    Go's tracebacks do; minus the load bias for PIE): the physical function, and the innermost (inlined)
    code's file:line."""
    st = case.st
    x = stops.exe(case.name, vm)
    go = [f for f in st.callers["frames"] if f["kind"] == "go"]
    groups = physical_frames(go)
    bias = _load_bias(case, x)
    oracle = _addr2line_binary(case.prog, vm)
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


@_case_params()
def test_native_frames_agree_with_gdbs_own(case):
    st = case.st
    bt = st.bt
    libs = _expect(case.prog).libs
    for lib in libs:
        assert re.search(lib, bt), (lib, bt)                       # gdb's own bt shows the library
    if not case.prog.go:
        return
    c = st.callers
    native = [f for f in c["frames"] if f["kind"] == "native"]
    objs = [f["objfile"] or "" for f in native]
    for lib in libs:
        assert any(re.search(lib, o) for o in objs), (lib, objs)
    if case.prog.path == "go-direct":
        assert native == [], native                                # Go's own svc: no C on the way
        return
    # Frame by frame, the native part as gdb's own unwinder has it (function, shared object).
    ours = [(f["function"], os.path.basename(f["objfile"] or "")) for f in native]
    gdbs = [(fn, os.path.basename(o or "")) for fn, o in st.frames[:len(native)]]
    assert ours == gdbs, (ours, gdbs)
    # Named native frames in the order gdb's bt has them.
    names = [f["function"] for f in native if f["function"]]
    bt_names = [n for n in re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ (?:\[PAC\] )?in )?(\S+) \(", bt, re.M) if n != "??"]
    assert names and names == bt_names[:len(names)], (names, bt_names)


@_params("arch", lambda a: [()])
def test_c_program_is_plainly_not_go(vm, arch):
    for mode in [m for m in MODES if (m, "egl_c") in ARCHES[arch].cases()]:
        st = _stop(vm, mode, "egl_c")
        assert "not a Go program" in st.callers["error"]["what"], st.callers
        assert "Traceback" not in st.result.output
        if st.has("go-callers"):
            text = st.text("go-callers")
            assert "not a Go program" in text and len(text.strip().splitlines()) == 1, text


# ---------------------------------------------------------------------------------------------
# Advice on real, stripped Mesa, and its knobs proved by re-running the program

@_case_params()
def test_advice_recognises_the_real_path(case):
    st, p = case.st, case.prog
    sugs = st.why["suggestions"]
    ids = [s["rule_id"] for s in sugs]
    assert ids == [_expect(p).top, "rr-upgrade"], ids
    if p.go:
        assert st.callers["suggestions"] == sugs          # one shared analysis
    top = sugs[0]
    cmds = " ".join(c for s in sugs for c in s["commands"])
    if p.path == "egl":
        assert len(top["commands"]) == 1 and top["commands"][0].startswith("rr record -v GALLIUM_DRIVER=softpipe ")
        assert top["commands"][0].endswith("/" + _fixture(p)), top["commands"]
        assert any("driCreateNewScreen3" in e for e in top["evidence"]), top["evidence"]
        assert any("libgallium-" in e for e in top["evidence"]), top["evidence"]
    if p.path == "vulkan":
        assert any("VK_LOADER_DRIVERS_DISABLE='*lvp*'" in c for c in top["commands"]), top
        assert "GALLIUM_DRIVER" not in cmds                # lavapipe ignores it (measured in the lab)
        assert "no Vulkan device is left" in top["action"]
    assert "LIBGL_ALWAYS_SOFTWARE" not in cmds


@_case_params(lambda a, c: "missing-evidence" in a.checks)
def test_advice_says_what_evidence_was_missing(case):
    mode, st, p = case.mode, case.st, case.prog
    if p.path not in ("egl", "vulkan"):
        return
    top = st.why["suggestions"][0]
    text = st.text("dmabuf-why") if st.has("dmabuf-why") else ""
    if mode == "native":
        # /proc was there: the memfd lp_dma_buf names the probe, nothing had to be guessed.
        assert any("memfd lp_dma_buf" in e for e in top["evidence"]), top["evidence"]
        assert "missing" not in top and "evidence missing:" not in text
        assert top["confidence"] == "high"
    else:
        miss = top.get("missing", "")
        assert "\n" not in miss
        assert "no /proc (%s" % ("remote target" if mode == "remote" else "core file") in miss, miss
        if p.path == "egl":
            assert miss.startswith("no llvmpipe_* frame names (stripped: ") and "unnamed frames in libgallium-" in miss
            assert re.search(r"recognised from libgallium-[^ ]+\.so \+ driCreateNewScreen3$", miss), miss
        else:
            assert "recognised from libvulkan_lvp.so" in miss, miss
        assert top["confidence"] == "medium"
        flat = " ".join(l.strip() for l in text.splitlines())
        assert "evidence missing: " + miss in flat, text          # the text form says it too


_reruns = {}


def _rerun(vm, name, env):
    k = (id(vm), name, tuple(sorted(env.items())))
    if k not in _reruns:
        _reruns[k] = stops.strace_run(vm, name, env)
    return _reruns[k]


@_params("arch, name", lambda a: [n for n in a.full if a.programs[n].path in ("egl", "vulkan")]
         if "knobs" in a.checks else [])
def test_every_suggested_knob_is_true(vm, arch, name):
    """As tests/test_lab_loop.py on x86-64: each suggestion that sets environment variables, re-run in
    the VM under strace with them (no rr): the export is gone and the program still works, or the
    suggestion says what is lost and that is what happened. The remote stop's advice (the others give
    the same suggestions: test_advice_recognises_the_real_path)."""
    base = stops.truth(vm, name)
    assert len(base.exports) == 1
    checked = 0
    for s in _stop(vm, "remote", name).why["suggestions"]:
        envs = [e for e in (env_of_command(c) for c in s["commands"]) if e]
        if not envs:
            assert NOT_CHECKABLE in s["source"], (s["rule_id"], s["source"])
            continue
        for env in envs:
            r = _rerun(vm, name, env)
            assert len(r.exports) == 0, (s["rule_id"], env, r.trace[-3000:])
            if stops.succeeded(name, r.rc, r.stdout, vm):
                checked += 1
                continue
            said = [loss for loss in LOSSES if loss in s["action"] or loss in s["title"]]
            assert said, (s["rule_id"], env, r.stdout[-1500:])
            assert any(re.search(LOSSES[x], r.stdout, re.M) for x in said), (said, r.stdout[-1500:])
            assert r.rc != 0
            checked += 1
    assert checked, "no suggestion for the Mesa path could be checked"


# ---------------------------------------------------------------------------------------------
# The lab stops recorded for tests/test_advice.py (tests/data/advice/lab_*.json, x86-64 stops)

RECORDED = [("remote", "eglgo"), ("remote", "egl_c"), ("remote", "vkgo"), ("remote", "demo"),
            ("native", "eglgo"), ("native", "egl_c"), ("native", "vkgo"), ("core", "egl_c")]


@_params("arch, mode, name", lambda a: RECORDED if "recorded-advice" in a.checks else [])
def test_recorded_advice_data_is_current(vm, arch, mode, name):
    """LAB_RECORD_ADVICE=1 (re)writes the file; otherwise the stored stop must still give the same advice."""
    path = Path(__file__).resolve().parent / "data" / "advice" / ("lab_%s_%s.json" % (name, mode))
    fresh = stops.advice_record(vm, mode, name)
    stops.check_recorded_advice(path, fresh)


# ---------------------------------------------------------------------------------------------

@_params("arch", lambda a: [()] if "figures" in a.checks else [])
def test_figures(vm, arch, capsys):
    """Not an assertion about speed: the boot and every stop's seconds (the report's table)."""
    a = ARCHES[arch]
    rows = ["boot %.1fs (%s)" % (getattr(vm, "boot_seconds", 0) or 0, vm.accel)]
    for name in a.full + a.variants:
        t = stops._memo.get(stops._key(vm, "truth", name))
        parts = ["strace %.1fs" % t.seconds] if t else []
        for mode in MODES:
            st = stops._memo.get(stops._key(vm, mode, name))
            if st is not None:
                parts.append("%s %.1fs" % (mode, st.seconds))
        rows.append("%-15s %s" % (name, ", ".join(parts)))
    for (vmid, name, env), r in sorted(_reruns.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if vmid == id(vm):
            rows.append("%-15s re-run %s: exports=%d rc=%d %.1fs" % (name, " ".join("%s=%s" % kv for kv in env),
                                                                    len(r.exports), r.rc, r.seconds))
    with capsys.disabled():
        print("\n%s lab stops:\n  %s" % (arch, "\n  ".join(rows)))
