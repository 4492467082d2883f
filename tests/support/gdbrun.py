"""Drive real gdb over real programs: one `gdb -nx -q -batch` per call, command files from
tests/gdb_scripts/, and `echo BEGIN name` / `echo END name` markers to cut the output into sections.

Parameters reach the command files through the environment (gdb's Python reads os.environ):
  GDBT_REQUEST   the ioctl request to stop at (stop_ioctl_*.gdb)
  GDBT_REMOTE    host:port of a gdbserver (remote_*.gdb)
  GDBT_CORE      where gcore writes / what core to load
  GDBT_CMDS      ';;'-separated commands for run_commands.gdb, each wrapped in markers
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "tests" / "gdb_scripts"
GDBINIT = REPO / "gdbinit.py"


# The line a stop script prints before it starts the program again (stop_ioctl_exit.gdb, cores.SKIP_RESTARTS):
# what came before it belongs to a run that was given up.
RERUN_MARK = "GDBT-RERUN"


def after_reruns(out: str) -> str:
    """gdb's output from the last start of the program on (all of it when the program ran once)."""
    last = None
    for last in re.finditer(r"^%s\n" % RERUN_MARK, out, re.M):
        pass
    return out if last is None else out[last.end():]


@dataclass
class GdbResult:
    output: str
    returncode: int

    def __post_init__(self):
        self.output = after_reruns(self.output)

    def section(self, name: str) -> str:
        m = re.search(r"^BEGIN %s\n(.*?)^END %s$" % (re.escape(name), re.escape(name)), self.output, re.S | re.M)
        if not m:
            raise AssertionError("no section %r in gdb output:\n%s" % (name, self.output[-6000:]))
        return m.group(1)

    def json(self, name: str) -> dict:
        text = self.section(name)
        start = text.find("{")
        if start < 0:
            raise AssertionError("section %r has no JSON:\n%s" % (name, text))
        return json.JSONDecoder().raw_decode(text[start:])[0]


def gdb_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    env["GDB_RR_DMABUF_QUIET"] = "1"
    env["NO_COLOR"] = "1"
    env["LC_ALL"] = "C"
    env.update(extra or {})
    return env


def run_gdb(scripts: Sequence[str], exe: Optional[Path] = None, args: Sequence[str] = (),
            env: Optional[Dict[str, str]] = None, core: Optional[Path] = None,
            commands: Sequence[str] = (), timeout: float = 180, inferior_env: Optional[Dict[str, str]] = None
            ) -> GdbResult:
    """Run gdb on exe with tests/gdb_scripts/<name>.gdb files in order.

    `commands` (each run between BEGIN/END markers named by their index: c0, c1, ...) go through
    run_commands.gdb; inferior_env is set in the inferior's environment with `set environment`."""
    e = gdb_env(env)
    if commands:
        e["GDBT_CMDS"] = ";;".join(commands)
    if core is not None:
        e["GDBT_CORE"] = str(core)
    argv: List[str] = ["gdb", "-nx", "-q", "-batch", "-ex", "set pagination off", "-ex", "set confirm off"]
    for k, v in (inferior_env or {}).items():
        argv += ["-ex", "set environment %s=%s" % (k, v)]
    if args:
        argv += ["-ex", "set args " + " ".join(args)]
    for s in scripts:
        argv += ["-x", str(SCRIPTS / (s + ".gdb"))]
    if exe is not None:
        argv.append(str(exe))
    proc = subprocess.Popen(argv, cwd=str(REPO), env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError("gdb timed out after %ss:\n%s" % (timeout, out[-6000:]))
    return GdbResult(out, proc.returncode)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_inodes(port: int) -> set:
    """Socket inodes in state LISTEN on a local TCP port, from /proc/net/tcp{,6} (no connection is made:
    gdbserver and qemu's stub take the first connection as gdb's)."""
    found = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            col = row.split()
            if len(col) > 9 and col[3] == "0A" and int(col[1].rsplit(":", 1)[1], 16) == port:
                found.add(col[9])
    return found


def _owns_socket(pid: int, inodes: set) -> bool:
    """Some process of pid's session owns one of the sockets (gdbserver's child, qemu itself)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.getsid(int(d)) != os.getsid(pid):
                continue
            for fd in os.listdir("/proc/%s/fd" % d):
                link = os.readlink("/proc/%s/fd/%s" % (d, fd))
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return True
        except OSError:
            continue
    return False


def wait_listening(proc: subprocess.Popen, port: int, timeout: float = 300) -> bool:
    """Until proc's session listens on 127.0.0.1:port (True) or proc exits (False: e.g. the port was taken
    by someone else between free_port() and the bind). timeout only guards against a hang."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        inodes = _listening_inodes(port)
        if inodes and _owns_socket(proc.pid, inodes):
            return True
        time.sleep(0.05)
    raise AssertionError("nothing listened on port %d within %ss" % (port, timeout))


# qemu-user running a Go program for gdb: Go's asynchronous preemption off, so the runtime sends itself no
# SIGURG. qemu-user reports every signal to gdb as a stop (4 SIGURG stops in one run of gstates here), each
# one more multi-threaded event for its stub beside the breakpoint the test waits for; a driver gdb waited
# 300 s for that breakpoint once in CI, cause not found. The tests' subject does not depend on preemption.
QEMU_AARCH64_GO = ["qemu-aarch64", "-E", "GODEBUG=asyncpreemptoff=1"]


@contextmanager
def listening(argv_for_port, env: Optional[Dict[str, str]] = None, out=None, tries: int = 5) -> Iterator[int]:
    """Start argv_for_port(port) in its own session (a gdb stub: gdbserver, qemu-aarch64 -g) on a free
    port and yield the port once it listens; a port taken in between is picked again. The session is
    killed afterwards."""
    last = ""
    for _ in range(tries):
        port = free_port()
        proc = subprocess.Popen(argv_for_port(port), env=env, stdin=subprocess.DEVNULL,
                                stdout=out if out is not None else subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            if wait_listening(proc, port):
                yield port
                return
            if out is None:
                last = proc.stdout.read().decode(errors="replace")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            if out is None and proc.stdout:
                proc.stdout.close()
    raise AssertionError("%s did not listen in %d tries: %s" % (argv_for_port(0)[0], tries, last[-2000:]))


@contextmanager
def gdbserver(exe: Path, args: Sequence[str] = (), env: Optional[Dict[str, str]] = None,
              log: Optional[Path] = None) -> Iterator[str]:
    """Start `gdbserver 127.0.0.1:PORT exe args` (as rr's emergency gdbserver listens on loopback);
    yields 'host:port'. The program's (and gdbserver's) output goes to `log` when given, else to a
    pipe. The server and the inferior are killed afterwards."""
    e = dict(os.environ)
    e.update(env or {})
    out = open(str(log), "wb") if log is not None else None
    try:
        with listening(lambda port: ["gdbserver", "127.0.0.1:%d" % port, str(exe)] + list(args), e, out) as port:
            yield "127.0.0.1:%d" % port
    finally:
        if out is not None:
            out.close()


def physical_frames(frames: List[dict]) -> List[List[dict]]:
    """go-callers' frames grouped by physical frame (inlined frames share their physical frame's pc),
    innermost first, in order."""
    groups: List[List[dict]] = []
    for f in frames:
        if groups and groups[-1][0]["pc"] == f["pc"]:
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups
