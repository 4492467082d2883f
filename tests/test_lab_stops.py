"""The lab (real kernel 6.12 with udmabuf, real Mesa 25.0.7): every lab program stopped just after its
DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned, analysed three ways (host gdb over the guest's gdbserver with
no /proc, gdb 16.3 + Python 3.13 in the guest, a core written there and read on the host), each compared
with ground truth from outside our code: strace -yy in the guest (request, result, the fd's path, the
sync_file fd the program closes afterwards), the guest's /proc at the stop (fd links), the program's own
goroutine id and runtime.Stack, and gdb's own `bt`.

rr itself is not run (it cannot record here); the stop is where rr's emergency gdbserver would stop.
"""
import re

import pytest

from tests.fixtures.lab import stops
from tests.support.lab import lab_vm  # noqa: F401  (the session fixture)

MODES = list(stops.MODES)
GO = [n for n in stops.NAMES if stops.PROGRAMS[n].go]
MESA = [n for n in stops.NAMES if stops.PROGRAMS[n].path in ("egl", "vulkan")]
CASES = [(m, n) for n in stops.NAMES for m in MODES]


def _id(case):
    return "%s-%s" % case


@pytest.fixture(params=CASES, ids=[_id(c) for c in CASES])
def case(request, lab_vm):
    mode, name = request.param
    return mode, name, stops.stop(lab_vm, mode, name), stops.truth(lab_vm, name)


# ---------------------------------------------------------------------------------------------
# Ground truth alone: the kernel really answers, once, with success (otherwise nothing below means much)

@pytest.mark.parametrize("name", stops.NAMES)
def test_strace_sees_one_successful_export(lab_vm, name):
    t = stops.truth(lab_vm, name)
    assert stops.succeeded(name, t.rc, t.stdout), t.stdout[-2000:]
    assert len(t.exports) == 1, t.trace[-3000:]
    e = t.exports[0]
    assert e["result"] == 0 and e["fd_path"].startswith("/dmabuf:"), e
    if stops.PROGRAMS[name].path != "own-c":
        # Mesa's probe: /dev/udmabuf, a memfd named lp_dma_buf, then the export.
        opens = t.opened("/dev/udmabuf")
        assert opens and opens[0].args[2].startswith("O_RDWR") and opens[0].result >= 0, t.trace[-3000:]
        memfds = t.memfds("lp_dma_buf")
        assert memfds and memfds[0].args[1].startswith("MFD_ALLOW_SEALING"), t.trace[-3000:]
    if name == "vkgo":
        assert t.sync_fds, t.trace[-3000:]     # vkDestroyInstance closes the probe's sync_file


# ---------------------------------------------------------------------------------------------
# dmabuf-why against strace and /proc

def _new_fd_truth(name, st, t):
    """The sync_file fd the call returned, where a run under strace shows it: the fd the program later
    closes as anon_inode:sync_file (lavapipe does; llvmpipe for EGL keeps it), or, for the demo, the fd
    it prints itself. None when only /proc at the stop can tell."""
    if stops.PROGRAMS[name].path == "own-c":
        m = re.search(r"^DEMO RESULT fd=(\d+) err=<nil>$", t.stdout, re.M)
        assert m, t.stdout[-2000:]
        return int(m.group(1))
    return t.sync_fds[0] if t.sync_fds else None


