"""dmabuf-why end to end: real gdb over real programs, stopped the ways rr stops them.

Ground truth never comes from our decoders:
  - the C fixture (tests/fixtures/c/dmabuf_ioctls.c) prints what it sent and got:
    `FIXTURE PID p FD f MEMFD2 m REQUEST 0x.. ARG 0x..` and `FIXTURE RESULT r ERRNO e OUTFD n`;
  - the Go demo prints `DEMO FD n` and `DEMO RESULT fd=n err=..`;
  - request numbers, field names and flag values are the uapi ones (shared/knowledge/ioctls.md, and
    the fixture's own REQUEST line, compiled from the headers, must agree with the table below);
  - what rr does comes from shared/knowledge/rr.md (the _IOC_READ rule, 5.9.0 for EXPORT_SYNC_FILE);
  - /proc/PID/fd links are read in the same gdb session by a plain Python one-liner, registers and
    addresses by gdb itself (`p $rax`, `&arg`).

Stops: native `catch syscall ioctl` at entry and exit, gdbserver + `target extended-remote`, and core
files written at the exit stop. Bad input: each case gives exactly one line (or one {"error"} object).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from tests.support.cores import EXPORT_SYNC_FILE_EXIT, make_core
from tests.support.gdbrun import GdbResult, gdbserver, run_gdb
from tests.support.rrstub import FLAVOURS, meet_each_flavour
from tests.support.toolchains import build_c, build_go

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")

ENOTTY = 25
SIM_LINK = "/memfd:simulated-fence (deleted)"          # the C fixture's simulated kernel
DEMO_SIM_LINK = "/memfd:simulated-sync_file (deleted)"  # the Go demo's simulated kernel
BUF_LINK = "/memfd:test-dmabuf (deleted)"
BACKING_LINK = "/memfd:test-backing (deleted)"
DEMO_LINK = "/memfd:dmademo-buffer (deleted)"

# A plain readlink of every fd of the selected inferior (not our code): 'GDBT-FDS {"3": "...", ...}'.
FDS_CMD = ("python import os, json; p = gdb.selected_inferior().pid; "
           "print('GDBT-FDS ' + json.dumps({f: os.readlink('/proc/%d/fd/%s' % (p, f)) "
           "for f in os.listdir('/proc/%d/fd' % p)}))")
# gdb's own view of the registers at the stop: 'GDBT-REGS orig_rax rdi rsi rdx rax' (signed, decimal).
REGS_CMD = ("python print('GDBT-REGS ' + ' '.join(str(int(gdb.parse_and_eval('(long)$' + r))) "
            "for r in ('orig_rax', 'rdi', 'rsi', 'rdx', 'rax')))")

# name -> (request from the uapi headers, names that number has, struct, {field: (value, role)},
#          out field written by the kernel or None, {field: flag names that must be shown})
M2 = "MEMFD2"  # stands for the fixture's second memfd (its number comes from the FIXTURE line)
IOCTLS = {
    "DMA_BUF_IOCTL_SYNC": (0x40086200, {"DMA_BUF_IOCTL_SYNC"}, "dma_buf_sync",
                           {"flags": (3, "in")}, None, {"flags": {"DMA_BUF_SYNC_RW"}}),
    "DMA_BUF_SET_NAME_B": (0x40086201, {"DMA_BUF_SET_NAME", "DMA_BUF_SET_NAME_B"}, None,
                           {"name": ("test-buffer", "in")}, None, {}),
    "DMA_BUF_IOCTL_EXPORT_SYNC_FILE": (0xC0086202, {"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"}, "dma_buf_export_sync_file",
                                       {"flags": (1, "in")}, "fd", {"flags": {"DMA_BUF_SYNC_READ"}}),
    "DMA_BUF_IOCTL_IMPORT_SYNC_FILE": (0x40086203, {"DMA_BUF_IOCTL_IMPORT_SYNC_FILE", "BINDER_SET_IDLE_TIMEOUT"},
                                       "dma_buf_import_sync_file", {"flags": (2, "in"), "fd": (M2, "in")}, None,
                                       {"flags": {"DMA_BUF_SYNC_WRITE"}}),
    "DMA_HEAP_IOCTL_ALLOC": (0xC0184800, {"DMA_HEAP_IOCTL_ALLOC"}, "dma_heap_allocation_data",
                             {"len": (1 << 20, "in"), "fd_flags": (0x80002, "in"), "heap_flags": (0, "in")}, "fd",
                             {"fd_flags": {"O_RDWR", "O_CLOEXEC"}}),
    "UDMABUF_CREATE": (0x40187542, {"UDMABUF_CREATE"}, "udmabuf_create",
                       {"memfd": (M2, "in"), "flags": (1, "in"), "offset": (0, "in"), "size": (4096, "in")}, None,
                       {"flags": {"UDMABUF_FLAGS_CLOEXEC"}}),
    "UDMABUF_CREATE_LIST": (0x40087543, {"UDMABUF_CREATE_LIST"}, "udmabuf_create_list",
                            {"flags": (1, "in"), "count": (2, "in"), "list[0].memfd": (M2, "in"),
                             "list[0].offset": (0, "in"), "list[0].size": (4096, "in"), "list[1].memfd": (M2, "in"),
                             "list[1].offset": (4096, "in"), "list[1].size": (8192, "in")}, None,
                            {"flags": {"UDMABUF_FLAGS_CLOEXEC"}}),
    "SYNC_IOC_MERGE": (0xC0303E03, {"SYNC_IOC_MERGE"}, "sync_merge_data",
                       {"name": ("merged", "in"), "fd2": (M2, "in"), "flags": (0, "in")}, "fence", {}),
    "SYNC_IOC_FILE_INFO": (0xC0383E04, {"SYNC_IOC_FILE_INFO"}, "sync_file_info",
                           {"num_fences": (0, "inout"), "flags": (0, "in")}, None, {}),
    "DRM_IOCTL_PRIME_HANDLE_TO_FD": (0xC00C642D, {"DRM_IOCTL_PRIME_HANDLE_TO_FD"}, "drm_prime_handle",
                                     {"handle": (7, "in"), "flags": (0x80002, "in")}, "fd",
                                     {"flags": {"DRM_CLOEXEC", "DRM_RDWR"}}),
    "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD": (0xC01064C1, {"DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD"}, "drm_syncobj_handle",
                                       {"handle": (3, "in"), "flags": (1, "in")}, "fd",
                                       {"flags": {"DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_EXPORT_SYNC_FILE"}}),
}
NAMES = list(IOCTLS)
DIRS = {0: "none", 1: "write", 2: "read", 3: "read/write"}

RR_LOG = ("[FATAL src/record_syscall.cc:5432:prepare_ioctl()] -> Assertion `t->regs().syscall_result_signed() "
          "== -expected_errno' failed to hold. Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); "
          "Unknown ioctl(0xc0086202): type:0x62 nr:0x2 dir:0x3 size:8 addr:%s")


# ---------------------------------------------------------------------------------------------------
# helpers

class Fixture:
    """The C fixture's FIXTURE lines."""

    def __init__(self, output: str):
        m = re.search(r"^FIXTURE PID (\d+) FD (\d+) MEMFD2 (\d+) REQUEST (0x[0-9a-f]+) ARG (0x[0-9a-f]+)$",
                      output, re.M)
        assert m, "no FIXTURE line:\n" + output[-3000:]
        self.pid, self.fd, self.memfd2 = int(m.group(1)), int(m.group(2)), int(m.group(3))
        self.request, self.arg = int(m.group(4), 16), int(m.group(5), 16)
        r = re.search(r"^FIXTURE RESULT (-?\d+) ERRNO (\d+) OUTFD (-?\d+)$", output, re.M)
        self.result = self.errno = self.outfd = None
        if r:
            self.result, self.errno, self.outfd = int(r.group(1)), int(r.group(2)), int(r.group(3))

    @property
    def raw_result(self) -> int:
        """What the syscall returned in rax: -errno on failure."""
        assert self.result is not None, "the fixture did not finish"
        return -self.errno if self.result < 0 else self.result


def fds(res: GdbResult) -> Dict[int, str]:
    m = re.search(r"^GDBT-FDS (\{.*\})$", res.output, re.M)
    assert m, "no GDBT-FDS line:\n" + res.output[-3000:]
    return {int(k): v for k, v in json.loads(m.group(1)).items()}


def regs(text: str) -> Dict[str, int]:
    m = re.search(r"^GDBT-REGS (-?\d+) (-?\d+) (-?\d+) (-?\d+) (-?\d+)$", text, re.M)
    assert m, "no GDBT-REGS line:\n" + text[-3000:]
    return dict(zip(("orig_rax", "rdi", "rsi", "rdx", "rax"), (int(x) for x in m.groups())))


def json_only(res: GdbResult, sec: str) -> dict:
    """The section is exactly one JSON object: nothing else printed, no traceback."""
    text = res.section(sec)
    _clean(text)
    obj = json.loads(text)
    assert isinstance(obj, dict)
    return obj


def _clean(text: str) -> None:
    for bad in ("Traceback", "Error in sourced command file", "GDB-ERROR", "internal error", "Python Exception"):
        assert bad not in text, "%r in:\n%s" % (bad, text)


def one_error_line(res: GdbResult, sec: str, *patterns: str) -> str:
    """The section holds exactly one line, ours (`dmabuf-why: what: todo`), matching every pattern."""
    text = res.section(sec)
    _clean(text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, "want one line, got:\n" + text
    assert lines[0].startswith("dmabuf-why: "), lines[0]
    for p in patterns:
        assert re.search(p, lines[0]), "%r not in %r" % (p, lines[0])
    return lines[0]


def json_error(res: GdbResult, sec: str, *patterns: str) -> dict:
    obj = json_only(res, sec)
    assert list(obj) == ["error"], obj
    err = obj["error"]
    assert err["what"] and err["todo"], err
    for p in patterns:
        assert re.search(p, err["what"]), "%r not in %r" % (p, err["what"])
    return err


def text_rows(text: str) -> Dict[str, str]:
    """First word of each indented line of the text report -> the rest, whitespace collapsed."""
    rows = {}
    for ln in text.splitlines():
        parts = ln.split(None, 1)
        if len(parts) == 2 and ln.startswith(" ") and parts[0] not in rows:
            rows[parts[0]] = " ".join(parts[1].split())
    return rows


def check_request(j: dict, request: int, names: set) -> None:
    rq = j["request"]
    assert rq["value"] == request
    assert rq["hex"] == "0x%08x" % request
    assert set(rq["names"]) == names
    assert rq["dir"] == DIRS[request >> 30]
    assert rq["type"] == (request >> 8) & 0xFF
    assert rq["type_char"] == chr((request >> 8) & 0xFF)
    assert rq["nr"] == request & 0xFF
    assert rq["size"] == (request >> 16) & 0x3FFF


def check_in_fields(j: dict, name: str, fx: Fixture, live: bool = True) -> None:
    _req, _names, struct, fields, _out, flags = IOCTLS[name]
    a = j["argument"]
    assert a["address"] == fx.arg
    assert a["error"] is None
    if struct is not None:
        assert a["struct"] == struct
    for fname, (value, role) in fields.items():
        f = a["fields"][fname]
        assert f["value"] == (fx.memfd2 if value == M2 else value), (fname, f)
        assert f["role"] == role, (fname, f)
        if value == M2 and live:  # an input fd: its /proc link is shown
            assert BACKING_LINK in (f["note"] or ""), (fname, f)
    for fname, want in flags.items():
        assert want <= set(a["fields"][fname]["names"]), (fname, a["fields"][fname])


def expected_rr(request: int, result: Optional[int]) -> Tuple[bool, Optional[str], Optional[bool]]:
    """rr.md: no _IOC_READ bit -> ignorable (never stops); otherwise EINVAL/ENOTTY pass, anything else
    stops; only EXPORT_SYNC_FILE is handled by name (5.9.0). At entry the result is unknown."""
    ignorable = not (request >> 30) & 2
    since = "5.9.0" if request == 0xC0086202 else None
    if ignorable:
        stops = False
    elif result is None:
        stops = None
    else:
        stops = result not in (-22, -ENOTTY)
    return ignorable, since, stops


def check_rr(j: dict, request: int, result: Optional[int]) -> None:
    ignorable, since, stops = expected_rr(request, result)
    rr = j["rr"]
    assert rr["ignorable"] is ignorable
    assert rr["supported_since"] == since
    assert rr["would_stop"] is stops
    assert rr["expected"] == ["EINVAL", "ENOTTY"]


@pytest.fixture(scope="module")
def c_exe() -> Path:
    return build_c("dmabuf_ioctls.c")


@pytest.fixture(scope="module")
def demo_exe() -> Path:
    return build_go("demo")


# ---------------------------------------------------------------------------------------------------
# every ioctl of the C fixture: exit stop with the simulated kernel (and a core written there),
# entry + exit with the real kernel (ENOTTY on a memfd)

_SIM: Dict[str, Tuple[GdbResult, Path]] = {}


def simulated_exit(exe: Path, name: str, tmp_dir: Path) -> Tuple[GdbResult, Path]:
    """One gdb run: stop after the ioctl returned (simulated kernel), write a core there, then
    dmabuf-why --json, dmabuf-why, the fd links, and let the fixture finish (its RESULT line)."""
    if name not in _SIM:
        core = tmp_dir / ("core-" + name)
        res = run_gdb(["stop_ioctl_exit", "write_core", "load_plugin", "run_commands"], exe,
                      args=[name, "simulate"], env={"GDBT_REQUEST": "0x%x" % IOCTLS[name][0]}, core=core,
                      commands=["dmabuf-why --json", "dmabuf-why", FDS_CMD, REGS_CMD, "continue"])
        _SIM[name] = (res, core)
    return _SIM[name]


@pytest.fixture(scope="module")
def core_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("why-cores")
    yield d
    shutil.rmtree(str(d), ignore_errors=True)  # about 9 MB per core


@pytest.mark.parametrize("name", NAMES)
def test_exit_stop_simulated_kernel(c_exe, core_dir, name):
    request, names, _struct, _fields, out, _flags = IOCTLS[name]
    res, _core = simulated_exit(c_exe, name, core_dir)
    fx = Fixture(res.output)
    assert fx.request == request, "the uapi number in this table differs from the compiled header"
    assert (fx.result, fx.errno) == (0, 0)
    links = fds(res)
    r = regs(res.section("c3"))  # gdb's own reading of the registers at the stop
    assert (r["orig_rax"], r["rdi"], r["rsi"], r["rdx"], r["rax"]) == (16, fx.fd, request, fx.arg, 0)
    j = json_only(res, "c0")
    assert j["source"] == "thread" and j["arch"] == "x86-64"
    assert j["thread"]["tid"] == fx.pid
    sc = j["syscall"]
    assert (sc["name"], sc["number"], sc["state"], sc["result"], sc["errno"]) == ("ioctl", 16, "exit", 0, None)
    assert j["fd"] == {"number": fx.fd, "target": links[fx.fd]}
    assert links[fx.fd] == BUF_LINK
    check_request(j, request, names)
    check_in_fields(j, name, fx)
    check_rr(j, request, 0)
    if out is not None:
        f = j["argument"]["fields"][out]
        assert f["role"] == "out"
        assert f["value"] == fx.outfd and fx.outfd >= 0
        assert links[fx.outfd] == SIM_LINK
        assert SIM_LINK in f["note"]
    if request == 0xC0086202:
        assert any("5.9.0" in s["text"] for s in j["suggestions"]), j["suggestions"]

    text = res.section("c1")
    _clean(text)
    first = text.splitlines()[0]
    assert first.startswith("ioctl ")
    for n in names:
        assert n in first
    rows = text_rows(text)
    assert rows["fd"] == "%d -> %s" % (fx.fd, BUF_LINK)
    assert rows["request"].startswith("0x%08x dir=%s type='%s'" % (request, DIRS[request >> 30], chr((request >> 8) & 0xFF)))
    assert rows["result"] == "0 (success)"
    if out is not None:
        assert re.search(r"^\s+%s\s.*\bout\s+%d\b.*%s" % (re.escape(out), fx.outfd, re.escape(SIM_LINK)), text, re.M), text


@pytest.mark.parametrize("name", NAMES)
def test_entry_then_exit_real_kernel(c_exe, name):
    """Entry: outputs not written, no result. Exit: the kernel's ENOTTY (a memfd is no dma-buf)."""
    request, names, _struct, _fields, out, _flags = IOCTLS[name]
    res = run_gdb(["stop_ioctl_entry", "load_plugin", "run_commands"], c_exe, args=[name],
                  env={"GDBT_REQUEST": "0x%x" % request},
                  commands=["dmabuf-why --json", "dmabuf-why", "continue", "dmabuf-why --json", "continue"])
    fx = Fixture(res.output)
    assert fx.request == request
    assert (fx.result, fx.errno) == (-1, ENOTTY)

    entry = json_only(res, "c0")
    sc = entry["syscall"]
    assert (sc["name"], sc["state"], sc["result"], sc["errno"]) == ("ioctl", "entry", None, None)
    assert entry["fd"]["number"] == fx.fd and entry["fd"]["target"] == BUF_LINK
    check_request(entry, request, names)
    check_in_fields(entry, name, fx)
    check_rr(entry, request, None)
    for fname, f in entry["argument"]["fields"].items():
        if f["role"] == "out":
            assert f["value"] is None, (fname, f)
    if out is not None:
        assert entry["argument"]["fields"][out]["value"] is None
    etext = res.section("c1")
    _clean(etext)
    assert "result" not in text_rows(etext)
    assert "entry" in etext.splitlines()[0]

    ex = json_only(res, "c3")
    sc = ex["syscall"]
    assert (sc["state"], sc["result"], sc["errno"]) == ("exit", fx.raw_result, "ENOTTY")
    assert sc["result"] == -ENOTTY
    check_request(ex, request, names)
    check_in_fields(ex, name, fx)
    check_rr(ex, request, -ENOTTY)
    if out is not None:  # the kernel wrote nothing: the field holds what the fixture put there
        f = ex["argument"]["fields"][out]
        assert f["value"] == fx.outfd
        assert "new fd" not in (f["note"] or "")


@pytest.mark.parametrize("name", NAMES)
def test_core_written_at_exit_stop(c_exe, core_dir, name):
    request, names, _struct, _fields, out, _flags = IOCTLS[name]
    live, core = simulated_exit(c_exe, name, core_dir)
    fx = Fixture(live.output)
    assert core.exists() and core.stat().st_size > 0
    res = run_gdb(["load_core", "load_plugin", "run_commands"], c_exe, core=core,
                  commands=["dmabuf-why --json", "dmabuf-why", REGS_CMD])
    r = regs(res.section("c2"))  # gdb's own reading of the core's registers
    assert (r["orig_rax"], r["rdi"], r["rsi"], r["rdx"], r["rax"]) == (16, fx.fd, request, fx.arg, 0)
    j = json_only(res, "c0")
    sc = j["syscall"]
    assert (sc["name"], sc["state"], sc["result"], sc["errno"]) == ("ioctl", "exit", 0, None)
    assert j["thread"]["tid"] == fx.pid
    assert j["fd"]["number"] == fx.fd
    assert j["fd"]["target"] in (None, BUF_LINK)  # no process behind a core: no /proc link needed
    check_request(j, request, names)
    check_in_fields(j, name, fx, live=False)
    check_rr(j, request, 0)
    if out is not None:
        assert j["argument"]["fields"][out]["value"] == fx.outfd
    _clean(res.section("c1"))
    assert text_rows(res.section("c1"))["result"] == "0 (success)"
    core.unlink()


# ---------------------------------------------------------------------------------------------------
# the Go demo (cgo and syscall.Syscall paths)

def _demo_checks(j: dict, out_fd: int, links: Dict[int, str]) -> None:
    sc = j["syscall"]
    assert (sc["name"], sc["number"], sc["state"], sc["result"], sc["errno"]) == ("ioctl", 16, "exit", 0, None)
    assert j["fd"]["number"] == 3
    assert j["fd"]["target"] == links[3] == DEMO_LINK
    check_request(j, 0xC0086202, {"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"})
    a = j["argument"]
    assert a["struct"] == "dma_buf_export_sync_file" and a["error"] is None
    flags = a["fields"]["flags"]
    assert (flags["value"], flags["role"], flags["names"]) == (1, "in", ["DMA_BUF_SYNC_READ"])
    fd = a["fields"]["fd"]
    assert (fd["value"], fd["role"]) == (out_fd, "out")
    assert links[out_fd] == DEMO_SIM_LINK
    assert DEMO_SIM_LINK in fd["note"]
    rr = j["rr"]
    assert (rr["supported_since"], rr["would_stop"], rr["ignorable"]) == ("5.9.0", True, False)
    assert any("5.9.0" in s["text"] for s in j["suggestions"]), j["suggestions"]


def _demo_text_checks(text: str, out_fd: int) -> None:
    _clean(text)
    assert text.splitlines()[0].startswith("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    rows = text_rows(text)
    assert rows["fd"] == "3 -> " + DEMO_LINK
    assert rows["request"].startswith("0xc0086202 dir=read/write type='b'")
    assert rows["result"] == "0 (success)"
    assert re.search(r"^\s+flags\s.*\bin\s+1\s+DMA_BUF_SYNC_READ\b", text, re.M), text
    assert re.search(r"^\s+fd\s.*\bout\s+%d\s.*%s" % (out_fd, re.escape(DEMO_SIM_LINK)), text, re.M), text
    what_to_do = text.split("What to do", 1)
    assert len(what_to_do) == 2 and "5.9.0" in what_to_do[1], text
    assert "rr before 5.9.0 aborts on that" in text.splitlines()[0]  # rr's verdict: the headline


@pytest.mark.parametrize("path", ["cgo", "syscall"])
def test_go_demo(demo_exe, path):
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], demo_exe, inferior_env={"DMADEMO_PATH": path},
                  env={"GDBT_REQUEST": "0xc0086202"},
                  commands=["dmabuf-why --json", "dmabuf-why", FDS_CMD,
                            # --thread: select another thread, ask for the one that hit the catchpoint
                            "python gdb.set_convenience_variable('hit', gdb.selected_thread().num); "
                            "print('GDBT-HIT', gdb.selected_thread().ptid[1])",
                            "python gdb.execute('thread %d' % [t.num for t in gdb.selected_inferior().threads() "
                            "if t.num != int(gdb.convenience_variable('hit'))][0])",
                            "python gdb.execute('dmabuf-why --json --thread %d' % int(gdb.convenience_variable('hit')))",
                            "continue"])
    assert re.search(r"^DEMO FD 3$", res.output, re.M), res.output[-3000:]
    m = re.search(r"^DEMO RESULT fd=(\d+) err=<nil>$", res.output, re.M)
    assert m, res.output[-3000:]
    out_fd = int(m.group(1))
    links = fds(res)
    hit_tid = int(re.search(r"^GDBT-HIT (\d+)$", res.output, re.M).group(1))
    j = json_only(res, "c0")
    assert j["thread"]["tid"] == hit_tid
    _demo_checks(j, out_fd, links)
    _demo_text_checks(res.section("c1"), out_fd)
    jt = json_only(res, "c5")  # another thread is selected; --thread names the one that stopped
    assert jt["thread"]["tid"] == hit_tid
    _demo_checks(jt, out_fd, links)


