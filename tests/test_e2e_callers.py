"""go-callers end to end, through real gdb, against ground truth.

Each cell builds the demo (tests/fixtures/go/demo), stops it where rr stops (catch syscall ioctl on
DMA_BUF_IOCTL_EXPORT_SYNC_FILE, at the exit unless said otherwise), runs `go-callers --json` and
`go-callers`, and then sends the stopped thread SIGQUIT. Independent ground truths:

- what the program printed about itself before the ioctl (to a file of its own, so gdb's messages
  cannot interleave): its goroutine id and its own runtime.Stack (frames below render.groundTruth,
  and "created by");
- the kernel, for the thread: /proc/PID/task/TID/syscall names the one thread in the ioctl (the
  printed TID is not enough: the goroutine can move to another thread between printing and the ioctl;
  seen here: printed on the main thread, stopped on another);
- the Go runtime's own SIGQUIT traceback of the same goroutine at the same stop (a runtime "throw",
  so runtime frames are shown, with pc= for every physical frame, "(...)" for inlined ones, and the
  goroutine's status). It starts at the goroutine's saved syscall pc: on the syscall path go-callers,
  which unwinds from the registers, shows the frames inside the syscall too, so the traceback must be
  the outer end of go-callers' frames; only the innermost compared frame may sit at another line.

Cells: Go 1.23.4 {cgo, syscall path} x {default, stripped, PIE} live; every release in ALL_GO on the
cgo path live; Go 1.23.4 over gdbserver (target extended-remote); from core files written at the stop
(default and stripped); at the syscall entry. Then bad input, one clear line each.
"""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from gdb_rr_dmabuf.errors import TargetReadError
from gdb_rr_dmabuf.target import Target
from tests.support.cores import SKIP_RESTARTS
from tests.support.demo import (CALLERS_CMDS, EXPORT_SYNC_FILE, GPU, KERNEL_CMD, MODULE, RENDER, Demo, go_frames,
                                kernel_ioctl_threads, parse_demo, relabelled_demo, run_demo)
from tests.support.gdbrun import GdbResult, gdbserver, run_gdb
from tests.support.gotraceback import SIGQUIT_CMDS, TFrame, Traceback, parse_traceback
from tests.support.toolchains import ALL_GO, DEFAULT_GO, build_c, build_go, go_tool

SECCOMP_IOCTL_NOTIF_RECV = "0xc0502100"


# ----------------------------------------------------------------------------- Go traceback text

def shown_by_go(function: str) -> bool:
    """Whether Go's default traceback (runtime.Stack) shows a frame of this function: not the
    runtime's unexported functions, not cgo's generated _Cfunc_ wrappers, not go-statement wrappers."""
    if function.startswith("runtime."):
        rest = function[len("runtime."):]
        return rest[:1].isupper()
    last = function.rsplit("/", 1)[-1]
    if "._Cfunc_" in last or last.startswith("_Cfunc_"):
        return False
    return re.search(r"\.gowrap\d+$", function) is None


# --------------------------------------------------------------------------------------- runs

@dataclass
class Cell:
    version: str
    path: str  # 'cgo' | 'syscall'
    build: str  # 'default' | 'stripped' | 'pie'
    mode: str  # 'live' | 'remote' | 'core' | 'entry'

    @property
    def id(self) -> str:
        return "go%s-%s-%s-%s" % (self.version, self.path, self.build, self.mode)

    def exe(self) -> Path:
        return build_go("demo", self.version, stripped=self.build == "stripped", pie=self.build == "pie")


CELLS: List[Cell] = []
for _path in ("cgo", "syscall"):
    for _build in ("default", "stripped", "pie"):
        CELLS.append(Cell(DEFAULT_GO, _path, _build, "live"))
CELLS += [Cell(v, "cgo", "default", "live") for v in ALL_GO if v != DEFAULT_GO]
CELLS += [Cell(DEFAULT_GO, "cgo", "default", "remote"),
          Cell(DEFAULT_GO, "cgo", "default", "core"),
          Cell(DEFAULT_GO, "cgo", "stripped", "core"),
          Cell(DEFAULT_GO, "cgo", "default", "entry")]


@dataclass
class Run:
    cell: Cell
    exe: Path
    demo: Demo
    sigquit: Traceback  # the runtime's traceback of the demo's goroutine
    json: dict  # go-callers --json
    text: str  # go-callers
    kernel_tid: int  # the thread the kernel says is in the ioctl (/proc/PID/task/TID/syscall)
    live_json: Optional[dict] = None  # core cells: go-callers on the live process that was dumped
    output: str = ""


_RUNS: Dict[str, Run] = {}


def run_cell(cell: Cell) -> Run:
    if cell.id in _RUNS:
        return _RUNS[cell.id]
    exe = cell.exe()
    env = {"GDBT_REQUEST": EXPORT_SYNC_FILE}
    ienv = {"DMADEMO_PATH": cell.path, "DMADEMO_KERNEL": "simulate"}
    live_json = None
    tmp = Path(tempfile.mkdtemp(prefix="e2e-callers-"))
    log = tmp / "program.log"
    # The program writes to its own file, not to gdb's pipe, so gdb's "[Thread ... exited]" lines
    # cannot land in the middle of the runtime's traceback (gdb starts it through the shell).
    redirect = [">" + str(log), "2>&1"]
    try:
        if cell.mode in ("live", "entry", "remote"):
            cmds = [KERNEL_CMD] + CALLERS_CMDS + SIGQUIT_CMDS
            if cell.mode == "remote":
                with gdbserver(exe, env=ienv, log=log) as addr:
                    env["GDBT_REMOTE"] = addr
                    res = run_gdb(["remote_stop_ioctl_exit", "load_plugin", "run_commands"], exe, env=env,
                                  commands=cmds + ["info inferiors"])
                assert "(extended-remote 127.0.0.1:" in res.section("c%d" % len(cmds)), res.output[-3000:]
            else:
                stop = "stop_ioctl_exit" if cell.mode == "live" else "stop_ioctl_entry"
                res = run_gdb([stop, "load_plugin", "run_commands"], exe, args=redirect, env=env,
                              inferior_env=ienv, commands=cmds)
            assert "exited with code 02" in res.section("c%d" % (len(cmds) - 1)), res.output[-3000:]
            kernel = kernel_ioctl_threads(res, "c0")
            j, text = res.json("c1"), res.section("c2")
        else:  # core: write it at the stop, dump the live answer too, then a second gdb on the core alone
            core = tmp / "core"
            cmds = [KERNEL_CMD, "go-callers --json"] + SIGQUIT_CMDS
            res = run_gdb(["stop_ioctl_exit", "write_core", "load_plugin", "run_commands"], exe, args=redirect,
                          env=env, inferior_env=ienv, core=core, commands=cmds)
            assert "exited with code 02" in res.section("c%d" % (len(cmds) - 1)), res.output[-3000:]
            kernel = kernel_ioctl_threads(res, "c0")
            live_json = res.json("c1")
            assert core.exists() and core.stat().st_size > 0, res.output[-3000:]
            res2 = run_gdb(["load_core", "load_plugin", "run_commands"], exe, core=core, commands=CALLERS_CMDS)
            assert "Core was generated by" in res2.output, res2.output[-3000:]
            j, text = res2.json("c0"), res2.section("c1")
            res = res2
        program_out = log.read_text(errors="replace")
    finally:
        shutil.rmtree(str(tmp), ignore_errors=True)  # gdb's cores of Go programs are ~1.6 GB
    demo = parse_demo(program_out)
    quit_at = program_out.find("SIGQUIT: quit")
    assert quit_at >= 0, "no SIGQUIT traceback:\n" + program_out[-4000:]
    sq = parse_traceback(program_out[quit_at:], demo.goid)
    assert len(kernel) == 1, kernel
    run = Run(cell, exe, demo, sq, j, text, kernel[0], live_json, res.output)
    _RUNS[cell.id] = run
    return run


@pytest.fixture(params=CELLS, ids=[c.id for c in CELLS])
def run(request) -> Run:
    return run_cell(request.param)


def where(f) -> Tuple[str, str, int]:
    if isinstance(f, dict):
        return f["function"], f["file"], f["line"]
    return f.function, f.file, f.line


def sigquit_frames(run: Run) -> List[TFrame]:
    """The runtime's frames of the goroutine without runtime.goexit and the go statement's wrapper
    (render.Start.func1 / .gowrap1), which Go's default traceback does not show either."""
    fr = list(run.sigquit.frames)
    while fr and (fr[-1].function == "runtime.goexit"
                  or re.match(re.escape(run.sigquit.created_by or "?") + r"\.(func|gowrap)\d+$", fr[-1].function)):
        fr.pop()
    return fr


# ------------------------------------------------------------------------- ground-truth tests

def test_goroutine_id_status_and_thread(run: Run):
    j = run.json
    assert "error" not in j, j
    g = j["goroutine"]
    assert g is not None, j["warnings"]
    assert g["id"] == run.demo.goid == run.sigquit.goid
    # The runtime says "syscall" (plus ", locked to thread" on the syscall path) at the same stop.
    assert g["status"] == run.sigquit.status.split(",")[0] == "syscall"
    assert j["thread"]["tid"] == run.kernel_tid
    if run.live_json is not None:
        assert run.live_json["thread"]["tid"] == run.kernel_tid


def test_go_frames_end_like_the_printed_stack(run: Run):
    """Below render.groundTruth, the program's own stack is the outer end of go-callers' Go frames:
    same functions and files; same lines except the innermost compared frame, which called
    groundTruth when it printed and calls probe now."""
    printed = [f for f in run.demo.stack.frames[1:] if shown_by_go(f.function)]
    ours = [f for f in go_frames(run.json) if shown_by_go(f["function"])]
    assert len(printed) >= 2 and len(ours) > len(printed)
    tail = ours[-len(printed):]
    assert [f["function"] for f in tail] == [p.function for p in printed]
    assert [f["file"] for f in tail] == [p.file for p in printed]
    assert [f["line"] for f in tail[1:]] == [p.line for p in printed[1:]]
    assert tail[0]["line"] != printed[0].line  # initFences: groundTruth(...) then, s.probe() now


def test_go_frames_match_the_runtime_traceback(run: Run):
    """The runtime's own traceback at the stop, frame by frame: function, file, line, inlined mark,
    and pc of each physical frame."""
    theirs = sigquit_frames(run)
    ours = [f for f in go_frames(run.json) if f["function"] != "runtime.goexit"]
    assert len(ours) >= len(theirs), (ours, theirs)
    extra = len(ours) - len(theirs)  # frames inside the syscall (syscall path only)
    assert extra == (2 if run.cell.path == "syscall" else 0), [f["function"] for f in ours]
    tail = ours[extra:]
    assert [f["function"] for f in tail] == [t.function for t in theirs]
    assert [f["file"] for f in tail] == [t.file for t in theirs]
    assert [f["inlined"] for f in tail] == [t.inlined for t in theirs]
    first = 1 if extra else 0  # the innermost traceback frame is at the saved syscall pc, ours deeper
    assert [f["line"] for f in tail[first:]] == [t.line for t in theirs[first:]]
    assert [f["pc"] for f in tail[first:] if not f["inlined"]] == \
        [t.pc for t in theirs[first:] if not t.inlined]
    if extra:
        assert tail[0]["line"] != theirs[0].line and tail[0]["pc"] != theirs[0].pc


def test_created_by(run: Run):
    cb = run.json["goroutine"]["created_by"]
    printed, theirs = run.demo.stack, run.sigquit
    assert cb["function"] == printed.created_by == theirs.created_by == RENDER + ".Start"
    assert (cb["file"], cb["line"]) == (printed.created_file, printed.created_line) == \
        (theirs.created_file, theirs.created_line)
    assert run.json["goroutine"]["parent_id"] == printed.parent == theirs.parent


