"""go-callers on Go programs as Debian 12 ships them (built by Debian's Go 1.19.8, stripped, cgo on),
against each program's own SIGQUIT traceback at the same stop.

The .debs are downloaded with `apt-get download` (never installed) into .cache/debs and unpacked with
`dpkg-deb -x` (tests/support/toolchains.py). Each program is stopped by gdb at the entry of a system
call where it blocks or reads (`catch syscall`), `go-callers --json` runs, and then gdb delivers
SIGQUIT: the Go runtime prints every goroutine's stack (the stopped thread's goroutine first) and exits
with status 2. Ground truth is that traceback (goroutine id, status, frames with file:line and pc,
"created by"), not our output. Go's traceback starts at the saved syscall pc (syscall.Syscall), we
unwind from the registers: our frames inside the syscall (runtime/internal/syscall.Syscall6,
syscall.RawSyscall6) come first and our syscall.Syscall frame sits at another line.

Subjects: fzf (3k functions, non-PIE; the reader goroutine "created by" src.Run), age (PIE), gocryptfs
(cgo: OpenSSL) and runc (cgo: libseccomp and runc's nsenter C code, 11k functions).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from gdb_rr_dmabuf.go_runtime.binary import GoBinary
from tests.support.gdbrun import run_gdb
from tests.support.gotraceback import SIGQUIT_CMDS, TFrame, Traceback, parse_traceback
from tests.support.toolchains import go_tool, package_root


@dataclass
class Subject:
    package: str
    exe: str  # path inside the package
    args: List[str]  # {tmp} is a scratch directory, {fifo} a FIFO that is open for writing and never written
    syscall: str
    cond: str
    pie: bool
    cgo_c: bool  # links C code of its own or a C library (not only libc through the runtime)
    min_funcs: int
    created_by: Optional[str] = None  # what the stopped goroutine's "created by" names


SUBJECTS = [
    Subject("fzf", "usr/bin/fzf", ["--filter=x", "<", "{fifo}"], "read", "$rdi == 0", False, False, 2500,
            created_by="github.com/junegunn/fzf/src.Run"),
    Subject("age", "usr/bin/age", ["-d", "-i", "{tmp}/key", "<", "{fifo}"], "read", "$rdi == 0", True, False, 2500),
    Subject("gocryptfs", "usr/bin/gocryptfs", ["-init", "{tmp}/dir", "<", "{fifo}"], "read", "$rdi == 0", False,
            True, 4000),
    Subject("runc", "usr/sbin/runc", ["--root", "{tmp}", "list"], "getdents64", "", False, True, 10000),
]


@dataclass
class Stop:
    subject: Subject
    exe: Path
    binary: GoBinary
    json: dict
    text: str
    sigquit: Traceback
    output: str


_STOPS: Dict[str, Stop] = {}


def stop(subject: Subject) -> Stop:
    if subject.package in _STOPS:
        return _STOPS[subject.package]
    exe = package_root(subject.package) / subject.exe
    assert exe.exists(), exe
    tmp = Path(tempfile.mkdtemp(prefix="debian-go-"))
    try:
        fifo = tmp / "fifo"
        os.mkfifo(str(fifo))
        (tmp / "dir").mkdir()
        if subject.package == "age":
            keygen = exe.with_name("age-keygen")
            subprocess.run([str(keygen), "-o", str(tmp / "key")], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        log = tmp / "program.log"
        args = [a.format(tmp=tmp, fifo=fifo) for a in subject.args] + [">" + str(log), "2>&1"]
        # A writer that never writes: the program's read(0) blocks (and its open of the FIFO does not).
        holder = os.open(str(fifo), os.O_RDWR | os.O_NONBLOCK)
        try:
            res = run_gdb(["stop_syscall", "load_plugin", "run_commands"], exe, args=args,
                          env={"GDBT_SYSCALL": subject.syscall, "GDBT_COND": subject.cond},
                          commands=["go-callers --json", "go-callers"] + SIGQUIT_CMDS, timeout=240)
        finally:
            os.close(holder)
        assert "exited with code 02" in res.section("c%d" % (1 + len(SIGQUIT_CMDS))), res.output[-4000:]
        out = log.read_text(errors="replace")
    finally:
        shutil.rmtree(str(tmp), ignore_errors=True)
    at = out.find("SIGQUIT: quit")
    assert at >= 0, out[-4000:]
    sq = parse_traceback(out[at:])  # the first block: the goroutine of the thread that took the signal
    st = Stop(subject, exe, GoBinary.open(str(exe)), res.json("c0"), res.section("c1"), sq, res.output)
    _STOPS[subject.package] = st
    return st


@pytest.fixture(params=SUBJECTS, ids=[s.package for s in SUBJECTS], scope="module")
def subject(request) -> Subject:
    return request.param


def test_the_subject_is_what_debian_ships(subject: Subject):
    """Built by Go 1.19.8 with cgo, stripped, PIE or not as said; the figures the README quotes."""
    exe = package_root(subject.package) / subject.exe
    b = GoBinary.open(str(exe))
    assert b.go_version == "go1.19.8"
    assert b.is_pie == subject.pie
    assert b.symbol("runtime.tlsg") is None and b.symbol("main.main") is None  # stripped
    n = sum(1 for _ in b.pclntab.funcs())
    assert n >= subject.min_funcs
    out = subprocess.run([str(go_tool()), "version", "-m", str(exe)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True, timeout=60).stdout
    assert "\tbuild\tCGO_ENABLED=1" in out


def _ours(j: dict) -> List[dict]:
    return [f for f in j["frames"] if f["kind"] == "go" and f["function"] != "runtime.goexit"]


def _theirs(tb: Traceback) -> List[TFrame]:
    fr = list(tb.frames)
    # runtime.goexit and the go statement's closure (Run.func15), which a non-crash traceback and
    # go-callers hide as a wrapper.
    while fr and (fr[-1].function == "runtime.goexit" or (
            tb.created_by and re.match(re.escape(tb.created_by) + r"\.func\d+$", fr[-1].function))):
        fr.pop()
    return fr


def test_goroutine_and_status(subject: Subject):
    st = stop(subject)
    j = st.json
    assert "error" not in j, j
    assert j["go_version"] == "go1.19.8"
    assert j["goroutine"]["id"] == st.sigquit.goid
    assert j["goroutine"]["status"] == st.sigquit.status == "syscall"
    assert j["thread"]["kind"] == "goroutine" and not j["thread"]["on_system_stack"]
    # A supported release: no "older than the known releases" warning any more.
    assert not [w for w in j["warnings"] if "runtime layouts" in w], j["warnings"]


def test_frames_match_the_runtime_traceback(subject: Subject):
    st = stop(subject)
    ours, theirs = _ours(st.json), _theirs(st.sigquit)
    assert [f["function"] for f in ours[:2]] == ["runtime/internal/syscall.Syscall6", "syscall.RawSyscall6"]
    tail = ours[2:]
    assert [f["function"] for f in tail] == [t.function for t in theirs]
    assert [f["file"] for f in tail] == [t.file for t in theirs]
    assert [f["inlined"] for f in tail] == [t.inlined for t in theirs]
    assert [f["line"] for f in tail[1:]] == [t.line for t in theirs[1:]]
    assert [f["pc"] for f in tail[1:] if not f["inlined"]] == [t.pc for t in theirs[1:] if not t.inlined]
    assert st.json["unwind"]["complete"], st.json["unwind"]


def test_created_by(subject: Subject):
    st = stop(subject)
    g = st.json["goroutine"]
    assert st.sigquit.created_by == subject.created_by
    if subject.created_by is None:  # the main goroutine
        assert g["created_by"] is None
    else:
        cb = g["created_by"]
        assert cb is not None, st.json["warnings"]
        assert (cb["function"], cb["file"], cb["line"]) == \
            (st.sigquit.created_by, st.sigquit.created_file, st.sigquit.created_line)
    # Go 1.19 has no g.parentGoid and its traceback no "in goroutine N".
    assert g["parent_id"] is None and st.sigquit.parent is None


def test_caller_is_the_programs_own_code(subject: Subject):
    st = stop(subject)
    c = st.json["caller"]
    assert c is not None and not c["std"]
    first = next(t for t in _theirs(st.sigquit) if not t.function.startswith(
        ("syscall.", "internal/", "os.", "bufio.", "runtime.")))
    assert c["function"] == first.function