def test_go_demo_core(demo_exe):
    """make_core (tests/support/cores.py) writes a compacted core at the exit stop; a second gdb loads it."""
    core, out = make_core(demo_exe, EXPORT_SYNC_FILE_EXIT,
                          env={"DMADEMO_PATH": "cgo"})
    assert re.search(r"^DEMO FD 3$", out, re.M), out[-3000:]
    res = run_gdb(["load_core", "load_plugin", "run_commands"], demo_exe, core=core,
                  commands=["dmabuf-why --json", "dmabuf-why", REGS_CMD])
    r = regs(res.section("c2"))
    assert (r["orig_rax"], r["rdi"], r["rsi"], r["rax"]) == (16, 3, 0xC0086202, 0)
    j = json_only(res, "c0")
    sc = j["syscall"]
    assert (sc["state"], sc["result"], sc["errno"]) == ("exit", 0, None)
    assert j["fd"]["number"] == 3 and j["fd"]["target"] in (None, DEMO_LINK)
    check_request(j, 0xC0086202, {"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"})
    a = j["argument"]
    assert a["address"] == r["rdx"]
    assert (a["fields"]["flags"]["value"], a["fields"]["flags"]["names"]) == (1, ["DMA_BUF_SYNC_READ"])
    out_fd = a["fields"]["fd"]["value"]
    assert isinstance(out_fd, int) and out_fd > 3  # the simulated kernel's new fd (no /proc to name it)
    assert (j["rr"]["supported_since"], j["rr"]["would_stop"]) == ("5.9.0", True)
    text = res.section("c1")
    _clean(text)
    assert text_rows(text)["result"] == "0 (success)"
    assert "DMA_BUF_SYNC_READ" in text and "5.9.0" in text