def test_why_matches_strace_and_proc(case):
    mode, name, st, t = case
    assert "Traceback" not in st.result.output, st.result.output[-4000:]
    why = st.why
    assert why["source"] == "thread" and why["arch"] == "x86-64"
    sc = why["syscall"]
    assert sc["name"] == "ioctl" and sc["state"] == "exit", sc
    assert sc["result"] == t.exports[0]["result"] == 0
    assert why["request"]["hex"] == stops.EXPORT and stops.EXPORT_NAME in why["request"]["names"]
    # The fd and the new sync_file fd, as strace saw them in a run of the same program.
    assert why["fd"]["number"] == t.exports[0]["fd"], (why["fd"], t.exports)
    arg = why["argument"]
    assert arg["struct"] == "dma_buf_export_sync_file" and arg["error"] is None, arg
    assert arg["fields"]["flags"]["value"] & 3, arg            # DMA_BUF_SYNC_READ and/or WRITE
    new_fd = arg["fields"]["fd"]["value"]
    want = _new_fd_truth(name, st, t)
    if want is not None:
        assert new_fd == want, (arg, t.sync_fds)
    assert st.proc is not None and st.proc["fd"], "no /proc ground truth for this stop"
    if st.proc is not None:
        # The process at this very stop, through the guest's /proc (ls/readlink there, not our code).
        links = {int(k): v for k, v in st.proc["fd"].items()}
        assert links[why["fd"]["number"]].startswith("/dmabuf:"), links
        assert links[new_fd] == "anon_inode:sync_file", links
    if mode == "native":
        assert why["fd"]["target"] == links[why["fd"]["number"]]
        assert "anon_inode:sync_file" in (arg["fields"]["fd"]["note"] or ""), arg["fields"]["fd"]
    else:
        # Remote (another machine) and core: no /proc, and nothing made up in its place.
        assert why["fd"]["target"] is None, why["fd"]
    assert why["rr"]["would_stop"] is True and why["rr"]["supported_since"] == "5.9.0"


def test_why_thread_is_the_programs_own(case):
    mode, name, st, t = case
    own = stops.go_stack_truth(st.log)
    if st.proc is not None and st.proc.get("tid"):
        assert st.why["thread"]["tid"] == st.proc["tid"]
    if name in ("eglgo", "egl_c"):      # the caller locks its OS thread (or is the only one)
        assert own["tid"] and st.why["thread"]["tid"] == own["tid"], (st.why["thread"], own)


# ---------------------------------------------------------------------------------------------
# go-callers against the program's own runtime.Stack and gdb's bt

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", GO)
def test_callers_match_the_programs_own_stack(lab_vm, mode, name):
    st = stops.stop(lab_vm, mode, name)
    own = stops.go_stack_truth(st.log)
    c = st.callers
    assert "error" not in c, c
    assert own["goid"] and c["goroutine"]["id"] == own["goid"], (c["goroutine"], own)
    assert c["goroutine"]["parent_id"] == own["parent"]
    assert c["goroutine"]["created_by"]["function"] == own["created_by"]
    assert c["thread"]["in_cgo"] is True
    go = [f["function"] for f in c["frames"] if f["kind"] == "go"]
    # runtime.Stack was taken one call below the ioctl's caller: its frames (but the first, the
    # printing function itself) are the outer frames of the stop.
    outer = own["functions"][1:]
    assert outer and go[-len(outer):] == outer, (go, own["functions"])
    assert c["unwind"]["complete"] is True, c["unwind"]


# The Go function that makes the cgo call. A C call with pointer arguments is wrapped by cgo in a closure
# of the calling function (its pointer checks), which Go's own tracebacks name NAME.func1.
EXPECT_CALLER = {"demo": "example.com/dmademo/internal/gpu.ExportSyncFile",
                 "eglgo": "example.com/labegl/internal/egl.NewDisplay.func1",
                 "vkgo": "example.com/labvk/internal/vk.(*Instance).PhysicalDevices.func1"}
# (glvnd's eglInitialize in libEGL.so.1 tail-calls into libEGL_mesa.so.0: it is not on the stack.)
EXPECT_LIBS = {"eglgo": [r"libdrm\.so\.2", r"libgallium-[\d.]+.*\.so", r"libEGL_mesa\.so\.0"],
               "egl_c": [r"libdrm\.so\.2", r"libgallium-[\d.]+.*\.so", r"libEGL_mesa\.so\.0"],
               "vkgo": [r"libvulkan_lvp\.so", r"libvulkan\.so\.1"],
               "demo": []}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", stops.NAMES)
def test_native_frames_agree_with_gdbs_bt(lab_vm, mode, name):
    st = stops.stop(lab_vm, mode, name)
    bt = st.bt
    c = st.callers
    if stops.PROGRAMS[name].go:
        assert c["caller"]["function"] == EXPECT_CALLER[name], c["caller"]
        native = [f for f in c["frames"] if f["kind"] == "native"]
        objs = [f["objfile"] or "" for f in native]
        for lib in EXPECT_LIBS[name]:
            assert re.search(lib, bt), (lib, bt)               # gdb's own bt shows the library
            assert any(re.search(lib, o) for o in objs), (lib, objs)
        # Named native frames in the order gdb's bt has them.
        names = [f["function"] for f in native if f["function"]]
        bt_names = [n for n in re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(", bt, re.M) if n != "??"]
        assert names and names == bt_names[:len(names)], (names, bt_names)
    else:
        for lib in EXPECT_LIBS[name]:
            assert re.search(lib, bt), (lib, bt)


def test_c_program_is_plainly_not_go(lab_vm):
    for mode in MODES:
        st = stops.stop(lab_vm, mode, "egl_c")
        assert "not a Go program" in st.callers["error"]["what"], st.callers
        if not st.has("go-callers"):
            continue
        text = st.text("go-callers")
        assert "not a Go program" in text and len(text.strip().splitlines()) == 1, text
        assert "Traceback" not in st.result.output


# ---------------------------------------------------------------------------------------------
# Advice on real, stripped Mesa

TOP = {"eglgo": "mesa-llvmpipe-fence-probe", "egl_c": "mesa-llvmpipe-fence-probe",
       "vkgo": "mesa-lavapipe-enumerate", "demo": "go-cgo-ioctl"}


def test_advice_recognises_the_real_path(case):
    mode, name, st, t = case
    sugs = st.why["suggestions"]
    ids = [s["rule_id"] for s in sugs]
    assert ids == [TOP[name], "rr-upgrade"], ids
    if stops.PROGRAMS[name].go:
        assert st.callers["suggestions"] == sugs          # one shared analysis
    top = sugs[0]
    cmds = " ".join(c for s in sugs for c in s["commands"])
    if stops.PROGRAMS[name].path == "egl":
        assert len(top["commands"]) == 1 and top["commands"][0].startswith("rr record -v GALLIUM_DRIVER=softpipe ")
        assert top["commands"][0].endswith("/" + name), top["commands"]
        assert any("driCreateNewScreen3" in e for e in top["evidence"]), top["evidence"]
        assert any("libgallium-" in e for e in top["evidence"]), top["evidence"]
    if stops.PROGRAMS[name].path == "vulkan":
        assert any("VK_LOADER_DRIVERS_DISABLE='*lvp*'" in c for c in top["commands"]), top
        assert "GALLIUM_DRIVER" not in cmds                # lavapipe ignores it (measured in the lab)
        assert "no Vulkan device is left" in top["action"]
    assert "LIBGL_ALWAYS_SOFTWARE" not in cmds


def test_advice_says_what_evidence_was_missing(case):
    mode, name, st, t = case
    if stops.PROGRAMS[name].path not in ("egl", "vulkan"):
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
        if stops.PROGRAMS[name].path == "egl":
            assert miss.startswith("no llvmpipe_* frame names (stripped: ") and "unnamed frames in libgallium-" in miss
            assert re.search(r"recognised from libgallium-[^ ]+\.so \+ driCreateNewScreen3$", miss), miss
        else:
            assert "recognised from libvulkan_lvp.so" in miss, miss
        assert top["confidence"] == "medium"
        flat = " ".join(l.strip() for l in text.splitlines())
        assert "evidence missing: " + miss in flat, text          # the text form says it too


# ---------------------------------------------------------------------------------------------
# The lab stops recorded for tests/test_advice.py (tests/data/advice/lab_*.json)

RECORDED = [("remote", "eglgo"), ("remote", "egl_c"), ("remote", "vkgo"), ("remote", "demo"),
            ("native", "eglgo"), ("native", "egl_c"), ("native", "vkgo"), ("core", "egl_c")]


@pytest.mark.parametrize("mode, name", RECORDED, ids=["%s-%s" % c for c in RECORDED])
def test_recorded_advice_data_is_current(lab_vm, mode, name):
    """LAB_RECORD_ADVICE=1 (re)writes the file; otherwise the stored stop must still give the same advice."""
    from pathlib import Path
    path = Path(__file__).resolve().parent / "data" / "advice" / ("lab_%s_%s.json" % (name, mode))
    fresh = stops.advice_record(lab_vm, mode, name)
    stops.check_recorded_advice(path, fresh)