def _module_version(exe: Path, version: str) -> str:
    out = subprocess.run([str(go_tool(version)), "version", "-m", str(exe)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    m = re.search(r"^\tmod\t%s\t(\S+)" % re.escape(MODULE), out, re.M)
    assert m, out
    return m.group(1)


def test_caller_module_and_inlined_frame(run: Run):
    j = run.json
    cgo = run.cell.path == "cgo"
    want = GPU + (".ExportSyncFile" if cgo else ".ExportSyncFileDirect")
    c = j["caller"]
    assert c is not None, j
    assert c["function"] == want and c["package"] == GPU and c["kind"] == "go"
    assert c["module"] == MODULE == j["main_module"]
    assert c["version"] == _module_version(run.exe, run.cell.version) == j["main_version"]
    assert j["go_version"] == "go" + run.cell.version
    # Its file:line is where the runtime's traceback has it.
    t = [t for t in run.sigquit.frames if t.function == want]
    assert len(t) == 1 and (c["file"], c["line"]) == (t[0].file, t[0].line)
    inl = [f["function"] for f in go_frames(j) if f["inlined"]]
    assert inl == [RENDER + ".(*Screen)." + ("export" if cgo else "exportDirect")]
    probe = [f for f in go_frames(j) if f["function"] == RENDER + ".(*Screen).probe"]
    assert len(probe) == 1 and not probe[0]["inlined"]
    assert j["unwind"]["complete"] is True, j["unwind"]
    assert j["warnings"] == []


def test_thread_kind_and_native_frames(run: Run):
    j = run.json
    kinds = [f["kind"] for f in j["frames"]]
    if run.cell.path == "cgo":
        assert (j["thread"]["kind"], j["thread"]["in_cgo"], j["thread"]["on_system_stack"]) == ("g0", True, True)
        n = kinds.count("native")
        assert n >= 1 and kinds == ["native"] * n + ["go"] * (len(kinds) - n)
        natives = [f["function"] for f in j["frames"] if f["kind"] == "native"]
        if run.cell.build != "stripped":  # a stripped executable has no names for the C functions
            assert "probe_fence_export" in natives and "gpu_export_sync_file" in natives, natives
            assert natives.index("probe_fence_export") < natives.index("gpu_export_sync_file")
        assert "ioctl" in (natives[0] or ""), natives
        assert go_frames(j)[0]["function"] == "runtime.cgocall"
    else:
        assert (j["thread"]["kind"], j["thread"]["in_cgo"], j["thread"]["on_system_stack"]) == \
            ("goroutine", False, False)
        assert set(kinds) == {"go"}
        assert j["frames"][0]["function"].endswith("syscall.Syscall6")


def test_text_report(run: Run):
    t = run.text
    j = run.json
    assert "Traceback" not in t and "internal error" not in t and "Error in sourced" not in run.output
    lines = t.splitlines()
    c = j["caller"]
    # First line: the goroutine and the answer (Delve's "User" frame: the caller, file:line).
    assert lines[0] == "goroutine %d [syscall]  caller %s  %s:%d" % (
        run.demo.goid, c["function"], c["file"].rsplit("/", 1)[-1], c["line"]), lines[0]
    assert lines[1].startswith("  thread %d" % run.kernel_tid), lines[1]
    if run.cell.path == "cgo":
        assert lines[1].endswith("on the system stack (g0), in a cgo call"), lines[1]
    cb = j["goroutine"]["created_by"]
    assert "  created by %s in goroutine %d at %s:%d" % (cb["function"], run.demo.stack.parent, cb["file"],
                                                        cb["line"]) in lines
    assert "  package %s, module %s %s" % (GPU, MODULE, j["main_version"]) in lines
    # Every Go frame of the JSON is in the text, in order, with its file:line and pc.
    pos = 0
    for f in go_frames(j):
        i = t.find(f["function"], pos)
        assert i >= 0, (f["function"], t)
        assert ("%s:%d  pc=0x%x" % (f["file"], f["line"], f["pc"])) in t[i:]
        pos = i + len(f["function"])
    inl = [ln for ln in lines if "[inlined]" in ln]
    assert len(inl) == 1 and ".(*Screen).export" in inl[0]


def test_pie_addresses_are_relocated():
    """PIE: the pcs go-callers reports are run-time addresses (the runtime prints the same ones),
    not the link-time ones of the file."""
    run = run_cell(Cell(DEFAULT_GO, "cgo", "pie", "live"))
    from elftools.elf.elffile import ELFFile
    with open(str(run.exe), "rb") as f:
        elf = ELFFile(f)
        assert elf.header["e_type"] == "ET_DYN"
        text = elf.get_section_by_name(".text")
        lo, hi = text["sh_addr"], text["sh_addr"] + text["sh_size"]
    pcs = [f["pc"] for f in go_frames(run.json)]
    assert all(not lo <= pc < hi for pc in pcs), [hex(p) for p in pcs]
    assert pcs[0] == sigquit_frames(run)[0].pc


def test_core_answer_equals_the_live_one():
    for build in ("default", "stripped"):
        run = run_cell(Cell(DEFAULT_GO, "cgo", build, "core"))
        live, core = run.live_json, run.json
        assert live["goroutine"] == core["goroutine"]
        assert live["thread"] == core["thread"]
        key = [(f["function"], f["file"], f["line"], f["pc"], f["inlined"]) for f in go_frames(live)]
        assert key == [(f["function"], f["file"], f["line"], f["pc"], f["inlined"]) for f in go_frames(core)]
        assert [f["pc"] for f in live["frames"] if f["kind"] == "native"] == \
            [f["pc"] for f in core["frames"] if f["kind"] == "native"]


# ------------------------------------------------------------------------------------ bad input

def assert_one_line_error(res: GdbResult, text_sec: str, json_sec: str, *phrases: str) -> str:
    """go-callers failed with one line on the text side and {"error": ...} on the JSON side, both
    naming the problem; no Python traceback and no gdb 'Error in sourced command file'."""
    for bad in ("Traceback", "Error in sourced command file", "internal error", "GDB-ERROR"):
        assert bad not in res.output, res.output[-4000:]
    lines = [ln for ln in res.section(text_sec).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("go-callers: "), line
    j = res.json(json_sec)
    assert list(j) == ["error"] and set(j["error"]) == {"what", "todo"}, j
    assert j["error"]["todo"], j
    for p in phrases:
        assert p in line and p in j["error"]["what"], (p, line, j)
    assert line == "go-callers: %s: %s" % (j["error"]["what"], j["error"]["todo"])
    return line


def test_not_a_go_program():
    """The C fixture stopped at its own DMA_BUF_IOCTL_EXPORT_SYNC_FILE."""
    exe = build_c("dmabuf_ioctls.c")
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], exe, args=["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"],
                  env={"GDBT_REQUEST": EXPORT_SYNC_FILE}, commands=["go-callers", "go-callers --json",
                                                                   "dmabuf-why --json"])
    assert "FIXTURE PID" in res.output and "returned from syscall ioctl" in res.output, res.output[-3000:]
    assert_one_line_error(res, "c0", "c1", "%s is not a Go program" % exe)
    assert res.json("c2")["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]  # the stop is real


def _gopclntab(path: Path) -> Tuple[int, int, int]:
    """(file offset of .gopclntab, its size, file offset of its name in .shstrtab)."""
    from elftools.elf.elffile import ELFFile
    with open(str(path), "rb") as f:
        elf = ELFFile(f)
        sec = elf.get_section_by_name(".gopclntab")
        assert sec is not None, path
        shstr = elf.get_section(elf.header["e_shstrndx"])
        return sec["sh_offset"], sec["sh_size"], shstr["sh_offset"] + sec["sh_name"]


def _patched_copy(src: Path, dst: Path, patches: List[Tuple[int, bytes]]) -> Path:
    data = bytearray(src.read_bytes())
    for off, b in patches:
        data[off:off + len(b)] = b
    dst.write_bytes(bytes(data))
    dst.chmod(0o755)
    return dst


@pytest.fixture(scope="module")
def broken_pclntabs(tmp_path_factory):
    """The demo stopped at its ioctl; then gdb's executable is swapped (`file COPY`) for copies with
    a damaged pclntab (a damaged copy cannot run: the Go runtime checks its pclntab at start-up)."""
    tmp = tmp_path_factory.mktemp("pclntab")
    exe = build_go("demo")
    off, size, _ = _gopclntab(exe)
    assert exe.read_bytes()[off:off + 4] == struct.pack("<I", 0xFFFFFFF1)  # Go 1.20+ magic
    bad_magic = _patched_copy(exe, tmp / "demo-bad-magic", [(off, b"\xde\xad\xbe\xef")])
    bad_header = _patched_copy(exe, tmp / "demo-bad-header", [(off + 8, b"\xff" * 64)])
    # No pclntab at all: a stripped build (no runtime.pcheader symbol), the section renamed and the
    # magic gone, so neither the section, nor symbols, nor a scan for the header can find one.
    stripped = build_go("demo", stripped=True)
    soff, _, name = _gopclntab(stripped)
    no_pcln = _patched_copy(stripped, tmp / "demo-no-pclntab", [(soff, b"\0\0\0\0"), (name, b"X")])
    cmds = []
    for copy in (bad_magic, bad_header, no_pcln):
        cmds += ["file " + str(copy), "python print('EXE', gdb.current_progspace().filename)", "go-callers",
                 "go-callers --json"]
    res, out = run_demo(["stop_ioctl_exit", "load_plugin", "run_commands"], exe, {"GDBT_REQUEST": EXPORT_SYNC_FILE},
                        {"DMADEMO_PATH": "cgo"}, cmds + ["info inferiors"])
    assert "DEMO STACK END" in out and "returned from syscall ioctl" in res.output
    for i, copy in enumerate((bad_magic, bad_header, no_pcln)):
        assert "EXE %s\n" % copy in res.section("c%d" % (4 * i + 1))  # go-callers looks at the copy
    return res, (bad_magic, bad_header, no_pcln)


def test_corrupt_pclntab_magic(broken_pclntabs):
    res, (copy, _, _) = broken_pclntabs
    assert_one_line_error(res, "c2", "c3", "Go pclntab is corrupt", "bad magic 0xefbeadde", copy.name)


def test_corrupt_pclntab_header(broken_pclntabs):
    res, (_, copy, _) = broken_pclntabs
    assert_one_line_error(res, "c6", "c7", "Go pclntab is corrupt", copy.name)


def test_no_pclntab(broken_pclntabs):
    res, (_, _, copy) = broken_pclntabs
    assert_one_line_error(res, "c10", "c11", "%s was built by go1.23.4 but its Go pclntab is missing or damaged"
                          % copy.name)
    assert re.search(r"^\* 1 +process \d+ ", res.section("c12"), re.M)  # gdb still has the stopped demo


def test_no_pclntab_does_not_deny_a_go_program(broken_pclntabs):
    res, (_, _, copy) = broken_pclntabs
    line = res.section("c10").strip()
    assert "not a Go program" not in line, line
    assert "go1.23.4" in line, line  # what the build info says, so the user knows which Go built it


def test_no_process():
    exe = build_go("demo")
    res = run_gdb(["load_plugin", "run_commands"], exe, commands=["go-callers", "go-callers --json"])
    assert_one_line_error(res, "c0", "c1", "no process to inspect")
    res = run_gdb(["load_plugin", "run_commands"], None, commands=["go-callers", "go-callers --json"])
    assert_one_line_error(res, "c0", "c1", "no process to inspect")


def test_thread_that_runs_no_go():
    """A pthread created by C (gstates' cthread mode) stopped in its ioctl(9999, ...): no goroutine."""
    exe = build_go("gstates")
    res, out = run_demo(["stop_ioctl_entry", "load_plugin", "run_commands"], exe,
                        {"GDBT_REQUEST": "0xc0086202 && $rdi == 9999"}, {},
                        [KERNEL_CMD, "go-callers --json", "go-callers"], args=["cthread"])
    [tid] = kernel_ioctl_threads(res, "c0", EXPORT_SYNC_FILE)
    for bad in ("Traceback", "Error in sourced command file", "internal error", "GDB-ERROR"):
        assert bad not in res.output
    j = res.json("c1")
    assert j["thread"]["tid"] == tid and j["thread"]["kind"] == "no-go"
    assert j["goroutine"] is None and j["caller"] is None and go_frames(j) == []
    natives = [f["function"] for f in j["frames"]]
    assert any(n and "ioctl" in n for n in natives), natives
    text = res.section("c2").splitlines()
    assert text[0].startswith("thread %d runs no Go code" % tid), text
    assert not any(ln.startswith("Go frames") or ln.startswith("caller") for ln in text), text


# Go releases outside the known layouts: a real binary whose build info and runtime.buildVersion say
# so (same length, so the program still runs); the nearest known layout is the right one for it.
@pytest.mark.parametrize("real,claimed,nearest,why", [("1.27.3", "1.28.3", "1.27", "newer than"),
                                                     ("1.19.8", "1.17.8", "1.18", "older than")])
def test_go_version_out_of_range(tmp_path, real, claimed, nearest, why):
    copy = relabelled_demo(tmp_path, real, claimed)
    res, out = run_demo(["stop_ioctl_exit", "load_plugin", "run_commands"], copy, {"GDBT_REQUEST": EXPORT_SYNC_FILE},
                        {"DMADEMO_PATH": "cgo"}, [KERNEL_CMD] + CALLERS_CMDS)
    demo = parse_demo(out)
    j = res.json("c1")
    assert j["go_version"] == "go" + claimed
    minor = claimed.rsplit(".", 1)[0]
    warn = [w for w in j["warnings"] if ("Go %s is %s" % (minor, why)) in w]
    assert len(warn) == 1 and ("using Go %s's" % nearest) in warn[0], j["warnings"]
    assert len(j["warnings"]) == 1, j["warnings"]
    # ... and it still works.
    assert j["goroutine"]["id"] == demo.goid and [j["thread"]["tid"]] == kernel_ioctl_threads(res, "c0")
    assert j["caller"]["function"] == GPU + ".ExportSyncFile"
    ours = [f["function"] for f in go_frames(j) if shown_by_go(f["function"])]
    assert ours[-2:] == [f.function for f in demo.stack.frames[1:]]
    text = res.section("c2").splitlines()
    assert text[0].startswith("goroutine %d [syscall]" % demo.goid)
    assert ["warning: " + warn[0][:40]] == [ln[:49] for ln in text if ln.startswith("warning: ")]


# g pointer garbage and an unreadable stack cannot be provoked in a live process without breaking it:
# the real demo's core (written by gdb at the stop), read by CoreTarget, through a Target that damages
# what the thread's registers or memory say. Ground truth is the same core undamaged.

CORE_STOP = ["catch syscall ioctl", "condition $bpnum $rsi == %s" % EXPORT_SYNC_FILE, "run", "continue",
             SKIP_RESTARTS]


class Damaged(Target):
    """A Target over another one with some registers replaced, some bytes replaced and some
    ranges unreadable."""

    kind = "core"

    def __init__(self, base: Target, regs: Optional[Dict[str, int]] = None, mem: Optional[Dict[int, bytes]] = None,
                 unreadable: List[Tuple[int, int]] = ()):
        self.base = base
        self.arch, self.tid, self.executable = base.arch, base.tid, base.executable
        self._regs = dict(base.registers())
        self._regs.update(regs or {})
        self.mem = dict(mem or {})
        self.unreadable = list(unreadable)

    def registers(self) -> Dict[str, int]:
        return dict(self._regs)

    def auxv(self) -> Dict[int, int]:
        return self.base.auxv()

    def read(self, addr: int, n: int) -> bytes:
        for lo, hi in self.unreadable:
            if addr < hi and addr + n > lo:
                raise TargetReadError(addr, n, "damaged by the test")
        data = bytearray(self.base.read(addr, n))
        for a, b in self.mem.items():
            for i, x in enumerate(b):
                if addr <= a + i < addr + n:
                    data[a + i - addr] = x
        return bytes(data)


_CORES: Dict[str, tuple] = {}


def stopped_core_of(path: str):
    """(path, CoreTarget on the thread stopped in the ioctl, its undamaged report JSON, Demo, GoBinary)."""
    if path in _CORES:
        return _CORES[path]
    from gdb_rr_dmabuf import callers
    from gdb_rr_dmabuf.go_runtime.binary import GoBinary
    from gdb_rr_dmabuf.target_core import CoreTarget
    from tests.support.cores import make_core
    exe = build_go("demo")
    core, out = make_core(exe, CORE_STOP, env={"DMADEMO_PATH": path, "DMADEMO_KERNEL": "simulate"})
    t = CoreTarget(str(core), executable=str(exe))
    stopped = [th.tid for th in t.threads if th.regs.get("orig_rax") == 16 and th.regs.get("rsi") == 0xC0086202]
    assert len(stopped) == 1, [(th.tid, th.regs.get("rsi")) for th in t.threads]
    t.select_thread(stopped[0])
    demo = parse_demo(out)
    j = callers.report_json(callers.analyse_callers(t))
    assert j["goroutine"]["id"] == demo.goid and j["unwind"]["complete"], j  # undamaged, it works
    _CORES[path] = (path, t, j, demo, GoBinary.open(str(exe)))
    return _CORES[path]


@pytest.fixture(params=["cgo", "syscall"])
def stopped_core(request):
    return stopped_core_of(request.param)


def _damage_g(stopped_core, how: str):
    from gdb_rr_dmabuf.go_runtime.goroutines import tls_g_slot
    path, t, _, _, binary = stopped_core
    regs = t.registers()
    junk = binary.section(".rodata").addr + 0x100  # readable, 8-aligned, not a g
    if how == "garbage":
        slot = tls_g_slot(binary, regs["fs_base"], t.arch)
        assert t.read_ptr(slot) != 0
        return Damaged(t, regs={"r14": junk}, mem={slot: struct.pack("<Q", junk)}), \
            "the TLS g slot value 0x%x is not a goroutine" % junk
    return Damaged(t, regs={"r14": 0, "fs_base": 0x10000}), "the thread's Go TLS slot at 0x%x is not readable" % (
        0x10000 - 8)


@pytest.mark.parametrize("how", ["garbage", "fs_base-unmapped"])
def test_g_pointer_garbage(stopped_core, how):
    from gdb_rr_dmabuf import callers, render
    damaged, warning = _damage_g(stopped_core, how)
    rep = callers.analyse_callers(damaged)
    j = callers.report_json(rep)
    assert j["goroutine"] is None and j["caller"] is None
    assert warning in j["warnings"][0], j["warnings"]
    # When the pc is in Go code (the syscall path), a second warning says the g must exist but is unreadable.
    in_go = stopped_core[2]["frames"][0]["kind"] == "go"  # the undamaged answer's innermost frame
    extra = [w for w in j["warnings"][1:]]
    assert len(extra) == (1 if in_go else 0), j["warnings"]
    assert all("runs Go code" in w for w in extra), extra
    json.dumps(j)
    text = render.callers_text(rep)
    assert "warning: " + warning in text
    assert not re.match(r"goroutine \d+", text.splitlines()[0]), text.splitlines()[0]


@pytest.mark.parametrize("how", ["garbage", "fs_base-unmapped"])
def test_g_pointer_garbage_is_not_called_a_c_thread(how):
    """On the syscall path the thread's pc is in a Go function (on the cgo path it is in libc, and a
    core alone cannot tell more)."""
    from gdb_rr_dmabuf import callers, render
    stopped_core = stopped_core_of("syscall")
    _, t, good, _, _ = stopped_core
    assert good["frames"][0]["kind"] == "go" and good["frames"][0]["pc"] == t.registers()["rip"]  # in Go code
    damaged, _ = _damage_g(stopped_core, how)
    rep = callers.analyse_callers(damaged)
    first = render.callers_text(rep).splitlines()[0]
    assert "runs no Go code" not in first and first.startswith("no goroutine found for thread %d" % t.tid), first
    assert callers.report_json(rep)["thread"]["kind"] != "no-go"


def test_unreadable_stack(stopped_core):
    from gdb_rr_dmabuf import callers, render
    path, t, good, demo, _ = stopped_core
    st = good["goroutine"]["stack"]
    rep = callers.analyse_callers(Damaged(t, unreadable=[(st["lo"], st["hi"])]))
    j = callers.report_json(rep)
    assert j["goroutine"]["id"] == demo.goid  # the g itself is not on its stack
    assert j["goroutine"]["created_by"] == good["goroutine"]["created_by"]
    assert j["unwind"]["complete"] is False
    m = re.match(r"stack unreadable at 0x([0-9a-f]+)$", j["unwind"]["stopped"])
    assert m and st["lo"] <= int(m.group(1), 16) < st["hi"], j["unwind"]
    # What it found before the stack is the innermost frame of the undamaged answer.
    assert [f["function"] for f in go_frames(j)] == [go_frames(good)[0]["function"]]
    text = render.callers_text(rep)
    assert "  (Go unwind stopped: %s)" % j["unwind"]["stopped"] in text.splitlines()


def test_unreadable_stack_does_not_claim_no_caller(stopped_core):
    from gdb_rr_dmabuf import callers, render
    _, t, good, _, _ = stopped_core
    st = good["goroutine"]["stack"]
    rep = callers.analyse_callers(Damaged(t, unreadable=[(st["lo"], st["hi"])]))
    assert "every Go frame is in the runtime" not in render.callers_text(rep)