# ---------------------------------------------------------------------------------------------------
# gdbserver + target extended-remote (rr's situation)

REMOTE_CMDS = ["dmabuf-why --json", "dmabuf-why", FDS_CMD, REGS_CMD]


def test_remote_demo_simulated_kernel(demo_exe):
    """Result 0 and a new fd, through gdbserver in all-stop mode, as with rr's gdbserver (the
    simulated kernel is an untraced child, so stopping every thread does not disturb it)."""
    with gdbserver(demo_exe, env={"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"}) as addr:
        res = run_gdb(["remote_stop_ioctl_exit", "load_plugin", "run_commands"], demo_exe,
                      env={"GDBT_REQUEST": "0xc0086202", "GDBT_REMOTE": addr}, commands=REMOTE_CMDS, timeout=60)
    _check_remote_demo_simulated(res)


def test_remote_demo_simulated_kernel_through_rrs_stub(demo_exe):
    """The same stop (result 0: rr's assertion fires there) met through the imitation of rr's stub
    (tests/support/rrstub.py) in each of its 5.7.0, 5.8.0 and 5.9.0 flavours, the demo driven there once: the
    same answers, the same ground truth. (The real kernel's ENOTTY below is no rr stop: rr accepts -ENOTTY at
    an unknown ioctl's exit. The interrupted call's result-0 stop is served through every flavour by
    tests/test_rr_stub_e2e.py's C program; its -ERESTARTSYS return is never one of rr's stops.)"""
    with gdbserver(demo_exe, env={"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "simulate"}) as addr:
        got = meet_each_flavour(
            addr, demo_exe,
            lambda a: run_gdb(["remote_stop_ioctl_exit", "rr_stub_disconnect"], demo_exe,
                              env={"GDBT_REQUEST": "0xc0086202", "GDBT_REMOTE": a}, timeout=120),
            lambda a: run_gdb(["rr_connect", "load_plugin", "run_commands"], demo_exe,
                              env={"GDBT_REMOTE": a, "GDBT_REMOTETIMEOUT": "60"}, commands=REMOTE_CMDS, timeout=120))
    for flavour, (res, stub) in got.items():
        assert "Traceback" not in res.output, (flavour, res.output[-3000:])
        _check_remote_demo_simulated(res)
        assert json_only(res, "c0") == json_only(got[FLAVOURS[0]][0], "c0"), flavour
        sent = [p for d, p in stub.packets if d == "<"]
        assert b"?" in sent and not any(p[:1] in (b"M", b"X", b"G", b"P", b"Z") for p in sent), sent[:40]


def _check_remote_demo_simulated(res: GdbResult) -> None:
    links = fds(res)  # the stub runs here: /proc of the remote pid is the tracee
    news = [fd for fd, link in links.items() if link == DEMO_SIM_LINK]
    assert len(news) == 1, links
    r = regs(res.section("c3"))
    assert (r["orig_rax"], r["rdi"], r["rsi"], r["rax"]) == (16, 3, 0xC0086202, 0)
    j = json_only(res, "c0")
    _demo_checks(j, news[0], links)
    assert j["argument"]["address"] == r["rdx"]
    _demo_text_checks(res.section("c1"), news[0])


def test_remote_demo_all_stop_real_kernel(demo_exe):
    """All-stop, as with rr's gdbserver; the kernel answers ENOTTY, which rr accepts."""
    with gdbserver(demo_exe, env={"DMADEMO_PATH": "cgo", "DMADEMO_KERNEL": "real"}) as addr:
        res = run_gdb(["remote_stop_ioctl_exit", "load_plugin", "run_commands"], demo_exe,
                      env={"GDBT_REQUEST": "0xc0086202", "GDBT_REMOTE": addr},
                      commands=["dmabuf-why --json", "dmabuf-why", FDS_CMD, REGS_CMD], timeout=60)
    links = fds(res)
    r = regs(res.section("c3"))
    assert (r["orig_rax"], r["rdi"], r["rsi"], r["rax"]) == (16, 3, 0xC0086202, -ENOTTY)
    j = json_only(res, "c0")
    sc = j["syscall"]
    assert (sc["state"], sc["result"], sc["errno"]) == ("exit", -ENOTTY, "ENOTTY")
    assert j["fd"] == {"number": 3, "target": links[3]} and links[3] == DEMO_LINK
    check_request(j, 0xC0086202, {"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"})
    a = j["argument"]
    assert a["address"] == r["rdx"]
    assert (a["fields"]["flags"]["value"], a["fields"]["flags"]["names"]) == (1, ["DMA_BUF_SYNC_READ"])
    assert a["fields"]["fd"]["value"] == -1  # what gpu.c put there; the failed call wrote nothing
    assert (j["rr"]["supported_since"], j["rr"]["would_stop"]) == ("5.9.0", False)
    assert text_rows(res.section("c1"))["result"] == "-25 (ENOTTY)"


def test_remote_all_stop_interrupted_call_matches_registers(c_exe):
    """All-stop through gdbserver with the fixture's simulated kernel: the 'returned' stop may be the
    kernel's -ERESTARTSYS (the wait was interrupted). Whatever gdb reads in rax, dmabuf-why must agree."""
    with gdbserver(c_exe, args=["DMA_BUF_IOCTL_EXPORT_SYNC_FILE", "simulate"]) as addr:
        res = run_gdb(["remote_stop_ioctl_exit", "load_plugin", "run_commands"], c_exe,
                      env={"GDBT_REQUEST": "0xc0086202", "GDBT_REMOTE": addr},
                      commands=["dmabuf-why --json", REGS_CMD], timeout=60)
    r = regs(res.section("c1"))
    assert (r["orig_rax"], r["rsi"]) == (16, 0xC0086202)
    j = json_only(res, "c0")
    sc = j["syscall"]
    assert sc["result"] == r["rax"]
    assert j["argument"]["address"] == r["rdx"]
    if r["rax"] == -512:
        assert (sc["state"], sc["errno"]) == ("interrupted", "ERESTARTSYS")
        assert j["argument"]["fields"]["fd"]["value"] is None  # the kernel did not complete the call
        assert j["rr"]["would_stop"] is None
    else:
        assert (sc["state"], sc["result"]) == ("exit", 0)


# ---------------------------------------------------------------------------------------------------
# --request and --from-log

def test_request_and_log_without_process():
    log = RR_LOG % "0x7ffd1234abc0"
    res = run_gdb(["load_plugin", "run_commands"], None, commands=[
        "dmabuf-why --request 0xc0086202 --json", "dmabuf-why --request 0xc0086202",
        "dmabuf-why --request DMA_BUF_IOCTL_SYNC --json",
        "dmabuf-why --request 0x40086203 --json", "dmabuf-why --request 0x40086203",
        'dmabuf-why --from-log "%s" --json' % log, 'dmabuf-why --from-log "%s"' % log,
        "dmabuf-why --request 3221774850 --json"])
    j = json_only(res, "c0")
    assert j["source"] == "request" and j["syscall"] is None and j["fd"] is None and j["argument"] is None
    check_request(j, 0xC0086202, {"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"})
    assert (j["rr"]["supported_since"], j["rr"]["ignorable"]) == ("5.9.0", False)
    assert any("5.9.0" in s["text"] for s in j["suggestions"])
    text = res.section("c1")
    _clean(text)
    assert text.splitlines()[0].startswith("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    assert text_rows(text)["request"].startswith("0xc0086202 dir=read/write type='b' (0x62) nr=0x02 size=8")
    assert "result" not in text_rows(text)

    j = json_only(res, "c2")
    check_request(j, 0x40086200, {"DMA_BUF_IOCTL_SYNC"})
    assert (j["rr"]["ignorable"], j["rr"]["would_stop"], j["rr"]["supported_since"]) == (True, False, None)

    j = json_only(res, "c3")  # the IMPORT_SYNC_FILE / BINDER_SET_IDLE_TIMEOUT collision: both names
    check_request(j, 0x40086203, {"DMA_BUF_IOCTL_IMPORT_SYNC_FILE", "BINDER_SET_IDLE_TIMEOUT"})
    first = res.section("c4").splitlines()[0]
    assert re.search(r"\b(BINDER_SET_IDLE_TIMEOUT or DMA_BUF_IOCTL_IMPORT_SYNC_FILE|"
                     r"DMA_BUF_IOCTL_IMPORT_SYNC_FILE or BINDER_SET_IDLE_TIMEOUT)\b", first), first

    j = json_only(res, "c5")
    assert j["source"] == "log"
    check_request(j, 0xC0086202, {"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"})
    assert (j["syscall"]["name"], j["syscall"]["result"], j["syscall"]["errno"]) == ("ioctl", 0, None)
    assert j["argument"]["address"] == 0x7FFD1234ABC0
    assert j["argument"]["fields"] == {}  # nothing to read it from
    assert (j["rr"]["supported_since"], j["rr"]["would_stop"]) == ("5.9.0", True)
    text = res.section("c6")
    _clean(text)
    assert text.splitlines()[0].startswith("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    assert "0x7ffd1234abc0" in text and "5.9.0" in text
    assert text_rows(text)["result"] == "0 (success)"

    assert json_only(res, "c7")["request"]["value"] == 0xC0086202  # decimal, as gdb prints $rsi


def test_from_log_without_process_does_not_deny_the_decoder():
    res = run_gdb(["load_plugin", "run_commands"], None,
                  commands=['dmabuf-why --from-log "%s"' % (RR_LOG % "0x7ffd1234abc0")])
    text = res.section("c0")
    _clean(text)
    assert "no decoder" not in text
    assert "dma_buf_export_sync_file" in text


def test_from_log_with_live_process_reads_the_logged_address(c_exe):
    """A live process stopped after EXPORT_SYNC_FILE; the log's addr is the fixture's &arg (from gdb)."""
    addr = "hex(int(gdb.parse_and_eval(\"(long)&'dmabuf_ioctls.c'::arg\")))"
    cmd = "python gdb.execute('dmabuf-why --json --from-log \"%s\"' %% %s)" % (RR_LOG.replace("'", "\\'"), addr)
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], c_exe,
                  args=["DMA_BUF_IOCTL_EXPORT_SYNC_FILE", "simulate"], env={"GDBT_REQUEST": "0xc0086202"},
                  commands=["print/x (long)&'dmabuf_ioctls.c'::arg", cmd, FDS_CMD, "continue"])
    fx = Fixture(res.output)
    assert re.search(r"= 0x%x$" % fx.arg, res.section("c0"), re.M)  # gdb's &arg is the fixture's ARG
    links = fds(res)
    j = json_only(res, "c1")
    assert j["source"] == "log" and j["thread"]["tid"] == fx.pid
    check_request(j, 0xC0086202, {"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"})
    a = j["argument"]
    assert a["address"] == fx.arg and a["struct"] == "dma_buf_export_sync_file"
    assert (a["fields"]["flags"]["value"], a["fields"]["flags"]["names"]) == (1, ["DMA_BUF_SYNC_READ"])
    assert a["fields"]["fd"]["value"] == fx.outfd
    assert links[fx.outfd] == SIM_LINK and SIM_LINK in a["fields"]["fd"]["note"]


# ---------------------------------------------------------------------------------------------------
# bad input: one line each (or one {"error": ...} object with --json)

def test_bad_input_without_process():
    res = run_gdb(["load_plugin", "run_commands"], None, commands=[
        "dmabuf-why", "dmabuf-why --json",
        "dmabuf-why --request 0xzz", "dmabuf-why --request 0xzz --json",
        "dmabuf-why --request 99999999999", "dmabuf-why --request 99999999999 --json",
        "dmabuf-why --from-log hello", "dmabuf-why --from-log hello --json",
        "dmabuf-why --thread 99", "dmabuf-why --thread x",
        "dmabuf-why --request NO_SUCH_IOCTL_NAME",
        "set architecture i386", "dmabuf-why --request 0xc0086202 --json"])
    one_error_line(res, "c0", r"no process")
    json_error(res, "c1", r"no process")
    one_error_line(res, "c2", r"0xzz")
    json_error(res, "c3", r"0xzz")
    one_error_line(res, "c4", r"99999999999", r"32 bits")
    json_error(res, "c5", r"99999999999")
    one_error_line(res, "c6", r"Unknown ioctl")
    json_error(res, "c7", r"Unknown ioctl")
    one_error_line(res, "c8", r"no process|thread")
    one_error_line(res, "c9", r"--thread", r"'x'")
    one_error_line(res, "c10", r"NO_SUCH_IOCTL_NAME")
    j = json_only(res, "c12")  # the architecture setting does not break decoding a number
    assert j["request"]["value"] == 0xC0086202
    assert j["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]


def test_bad_input_with_live_process(c_exe):
    """Breakpoint at main (no syscall), then a write syscall (not ioctl), then a bad thread number."""
    res = run_gdb(["load_plugin", "run_commands"], c_exe, args=["DMA_BUF_IOCTL_SYNC"], commands=[
        "break main", "run", "dmabuf-why", "dmabuf-why --json",
        "catch syscall write", "continue", REGS_CMD, "dmabuf-why", "dmabuf-why --json",
        "dmabuf-why --thread 99", "dmabuf-why --thread 99 --json"])
    one_error_line(res, "c2", r"system call|syscall")
    json_error(res, "c3", r"system call|syscall")
    r = regs(res.section("c6"))
    assert r["orig_rax"] == 1  # gdb agrees: write
    one_error_line(res, "c7", r"\bwrite\b", r"not ioctl")
    json_error(res, "c8", r"\bwrite\b", r"not ioctl")
    one_error_line(res, "c9", r"\b99\b")
    json_error(res, "c10", r"\b99\b")


def test_unreadable_argument_pointer(c_exe):
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], c_exe, args=["BAD_POINTER"],
                  env={"GDBT_REQUEST": "0xc0086202"}, commands=["dmabuf-why --json", "dmabuf-why", "continue"])
    fx = Fixture(res.output)
    assert fx.arg == 0x10 and (fx.result, fx.errno) == (-1, ENOTTY)
    j = json_only(res, "c0")
    check_request(j, 0xC0086202, {"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"})
    assert (j["syscall"]["state"], j["syscall"]["result"]) == ("exit", -ENOTTY)
    a = j["argument"]
    assert a["address"] == 0x10
    assert re.search(r"cannot read", a["error"]) and "0x10" in a["error"]
    assert all(f["value"] is None for f in a["fields"].values()), a["fields"]
    text = res.section("c1")
    _clean(text)
    err_lines = [ln for ln in text.splitlines() if "cannot read" in ln]
    assert len(err_lines) == 1 and "0x10" in err_lines[0], text
    assert text.splitlines()[0].startswith("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE")


def test_unknown_request(c_exe):
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], c_exe, args=["UNKNOWN"],
                  env={"GDBT_REQUEST": "0xc0087e7f"}, commands=["dmabuf-why --json", "dmabuf-why", "continue"])
    fx = Fixture(res.output)
    assert fx.request == 0xC0087E7F  # _IOWR('~', 0x7f, 8 bytes)
    j = json_only(res, "c0")
    check_request(j, 0xC0087E7F, set())
    assert j["fd"]["number"] == fx.fd and j["syscall"]["result"] == -ENOTTY
    assert j["argument"]["address"] == fx.arg
    assert j["argument"]["fields"] == {}
    assert j["rr"]["supported_since"] is None and j["rr"]["would_stop"] is False
    text = res.section("c1")
    _clean(text)
    assert "0xc0087e7f" in text.splitlines()[0]
    assert re.search(r"\bno\b.*\bname\b", text), text


I386_ASM = """
.globl _start
.text
_start:
  movl $54, %eax          # ioctl on i386
  movl $1, %ebx
  movl $0xc0086202, %ecx
  movl $buf, %edx
  int $0x80
  movl $1, %eax           # exit(0)
  xorl %ebx, %ebx
  int $0x80
.data
buf: .long 1, -1
"""


@pytest.fixture(scope="module")
def i386_exe(tmp_path_factory) -> Path:
    if not (shutil.which("as") and shutil.which("ld")):
        pytest.skip("binutils (as, ld) not installed")
    d = tmp_path_factory.mktemp("i386")
    (d / "t.s").write_text(I386_ASM)
    try:
        subprocess.run(["as", "--32", str(d / "t.s"), "-o", str(d / "t.o")], check=True, capture_output=True)
        subprocess.run(["ld", "-m", "elf_i386", str(d / "t.o"), "-o", str(d / "t32")], check=True, capture_output=True)
    except subprocess.CalledProcessError as e:
        pytest.skip("cannot assemble an i386 program: %s" % e.stderr)
    return d / "t32"


def test_unsupported_architecture_process(i386_exe):
    """An i386 process stopped in ioctl (gdb says so): one line naming the architecture."""
    res = run_gdb(["load_plugin", "run_commands"], i386_exe, commands=[
        "catch syscall ioctl", "run", "p $orig_eax", "dmabuf-why", "dmabuf-why --json",
        "dmabuf-why --request 0xc0086202 --json"])
    assert re.search(r"= 54$", res.section("c2"), re.M)
    one_error_line(res, "c3", r"i386", r"not supported")
    json_error(res, "c4", r"i386", r"not supported")
    j = json_only(res, "c5")  # a number alone still decodes
    assert j["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]


def test_no_avoid_advice_for_an_ioctl_rr_lets_through(c_exe):
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], c_exe,
                  args=["DMA_BUF_IOCTL_IMPORT_SYNC_FILE", "simulate"], env={"GDBT_REQUEST": "0x40086203"},
                  commands=["dmabuf-why --json"])
    j = json_only(res, "c0")
    assert j["rr"]["would_stop"] is False and j["syscall"]["result"] == 0
    for s in j["suggestions"]:
        assert "Avoid the code path" not in s["text"], s["text"]
        assert "BINDER_SET_IDLE_TIMEOUT" not in s["text"] or "DMA_BUF_IOCTL_IMPORT_SYNC_FILE" in s["text"], s["text"]


# ---------------------------------------------------------------------------------------------------
# gdbinit.py

def test_gdbinit_sourced_twice_registers_once():
    res = run_gdb(["load_plugin", "load_plugin", "run_commands"], None, env={"GDB_RR_DMABUF_QUIET": ""},
                  commands=["help dmabuf-why", "help user-defined", "dmabuf-why --request 0xc0086202 --json"])
    _clean(res.output)
    banners = [ln for ln in res.output.splitlines() if ln.startswith("gdb-rr-dmabuf ")]
    assert len(banners) == 1 and "dmabuf-why" in banners[0], res.output[:2000]
    assert "gdb-rr-dmabuf: warning" not in res.output
    assert res.section("c0").lstrip().startswith("usage: dmabuf-why")
    assert "--request" in res.section("c0") and "--from-log" in res.section("c0")
    listed = [ln for ln in res.section("c1").splitlines() if ln.startswith("dmabuf-why ")]
    assert len(listed) == 1, res.section("c1")
    assert json_only(res, "c2")["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]


def test_gdbinit_without_venv_degrades_to_one_warning(tmp_path):
    """pygments (the one runtime dependency) missing from gdb's Python and no venv: one warning, and it loads."""
    empty = tmp_path / "no-venv"
    empty.mkdir()
    res = run_gdb(["hide_pygments", "load_plugin", "run_commands"], None,
                  env={"GDB_RR_DMABUF_QUIET": "", "GDB_RR_DMABUF_VENV": str(empty)},
                  commands=["dmabuf-why --request 0xc0086202", "dmabuf-why --request 0xc0086202 --json",
                            "python import sys; print('GDBT-PATH', [p for p in sys.path if '.venv' in p])"])
    _clean(res.output)
    before = res.output.split("BEGIN c0")[0]
    warnings = [ln for ln in before.splitlines() if ln.strip()]
    warn = [ln for ln in warnings if "warning" in ln]
    assert len(warn) == 1 and warn[0].startswith("gdb-rr-dmabuf: warning: "), before
    assert str(empty) in warn[0]
    assert len([ln for ln in warnings if ln.startswith("gdb-rr-dmabuf ")]) == 1  # still loads: the banner
    text = res.section("c0")
    assert text.splitlines()[0].startswith("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    assert "5.9.0" in text
    assert json_only(res, "c1")["request"]["value"] == 0xC0086202
    assert re.search(r"^GDBT-PATH \[\]$", res.section("c2"), re.M)  # the project venv was not used
