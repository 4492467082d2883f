"""`check`: run a program the way rr records it and stop where rr would abort, without rr.

The engine (ptrace.py): the program starts under PTRACE_SEIZE with a seccomp filter that traps only
ioctl and the open calls; every thread, fork and exec is followed. At an ioctl's seccomp stop the rr
table (rr.handling) says whether rr X could stop on that request at all; only then the call is followed
to its return (PTRACE_SYSCALL), where rr X's rule is applied to the result. Opens of the paths rr refuses
(the table's opening_policy) fail with ENOENT without running. Other system calls never stop the program.

At the first call rr X aborts on, every thread is stopped, the thread stays at that syscall's exit (as
under rr's emergency stop) and the process is handed to a real gdb with gdbinit.py, which runs
`dmabuf-why` and `go-callers`: the report is the commands' own output, from the same code. `--all` does
not stop: each distinct request's first call is read in place through the same Target seam and pure
analysers (target_ptrace.PtraceTarget, callers.analyse_callers).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from . import ptrace as pt
from . import rr as rrfacts
from . import wording
from .errnos import describe_result
from .errors import NOT_GO_PROGRAM, NotGoProgram, UserError
from .arch import arch_of
from .target_ptrace import PtraceTarget
from .versions import RRVersion

RR_ENV = (("RUNNING_UNDER_RR", "1"), ("LIBGL_ALWAYS_SOFTWARE", "1"), ("GBM_ALWAYS_SOFTWARE", "1"))
EINVAL, ENOTTY = 22, 25
RESTART = (512, 513, 514, 516)
GDBINIT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gdbinit.py")

NOT_REPRODUCED = [
    "rr's syscall buffer: under rr a call from a patched site stops in rr's page (pc 0x70000002 on x86-64, "
    "0x70000004 on aarch64, librrpreload frames on top); here the pc is the program's own syscall instruction",
    "rr runs one thread at a time (its scheduler, chaos mode): threads interleave differently here, so a "
    "program whose calls depend on timing may reach another call first",
    "rr's other refusals and emulations (alsa.conf, pulse-shm-* files, the nscd socket, its own fds, "
    "CPUID and rdtsc; a seccomp filter the program installs with prctl instead of seccomp(2) goes unnoticed) and the non-ioctl system calls rr rejects",
    "32-bit (i386) code: its system calls are not checked",
]

# rr record's options that take a value (rr's RecordCommand.cc), so the program is found after them.
_RR_VALUE_OPTS = {"-c", "--num-cpu-ticks", "-v", "--env", "-i", "--ignore-signal", "-o", "--output-trace-dir",
                  "-p", "--print-trace-dir", "-t", "--continue-through-signal", "--syscall-buffer-size",
                  "--syscall-buffer-sig", "--bind-to-cpu", "--disable-cpuid-features", "--disable-cpuid-features-ext",
                  "--disable-cpuid-features-xsave", "--nested", "--trace-id", "--tid", "--resource-path", "-A",
                  "--microarch"}


# --------------------------------------------------------------------------------------------------
# The command line

@dataclass
class Program:
    argv: List[str]
    path: str
    env_added: List[Tuple[str, str]] = field(default_factory=list)   # rr record -v NAME=VALUE
    ignored: List[str] = field(default_factory=list)                 # rr's options check does not reproduce


def parse_program(argv: List[str]) -> Program:
    """PROG ARGS, or `rr [rr options] [record] [record options] PROG ARGS`."""
    if not argv:
        raise UserError("no program to run", "give it after --: check -- PROG [ARGS...]")
    env_added: List[Tuple[str, str]] = []
    ignored: List[str] = []
    if os.path.basename(argv[0]) == "rr":
        rest = argv[1:]
        i = 0
        seen_record = False
        while i < len(rest):
            a = rest[i]
            if a == "--":
                i += 1
                break
            if a == "record" and not seen_record:
                seen_record = True
                i += 1
                continue
            if not a.startswith("-") or a == "-":
                break
            name, eq, val = a.partition("=")
            if not eq and name in _RR_VALUE_OPTS:
                if i + 1 >= len(rest):
                    raise UserError("rr option %s needs a value" % a, "give the rr command exactly as you run it")
                val = rest[i + 1]
                i += 1
            if name in ("-v", "--env"):
                k, eq2, v = val.partition("=")
                if not eq2 or not k:
                    raise UserError("rr %s %s: not NAME=VALUE" % (name, val), "write it as -v NAME=VALUE")
                env_added.append((k, v))
            elif len(name) > 2 and not name.startswith("--") and name[1:2] == "v":  # -vNAME=VALUE
                k, _, v = (name[2:] + eq + val).partition("=")
                env_added.append((k, v))
            else:
                ignored.append(a if (eq or name not in _RR_VALUE_OPTS) else "%s %s" % (a, val))
            i += 1
        if not seen_record and rest and rest[0] in ("replay", "ps", "dump", "sources", "pack", "buildid"):
            raise UserError("`rr %s` does not run a program" % rest[0], "give the `rr record ...` command")
        argv = rest[i:]
        if not argv:
            raise UserError("no program after rr's options", "give the command as you run it: rr record PROG ARGS")
    path = resolve_program(argv[0])
    return Program(list(argv), path, env_added, ignored)


def resolve_program(name: str) -> str:
    if "/" in name:
        path = name
    else:
        found = shutil.which(name)
        if found is None:
            raise UserError("%s: no such program on PATH" % name, "give its path, e.g. ./%s" % name)
        path = found
    if not os.path.exists(path):
        raise UserError("%s: no such file" % name, "give the path of the program to run")
    if os.path.isdir(path):
        raise UserError("%s is a directory" % name, "give the program's path")
    if not os.access(path, os.X_OK):
        raise UserError("%s is not executable" % name, "chmod +x it, or give the program that runs it")
    return path


def default_rr_version(arg: Optional[str]) -> Tuple[RRVersion, str]:
    """--rr-version, else $GDB_RR_DMABUF_RR_VERSION or `rr --version` (rr on PATH), else the newest release."""
    from .evidence import resolve_rr_version
    v, source = resolve_rr_version(arg)
    if v is None:
        t = rrfacts.table()
        v, source = t.last_release, "no rr on PATH: the newest release in check's table"
    parsed = RRVersion.parse(v)
    assert parsed is not None
    return parsed, source


# --------------------------------------------------------------------------------------------------
# rr's rule for one call

def could_stop(request: int, versions: List[Optional[RRVersion]]) -> bool:
    """Can any of these rr releases stop on this request (depending on its result)?"""
    for v in versions:
        h = rrfacts.handling(request, v)
        if h.kind in ("generic", "irregular"):
            return True
        if (request & 0xFFFFFFFF) == rrfacts.SIOCETHTOOL:
            return True
    return False


def stops(request: int, result: int, version: Optional[RRVersion], ethtool_cmd: Optional[int] = None
          ) -> bool:
    """Does rr `version` (None: master) abort on this call with this raw result? rr_verdict's rule."""
    if -result in RESTART:
        return False  # the kernel restarts the call; rr waits for the restarted one
    if ethtool_cmd is not None and (request & 0xFFFFFFFF) == rrfacts.SIOCETHTOOL:
        return bool(rrfacts.ethtool_verdict(ethtool_cmd, result, version).would_stop)
    h = rrfacts.handling(request, version)
    if h.kind not in ("generic", "irregular"):
        return False
    return result not in (-EINVAL, -ENOTTY)


def releases_recording(request: int, result: int, ethtool_cmd: Optional[int]) -> List[str]:
    t = rrfacts.table()
    out = [r for r in t.releases if not stops(request, result, t.key(r), ethtool_cmd)]
    if not stops(request, result, None, ethtool_cmd):
        out.append("master")
    return out


def refused_path(path: str) -> Optional[Dict[str, Any]]:
    for p in rrfacts.table().policy_paths():
        if (p["kind"] == "prefix" and path.startswith(p["path"])) or (p["kind"] == "exact" and path == p["path"]):
            return p
    return None


# --------------------------------------------------------------------------------------------------
# Results

@dataclass
class Finding:
    request: int
    names: List[str]
    result: int
    errno: Optional[str]
    count: int
    pid: int
    tid: int
    executable: Optional[str]
    fd: Optional[int]
    fd_link: Optional[str]
    records_in: List[str]
    stops_in: str
    ethtool_cmd: Optional[int] = None
    native_frame: Optional[str] = None
    go_caller: Optional[str] = None
    goroutine: Optional[int] = None
    go_note: Optional[str] = None


@dataclass
class Stop:
    pid: int
    tid: int
    request: int
    names: List[str]
    result: int
    errno: Optional[str]
    fd: Optional[int]
    pc: int
    registers: Dict[str, int]
    executable: Optional[str]


@dataclass
class RunResult:
    how: str = "running"            # exited | signalled | timeout | interrupted | stopped | lost | until
    status: Optional[int] = None    # the program's exit status
    signal: Optional[str] = None    # the signal that ended it
    stop: Optional[Stop] = None
    findings: List[Finding] = field(default_factory=list)
    refused: Dict[str, int] = field(default_factory=dict)
    processes: int = 0
    threads: int = 0
    ioctls: int = 0
    followed: int = 0               # ioctls followed to their return
    execs: List[str] = field(default_factory=list)
    leftover: int = 0               # processes still there when the program's first process ended
    seconds: float = 0.0
    notes: List[str] = field(default_factory=list)
    until_seconds: Optional[float] = None  # --until: when its command first succeeded

    def ended(self) -> str:
        if self.how == "exited":
            return "exited with status %d" % self.status
        if self.how == "signalled":
            return "was killed by %s" % self.signal
        if self.how == "stopped":
            return "was stopped by check at the call"
        if self.how == "until":
            return "was still running when --until's command succeeded (after %.1f s); check ended it" % (
                self.until_seconds or 0.0)
        return self.how


class _Timeout(Exception):
    pass


class _UntilHeld(Exception):
    pass


UNTIL_PERIOD = 0.25   # --until: a new run of its command at most this often (one at a time)


class _Thread:
    __slots__ = ("tgid", "fresh", "pending", "full")

    def __init__(self, tgid: int, fresh: bool = True):
        self.tgid = tgid
        self.fresh = fresh
        self.pending: Optional[Tuple[int, int, int, int]] = None  # (request, fd, arg, pc) of an ioctl followed
        self.full = False  # under a seccomp filter of the program's own: stop at every system call


# --------------------------------------------------------------------------------------------------
# The engine

class Engine:
    def __init__(self, prog: Program, version: RRVersion, *, mode: str = "stop",
                 timeout: Optional[float] = None, stdout_fd: Optional[int] = None, extra_env=(),
                 until: Optional[str] = None):
        self.prog = prog
        self.version = version
        self.mode = mode                # 'stop': the first call rr `version` aborts on; 'all': every one
        self.timeout = timeout
        self.until = until              # a shell command: end the run (no abort) once it succeeds
        self._poll_pid = 0              # its run in progress
        self._next_poll = 0.0
        self.stdout_fd = stdout_fd
        self.arch = pt.machine_arch()
        if self.arch is None:
            raise UserError("check runs on x86-64 and aarch64 only", "run it on one of those machines")
        self.abi = arch_of(self.arch)
        self.env = dict(os.environ)
        for k, v in RR_ENV:
            self.env[k] = v
        for k, v in list(prog.env_added) + list(extra_env):
            self.env[k] = v
        t = rrfacts.table()
        self.versions = [version] if mode == "stop" else [t.key(r) for r in t.releases] + [None]
        self.threads: Dict[int, _Thread] = {}
        self.tgids: Dict[int, bool] = {}
        self.root = -1
        self.killed = False
        self.res = RunResult()
        self._could: Dict[int, bool] = {}
        self._stops: Dict[Tuple[int, int, Optional[int]], bool] = {}
        self._by_req: Dict[Tuple[int, Optional[int]], Finding] = {}
        self.rules: Optional[str] = None  # --rules: the user's advice rules
        self.want_advice = False          # --all --verify: read the advice in place too (the fallback)
        self.first_suggestions: List[Dict[str, Any]] = []  # --all: the advice at the first call rr X aborts on

    # -- start ---------------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            pt.prctl(pt.PR_SET_CHILD_SUBREAPER, 1)  # orphans of the program come to check, to be killed and reaped
        except OSError:
            pass
        go_r, go_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: own process group, wait for the tracer, the filter, exec
            try:
                os.close(go_w)
                os.close(err_r)
                os.setpgid(0, 0)
                pt.prctl(pt.PR_SET_PDEATHSIG, signal.SIGKILL)
                if self.stdout_fd is not None:
                    os.dup2(self.stdout_fd, 1)
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGPIPE):
                    signal.signal(s, signal.SIG_DFL)
                os.read(go_r, 1)
                pt.install_filter(self.arch)
                os.execve(self.prog.path, self.prog.argv, self.env)
            except BaseException as e:  # noqa: B902: nothing may escape the child
                try:
                    os.write(err_w, ("%s" % (getattr(e, "strerror", None) or e)).encode()[:400])
                finally:
                    os._exit(127)
        os.close(go_r)
        os.close(err_w)
        self.root = pid
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        try:
            pt.ptrace(pt.PTRACE_SEIZE, pid, 0, pt.O_TRACESYSGOOD | pt.O_TRACEFORK | pt.O_TRACEVFORK | pt.O_TRACECLONE |
                      pt.O_TRACEEXEC | pt.O_TRACESECCOMP | pt.O_EXITKILL)
        except OSError as e:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise UserError("cannot trace the program (%s)" % e.strerror,
                            "check needs ptrace: not inside another debugger, and kernel.yama.ptrace_scope <= 1")
        self.threads[pid] = _Thread(pid, fresh=False)
        self.tgids[pid] = True
        self.res.processes = self.res.threads = 1
        self._err_r = err_r
        os.write(go_w, b"x")
        os.close(go_w)

    def exec_error(self) -> Optional[str]:
        try:
            data = os.read(self._err_r, 500)
        except OSError:
            return None
        return data.decode(errors="replace") or None

    # -- the loop ------------------------------------------------------------------------------------
    def run(self) -> RunResult:
        t0 = time.monotonic()
        old = {}

        def on_alarm(signum, frame):
            raise _Timeout()

        old[signal.SIGALRM] = signal.signal(signal.SIGALRM, on_alarm)
        mask = None
        try:
            self.start()
            if self.until:  # _wait takes SIGCHLD with sigtimedwait between --until's polls
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
            if self.timeout:
                signal.setitimer(signal.ITIMER_REAL, self.timeout)
            self._loop()
        except _Timeout:
            self.res.how = "timeout"
        except _UntilHeld:
            self.res.how, self.res.until_seconds = "until", time.monotonic() - t0
        except KeyboardInterrupt:
            self.res.how = "interrupted"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for s, h in old.items():
                signal.signal(s, h)
            self.res.seconds = time.monotonic() - t0
        if self.res.how in ("timeout", "interrupted", "until"):
            self.kill_all()
        return self.res

    def _wait(self) -> Optional[Tuple[int, int]]:
        """The next stop of a traced thread (pid, status); exits are noted on the way; None: no tracee left.
        With --until, its command's runs are started and reaped here too (_UntilHeld once one succeeds)."""
        polling = self._next_poll > 0 or bool(self.until)
        while True:
            if self.until and not self._poll_pid and time.monotonic() >= self._next_poll:
                self._start_poll()
                self._next_poll = time.monotonic() + UNTIL_PERIOD
            try:
                wpid, status = os.waitpid(-1, pt.WALL | (os.WNOHANG if polling else 0))
            except ChildProcessError:
                return None
            if wpid == 0:  # nothing yet: sleep until a child changes state (SIGCHLD, blocked) or the next poll
                signal.sigtimedwait([signal.SIGCHLD], max(0.01, self._next_poll - time.monotonic())
                                    if self.until and not self._poll_pid else UNTIL_PERIOD)
                continue
            if wpid == self._poll_pid and wpid:
                self._poll_pid = 0
                if self.until and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                    raise _UntilHeld()
                continue
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self._gone(wpid, status)
                if not self.threads:
                    return None
                continue
            if os.WIFSTOPPED(status):
                return wpid, status

    def _loop(self) -> None:
        while self.threads:
            got = self._wait()
            if got is None:
                break
            wpid, status = got
            th = self.threads.get(wpid)
            if th is None:  # a new thread or process reports before its parent's event
                th = self._new(wpid)
            try:
                if self._stopped(wpid, th, status):
                    return
            except ProcessLookupError:
                continue
            except OSError as e:
                if e.errno == 3:  # ESRCH: killed meanwhile (another thread's exit_group)
                    continue
                raise

    def _start_poll(self) -> None:
        """One run of --until's command (sh -c, its own process group, no input or output; $CHECK_PID is the
        program's pid); reaped by _wait like the program's processes."""
        null = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, 1, 2)]
        env = dict(os.environ, CHECK_PID=str(self.root))
        self._poll_pid = os.posix_spawn("/bin/sh", ["sh", "-c", self.until], env, file_actions=null, setpgroup=0,
                                        setsigmask=())

    def _new(self, tid: int) -> _Thread:
        tgid = tid
        try:
            with open("/proc/%d/status" % tid) as f:
                for line in f:
                    if line.startswith("Tgid:"):
                        tgid = int(line.split()[1])
                        break
        except OSError:
            pass
        th = _Thread(tgid)
        self.threads[tid] = th
        self.res.threads += 1
        if tgid not in self.tgids:
            self.tgids[tgid] = True
            self.res.processes += 1
        return th

    def _gone(self, tid: int, status: int) -> None:
        self.threads.pop(tid, None)
        if tid == self.root:
            if os.WIFEXITED(status):
                self.res.how, self.res.status = "exited", os.WEXITSTATUS(status)
            else:
                self.res.how, self.res.signal = "signalled", signal.Signals(os.WTERMSIG(status)).name
            self.res.leftover = len({t.tgid for t in self.threads.values()})

    def _resume(self, tid: int, th: Optional[_Thread], sig: int = 0) -> None:
        """Let the thread go: to its next trapped call, or (a thread under a seccomp filter of the program's
        own) to its next system call entry or exit, since that filter may answer calls before check's sees them."""
        pt.ptrace(pt.PTRACE_SYSCALL if th is not None and th.full else pt.PTRACE_CONT, tid, 0, sig)

    def _stopped(self, tid: int, th: _Thread, status: int) -> bool:
        sig = os.WSTOPSIG(status)
        ev = status >> 16
        if ev == pt.EVENT_SECCOMP:
            return self._seccomp(tid, th)
        if sig == (signal.SIGTRAP | 0x80):
            return self._syscall_stop(tid, th)
        if ev in (pt.EVENT_FORK, pt.EVENT_VFORK, pt.EVENT_CLONE):
            new = pt.geteventmsg(tid)
            nth = self.threads.get(new) or self._new(new)
            nth.full = nth.full or th.full  # filters are inherited by new threads and processes
            self._resume(tid, th)
            return False
        if ev == pt.EVENT_EXEC:
            former = pt.geteventmsg(tid)
            if former != tid:
                self.threads.pop(former, None)
            try:
                self.res.execs.append(os.readlink("/proc/%d/exe" % tid))
            except OSError:
                pass
            self._resume(tid, th)
            return False
        if ev == pt.EVENT_STOP:
            if th.fresh:
                th.fresh = False
                self._resume(tid, th)
            elif sig in (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
                pt.ptrace(pt.PTRACE_LISTEN, tid, 0, 0)  # a group stop: stays stopped until SIGCONT
            else:
                self._resume(tid, th)
            return False
        if ev:
            self._resume(tid, th)
            return False
        th.fresh = False
        self._resume(tid, th, sig)  # a signal for the program: deliver it
        return False

    def _ioctl_entry(self, tid: int, th: _Thread, args: List[int], pc: int) -> bool:
        """Follow this ioctl to its return? (when some release checked could stop on it)"""
        self.res.ioctls += 1
        req = args[1] & 0xFFFFFFFF
        could = self._could.get(req)
        if could is None:
            could = self._could[req] = could_stop(req, self.versions)
        if could:
            th.pending = (req, args[0], args[2], pc)
            self.res.followed += 1
        return could

    def _seccomp(self, tid: int, th: _Thread) -> bool:
        info = pt.syscall_info(tid)
        nr, args = info.nr, info.args
        if nr == self.abi.nr_ioctl:
            if th.full:  # already seen at its entry stop
                self._resume(tid, th)
                return False
            if self._ioctl_entry(tid, th, args, info.pc):
                pt.ptrace(pt.PTRACE_SYSCALL, tid, 0, 0)
                return False
        elif nr == self.abi.nr_seccomp:
            if args[0] == pt.SECCOMP_SET_MODE_FILTER:
                # The program's own filter: it may answer calls itself (user notification, errno, trap),
                # and such answers take precedence over check's SECCOMP_RET_TRACE. From here this thread
                # (all of its process's with TSYNC) and what it starts stop at every system call instead.
                for t in ([x for x in self.threads.values() if x.tgid == th.tgid] if args[1] & 1 else [th]):
                    t.full = True
                note = ("process %d installed a seccomp filter of its own: check followed its threads at every system "
                        "call from there (slower), so that calls the filter answers are seen too" % th.tgid)
                if note not in self.res.notes:
                    self.res.notes.append(note)
        elif nr in (self.abi.nr_open, self.abi.nr_openat, self.abi.nr_openat2):
            addr = args[0] if nr == self.abi.nr_open else args[1]
            raw = pt.read_cstring(tid, addr)
            path = raw.decode(errors="replace") if raw is not None else None
            if path is not None and refused_path(path):
                self.res.refused[path] = self.res.refused.get(path, 0) + 1
                self._fail(tid, 2)  # ENOENT, as rr's "Cowardly refusing to open"
        self._resume(tid, th)
        return False

    def _fail(self, tid: int, err: int) -> None:
        """Skip the call at its seccomp stop; it returns -err (man 2 seccomp, SECCOMP_RET_TRACE)."""
        regs = pt.get_regs(tid, self.arch)
        if self.abi.syscall_nr_regset is None:
            regs[self.abi.syscall_nr_reg] = 2 ** 64 - 1
        regs[self.abi.syscall_result_reg] = 2 ** 64 - err
        pt.set_regs(tid, self.arch, regs)
        if self.abi.syscall_nr_regset is not None:   # aarch64: the number has its own regset
            pt.set_syscall_nr(tid, self.arch, -1)

    def _syscall_stop(self, tid: int, th: _Thread) -> bool:
        info = pt.syscall_info(tid)
        if info.op == pt.SYSCALL_INFO_ENTRY:  # only threads in full mode stop at entries
            if info.nr == self.abi.nr_ioctl and th.full:
                self._ioctl_entry(tid, th, info.args, info.pc)
            self._resume(tid, th)
            return False
        pend, th.pending = th.pending, None
        result = info.rval if info.op == pt.SYSCALL_INFO_EXIT else None
        if pend is None or result is None:
            self._resume(tid, th)
            return False
        req, fd, arg, pc = pend
        ethtool = self._ethtool_cmd(tid, arg) if req == rrfacts.SIOCETHTOOL else None
        # the rule depends on the result only through "accepted or not": one decision per request and kind
        key = (req, result if (result in (-EINVAL, -ENOTTY) or -result in RESTART) else 0, ethtool)
        hit = self._stops.get(key)
        if hit is None:
            hit = self._stops[key] = any(stops(req, key[1], v, ethtool) for v in self.versions)
        if hit and self.mode == "stop":
            self._at_stop(tid, th, req, result, fd, ethtool)
            return True
        if hit:
            self._record(tid, th, req, result, fd, ethtool)
        self._resume(tid, th)
        return False

    def _ethtool_cmd(self, tid: int, arg: int) -> Optional[int]:
        try:  # struct ifreq: 16 bytes of name, then ifr_data; its first u32 is the ETHTOOL command
            data_ptr = int.from_bytes(pt.read_memory(tid, arg + 16, 8), "little")
            return int.from_bytes(pt.read_memory(tid, data_ptr, 4), "little")
        except (OSError, OverflowError, ValueError):
            return None

    def _stop_info(self, tid: int, th: _Thread, req: int, result: int, fd: int) -> Stop:
        from .ioctl.names import names_for
        regs = pt.get_regs(tid, self.arch)
        pc = regs.get(self.abi.pc_reg, 0)
        try:
            exe = os.readlink("/proc/%d/exe" % th.tgid)
        except OSError:
            exe = None
        return Stop(pid=th.tgid, tid=tid, request=req, names=list(names_for(req, self.arch)), result=result,
                    errno=describe_result(result)[1], fd=fd, pc=pc, registers=regs, executable=exe)

    def _at_stop(self, tid: int, th: _Thread, req: int, result: int, fd: int, ethtool: Optional[int]) -> None:
        self.res.stop = self._stop_info(tid, th, req, result, fd)
        self.res.how = "stopped"
        self.until = None  # no more --until polls: the program stays at the call
        self.freeze(tid, th.tgid)

    def _record(self, tid: int, th: _Thread, req: int, result: int, fd: int, ethtool: Optional[int]) -> None:
        key = (req, ethtool)
        f = self._by_req.get(key)
        if f is not None:
            f.count += 1
            return
        from .ioctl.names import narrow_by_link
        st = self._stop_info(tid, th, req, result, fd)
        try:
            link = os.readlink("/proc/%d/fd/%d" % (th.tgid, fd))
        except (OSError, OverflowError):
            link = None
        names = narrow_by_link(st.names, link) if link else st.names
        rec = releases_recording(req, result, ethtool)
        t = rrfacts.table()
        stopping = [r for r in t.releases if r not in rec]
        f = Finding(request=req, names=list(names), result=result, errno=st.errno, count=1, pid=th.tgid, tid=tid,
                    executable=st.executable, fd=fd, fd_link=link, records_in=rec,
                    stops_in=wording.releases(rrfacts.release_span(stopping, t.releases)) if stopping else "none", ethtool_cmd=ethtool)
        target = PtraceTarget(th.tgid, tid, self.arch, st.registers)
        nf = target.native_frames()[0]
        f.native_frame = "%s (%s)" % (nf.function or "0x%x" % nf.pc, os.path.basename(nf.objfile or "?"))
        try:
            from .callers import analyse_callers
            cr = analyse_callers(target)
            if cr.caller is not None:
                c = cr.caller
                f.go_caller = "%s at %s:%s" % (c.function, c.file, c.line)
            if cr.goroutine is not None:
                f.goroutine = getattr(cr.goroutine, "goid", None)
        except NotGoProgram:
            pass                                  # no Go caller to name: the listing says nothing of Go
        except UserError as e:
            f.go_note = e.what
        except Exception as e:  # best effort: the listing goes on
            f.go_note = "Go stack not read (%s)" % type(e).__name__
        self.res.findings.append(f)
        self._by_req[key] = f
        if self.want_advice and not self.first_suggestions and stops(req, result, self.version, ethtool):
            try:
                from .evidence import analyse
                from .report import suggestions_json
                _w, _c, sugg, _n = analyse(target, want_why=True, want_callers=False, rr_version=str(self.version),
                                           rules_file=self.rules)
                self.first_suggestions = suggestions_json(sugg)
            except Exception:  # best effort: --verify then says no suggestion names a setting
                pass

    # -- stopping everything, handing over, killing ------------------------------------------------
    def freeze(self, tid: int, tgid: int) -> None:
        """Stop every traced thread; leave `tid` at its syscall exit in a group stop of its process (the
        registers stay as at the exit stop), and detach everything so that gdb can attach."""
        for t in list(self.threads):
            if t != tid:
                try:
                    pt.ptrace(pt.PTRACE_INTERRUPT, t, 0, 0)
                except OSError:
                    self.threads.pop(t, None)
        waiting = {t for t in self.threads if t != tid}
        while waiting:
            waiting &= set(self.threads)  # those that exited meanwhile
            got = self._wait() if waiting else None
            if got is None:
                break
            wpid, status = got
            if wpid not in self.threads:
                self._new(wpid)  # born during the stop: it stays stopped too
                continue
            waiting.discard(wpid)
            ev = os.WSTOPSIG(status), status >> 16
            if ev[1] in (pt.EVENT_FORK, pt.EVENT_VFORK, pt.EVENT_CLONE):
                try:
                    new = pt.geteventmsg(wpid)
                    if new not in self.threads:
                        self._new(new)
                        waiting.add(new)
                except OSError:
                    pass
        # The thread at the call stops its process by its own SIGSTOP as soon as it leaves ptrace.
        pt.tgkill(tgid, tid, signal.SIGSTOP)
        for other in {t.tgid for t in self.threads.values()} - {tgid}:
            try:
                os.kill(other, signal.SIGSTOP)
            except OSError:
                pass
        try:
            pt.ptrace(pt.PTRACE_DETACH, tid, 0, 0)
        except OSError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _state(tid) not in ("T", "t", None):
            time.sleep(0.002)
        for t in list(self.threads):
            if t != tid:
                try:
                    pt.ptrace(pt.PTRACE_DETACH, t, 0, 0)
                except OSError:
                    pass

    def kill_all(self) -> int:
        """SIGKILL the program's process group and every process check traced; reap what is ours."""
        if self.killed:
            return 0
        self.killed = True
        self.until = None
        if self._poll_pid:   # a run of --until's command in progress
            try:
                os.killpg(self._poll_pid, signal.SIGKILL)
            except OSError:
                pass
        pids = set(t.tgid for t in self.threads.values()) | set(self.tgids)
        n = 0
        if self.root > 0:
            try:
                os.killpg(self.root, signal.SIGKILL)
            except OSError:
                pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
                n += 1
            except OSError:
                pass
        # Reap: our child, and orphans that came to us as subreaper.
        while True:
            try:
                wpid, status = os.waitpid(-1, pt.WALL)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if wpid == self.root and self.res.how in ("running",):
                self._gone(wpid, status)
        self.threads.clear()
        return n


def _state(tid: int) -> Optional[str]:
    try:
        with open("/proc/%d/stat" % tid) as f:
            s = f.read()
        return s[s.rindex(")") + 2]
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------------------------------
# gdb at the stop: dmabuf-why and go-callers, from the same code

_MARK = "@@check@@"


def gdb_report(stop: Stop, version: str, *, json_out: bool, want_json_why: bool, arch: str,
               colour: bool = False, timeout: float = 300, rules: Optional[str] = None) -> Dict[str, Any]:
    """Attach gdb to the stopped process, select the thread, run the commands; their output by section."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return {"error": "gdb is not on PATH: the stop's stack and Go caller need it (apt-get install gdb)"}
    a = arch_of(arch)
    regs = (a.syscall_nr_reg, a.syscall_result_reg, a.syscall_arg_regs[1], a.pc_reg)
    opt = " --rr-version %s" % version + (" --rules %s" % _gdb_quote(rules) if rules else "")
    # without -ENOSYS at entry the registers cannot tell the stop: the group stop shows the program's x7,
    # not the kernel's 1
    at = "" if a.entry_result_enosys else " --at exit"
    cmds = [
        "set pagination off", "set width 0", "set confirm off",
        "source %s" % GDBINIT,
        "python [t.switch() for t in gdb.selected_inferior().threads() if t.ptid[1] == %d]" % stop.tid,
        "python import json; f = gdb.selected_frame(); print('%s regs ' + json.dumps({r: int(f.read_register(r)) "
        "& (2**64 - 1) for r in %r}))" % (_MARK, regs),
    ]
    secs = [("why", "dmabuf-why" + opt + at + (" --json" if json_out else "")),
            ("callers", "go-callers" + opt + (" --json" if json_out else ""))]
    if want_json_why and not json_out:
        secs.append(("whyjson", "dmabuf-why --json" + opt + at))
    if colour and not json_out:
        secs = [(n, c + (" --color always" if "--json" not in c else "")) for n, c in secs]
    for name, c in secs:
        cmds += ["echo %s begin %s\\n" % (_MARK, name), c, "echo %s end %s\\n" % (_MARK, name)]
    argv = [gdb, "-nx", "-q", "-batch", "-p", str(stop.pid)]
    for c in cmds:
        argv += ["-ex", c]
    env = dict(os.environ)
    env["GDB_RR_DMABUF_QUIET"] = "1"
    if not colour:
        env["NO_COLOR"] = "1"
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           env=env, timeout=timeout)
        out = p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return {"error": "gdb did not finish within %d s" % timeout}
    except OSError as e:
        return {"error": "cannot run gdb (%s)" % e}
    got: Dict[str, Any] = {}
    m = re.search(r"^%s regs (\{.*\})$" % _MARK, out, re.M)
    if m:
        got["registers"] = json.loads(m.group(1))
    for name, _c in secs:
        m = re.search(r"^%s begin %s\n(.*?)^%s end %s$" % (_MARK, name, _MARK, name), out, re.S | re.M)
        if m:
            got[name] = m.group(1)
    if "why" not in got:
        tail = "\n".join(out.strip().splitlines()[-3:])
        got["error"] = "gdb could not attach or run the commands: %s" % tail
    return got


def _gdb_quote(s: str) -> str:
    return "'%s'" % s.replace("\\", "\\\\").replace("'", "\\'")


def compare_registers(stop: Stop, seen: Optional[Dict[str, int]], arch: str) -> Optional[str]:
    """None when gdb sees the registers of the syscall-exit stop; else one sentence."""
    if not seen:
        return "gdb's view of the registers was not read"
    diff = ["%s 0x%x (at the stop 0x%x)" % (k, v, stop.registers.get(k, -1) & (2 ** 64 - 1))
            for k, v in seen.items() if (stop.registers.get(k, -1) & (2 ** 64 - 1)) != v]
    if not diff:
        return None
    return "gdb saw other registers than the syscall-exit stop: " + ", ".join(diff)


# --------------------------------------------------------------------------------------------------
# --verify: the environment settings the advice names, each in a new run

_ENV_IN_CMD = re.compile(r"(?:-v|--env)[ =]([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|\"[^\"]*\"|\S+)")
_ENV_PREFIX = re.compile(r"(?:^|&&\s*|;\s*)((?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|\"[^\"]*\"|\S+)\s+)+)rr\s+record")


def knobs_from_suggestions(suggestions: List[Dict[str, Any]]) -> List[Tuple[str, str, str]]:
    """(NAME, VALUE, rule id) for each environment setting a suggestion's rr command adds."""
    out: List[Tuple[str, str, str]] = []
    for s in suggestions:
        for cmd in s.get("commands") or []:
            pairs = _ENV_IN_CMD.findall(cmd)
            m = _ENV_PREFIX.search(cmd)
            if m:
                pairs += re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|\"[^\"]*\"|\S+)", m.group(1))
            for k, v in pairs:
                v = v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"" else v
                if all((k, v) != (a, b) for a, b, _ in out):
                    out.append((k, v, s.get("rule") or s.get("rule_id") or ""))
    return out


# --------------------------------------------------------------------------------------------------
# The command: `python3 -m gdb_rr_dmabuf check [options] -- PROG [ARGS...]`

def _name(names: List[str], req: int) -> str:
    return "%s (0x%08x)" % (" or ".join(names), req) if names else "0x%08x" % req


def _result_text(result: int, errno: Optional[str]) -> str:
    return "%d" % result if result >= 0 else "-%s (%d)" % (errno or "?", result)


def _changed(prog: Program, extra_env=()) -> Dict[str, Any]:
    env = [("%s=%s" % kv) for kv in RR_ENV] + ["%s=%s" % kv for kv in list(prog.env_added) + list(extra_env)]
    return {"environment": env}


def _shell(argv: List[str]) -> str:
    import shlex
    return " ".join(shlex.quote(a) for a in argv)


def run_once(prog: Program, version, mode: str, timeout: Optional[float], stdout_fd: Optional[int],
             extra_env=(), engines: Optional[List["Engine"]] = None, rules: Optional[str] = None,
             want_advice: bool = False, until: Optional[str] = None) -> Tuple[Engine, RunResult, Optional[str]]:
    eng = Engine(prog, version, mode=mode, timeout=timeout, stdout_fd=stdout_fd, extra_env=extra_env, until=until)
    eng.rules = rules
    eng.want_advice = want_advice
    if engines is not None:
        engines.append(eng)
    res = eng.run()
    err = None
    if res.how in ("exited",) and res.status == 127 and not res.execs:
        err = eng.exec_error()
    return eng, res, err


def verify(prog: Program, version, knobs: List[Tuple[str, str, str]], timeout: Optional[float],
           engines: Optional[List["Engine"]] = None, until: Optional[str] = None) -> List[Dict[str, Any]]:
    """Each environment setting in a new run (stop mode, no gdb): is the abort gone, how did it end."""
    import tempfile
    out = []
    for k, v, rule in knobs:
        with tempfile.TemporaryFile() as f:
            eng, res, err = run_once(prog, version, "stop", timeout, f.fileno(), extra_env=[(k, v)], engines=engines,
                                     until=until)
            if res.how == "stopped":
                eng.kill_all()
            f.seek(0)
            text = f.read()[-4096:].decode(errors="replace")
        last = [ln for ln in text.splitlines() if ln.strip()][-2:]
        item: Dict[str, Any] = {"env": "%s=%s" % (k, v), "rule": rule, "abort_gone": res.stop is None,
                                "program": res.ended() if res.stop is None else "killed by check at the call",
                                "last_output": last}
        if res.how in ("timeout", "interrupted"):
            item["abort_gone"] = None
            item["program"] = "still running after %s s: killed" % timeout if res.how == "timeout" else "interrupted"
        if res.stop is not None:
            item["abort"] = {"request": "0x%08x" % res.stop.request, "names": res.stop.names,
                             "result": res.stop.result}
        out.append(item)
    return out


def check_command(args) -> Tuple[str, int]:
    """(what to print on stdout, exit status). UserError for bad usage / a program that cannot run.
    SIGTERM and SIGHUP end check like ^C (KeyboardInterrupt), and whatever check started is killed first."""
    def on_term(signum, frame):
        raise KeyboardInterrupt()

    old = {s: signal.signal(s, on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    engines: List[Engine] = []
    try:
        return _check(args, engines)
    finally:
        for eng in engines:
            if not eng.killed and (eng.threads or eng.res.how == "stopped"):
                eng.kill_all()
        for s, h in old.items():
            signal.signal(s, h)


def _check(args, engines: List["Engine"]) -> Tuple[str, int]:
    """One run of check: the program once (stop or --all mode), what that run showed, then --verify's runs."""
    prog, version, vsource, rules = _options(args)
    ver = str(version)
    colour = (not args.json) and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    stdout_fd = 2 if args.json else None
    mode = "all" if args.all else "stop"
    until = args.until
    if until is not None and not until.strip():
        raise UserError("--until needs a shell command", "e.g. --until 'xwininfo -name \"My window\"'")
    eng, res, err = run_once(prog, version, mode, args.timeout, stdout_fd, engines=engines, rules=rules,
                             want_advice=bool(args.verify), until=until)
    if err is not None:
        raise UserError("cannot run %s (%s)" % (prog.argv[0], err), "give a program this machine can execute")
    obj, lines = _run_header(prog, ver, vsource, res)
    say = lines.append
    status = 0
    suggestions: List[Dict[str, Any]] = []
    if res.stop is not None:
        status = 1
        suggestions = _stop_report(args, eng, res.stop, ver, colour, rules, obj, lines)
    else:
        obj["verdict"] = "records"
        obj["program_end"] = {"how": res.how, "status": res.status, "signal": res.signal}
        if mode == "all":
            status, suggestions = _all_report(args, prog, version, ver, eng, res, engines, rules, obj, lines)
        status = _end_report(args, res, mode, ver, status, obj, lines)
    if args.verify:
        _verify_report(args, prog, version, ver, suggestions, status, engines, obj, lines)
    say("check: what of rr check does not reproduce:")
    lines.extend("  - " + n for n in NOT_REPRODUCED)
    obj["exit_status"] = status
    if args.json:
        return json.dumps(obj, indent=2) + "\n", status
    return "\n".join(lines) + "\n", status


def _options(args) -> Tuple[Program, RRVersion, str, Optional[str]]:
    """(the program, rr X, where rr X came from, the --rules file): every usage error before the program runs."""
    prog = parse_program(list(args.program or []))
    version, vsource = default_rr_version(args.rr_version)
    if args.timeout is not None and not (0 < args.timeout <= 7 * 24 * 3600):
        raise UserError("--timeout %s: not a number of seconds" % args.timeout, "e.g. --timeout 60")
    rules = getattr(args, "rules", None)
    if rules is not None:
        from .advice import load_rules
        rules = os.path.abspath(rules)
        load_rules(rules)  # a broken file is one line now, before the program runs
    return prog, version, vsource, rules


def _run_header(prog: Program, ver: str, vsource: str, res: RunResult) -> Tuple[Dict[str, Any], List[str]]:
    """The --json object and the text lines every run starts with: what check ran, changed and counted."""
    obj: Dict[str, Any] = {
        "tool": "check", "rr_version": ver, "rr_version_source": vsource, "program": prog.argv,
        "changed": dict(_changed(prog), refused_opens=[{"path": p, "count": n} for p, n in res.refused.items()]),
        "rr_options_ignored": prog.ignored,
        "counts": {"ioctls": res.ioctls, "followed_to_return": res.followed, "processes": res.processes,
                   "threads": res.threads, "seconds": round(res.seconds, 2)},
        "not_reproduced": list(NOT_REPRODUCED),
    }
    lines: List[str] = []
    say = lines.append
    say("check: ran %s the way rr %s records it (%s)" % (
        _shell(prog.argv), ver, vsource if vsource.startswith("no rr") else "the rr release from " + vsource))
    say("check: environment added: %s" % " ".join(_changed(prog)["environment"]))
    if prog.ignored:
        say("check: rr options not reproduced: %s" % " ".join(prog.ignored))
    if res.refused:
        say("check: opens refused with ENOENT, as rr does: %s" % ", ".join(
            "%s (%dx)" % (p, n) if n > 1 else p for p, n in res.refused.items()))
    for n in res.notes:
        say("check: %s" % n)
    obj["notes"] = list(res.notes)
    return obj, lines


def _stop_report(args, eng: "Engine", st: Stop, ver: str, colour: bool, rules: Optional[str],
                 obj: Dict[str, Any], lines: List[str]) -> List[Dict[str, Any]]:
    """rr X aborts: gdb's report at the stop (dmabuf-why, go-callers), then the program is killed. Returns
    the suggestions --verify tries."""
    say = lines.append
    what = _name(st.names, st.request)
    say("check: rr %s would abort here: process %d thread %d (%s), ioctl %s returned %s" % (
        ver, st.pid, st.tid, os.path.basename(st.executable or "?"), what, _result_text(st.result, st.errno)))
    say("check: every thread is stopped; the thread stays at the ioctl's return, as at rr's emergency stop; "
        "gdb attached to it ran dmabuf-why and go-callers:")
    got = gdb_report(st, ver, json_out=args.json, want_json_why=args.verify, arch=eng.arch, colour=colour,
                     rules=rules)
    n = eng.kill_all()
    obj["verdict"] = "aborts"
    obj["stop"] = {"pid": st.pid, "tid": st.tid, "executable": st.executable, "request": "0x%08x" % st.request,
                   "names": st.names, "result": st.result, "errno": st.errno, "fd": st.fd, "pc": "0x%x" % st.pc}
    mismatch = compare_registers(st, got.get("registers"), eng.arch)
    if "error" in got:
        say("check: %s" % got["error"])
        obj["gdb_error"] = got["error"]
    _gdb_sections(args, got, obj, lines)
    suggestions = _stop_suggestions(args, got, obj)
    lines.append("")
    if mismatch:
        say("check: warning: %s" % mismatch)
        obj["registers_mismatch"] = mismatch
    say("check: killed the program (process group %d, %d process%s)" % (eng.root, n, "" if n == 1 else "es"))
    return suggestions


def _gdb_sections(args, got: Dict[str, str], obj: Dict[str, Any], lines: List[str]) -> None:
    """What gdb's dmabuf-why and go-callers printed at the stop: their text, or their --json objects; a
    go-callers that found no Go program is left out."""
    for key, label in (("why", "dmabuf_why"), ("callers", "go_callers")):
        if key not in got:
            continue
        if args.json:
            try:
                t = got[key]
                obj[label] = json.JSONDecoder().raw_decode(t[t.index("{"):])[0]
            except ValueError:
                obj[label] = {"error": got[key].strip()}
        else:
            text = got[key].rstrip("\n")
            if key == "callers" and NOT_GO_PROGRAM in text:  # gdb's go-callers printed a NotGoProgram
                continue
            lines.append("")
            lines.extend(text.splitlines())
    if args.json and isinstance(obj.get("go_callers"), dict) and NOT_GO_PROGRAM in json.dumps(obj["go_callers"]):
        obj["go_callers"] = None


def _stop_suggestions(args, got: Dict[str, str], obj: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The suggestions of dmabuf-why's --json at the stop (--verify asked gdb for it in text mode too)."""
    wj = obj.get("dmabuf_why") if args.json else None
    if args.verify and not args.json and "whyjson" in got:
        try:
            t = got["whyjson"]
            wj = json.JSONDecoder().raw_decode(t[t.index("{"):])[0]
        except ValueError:
            wj = None
    if isinstance(wj, dict):
        return wj.get("suggestions") or []
    return []


def _all_report(args, prog: Program, version, ver: str, eng: "Engine", res: RunResult, engines: List["Engine"],
                rules: Optional[str], obj: Dict[str, Any], lines: List[str]) -> Tuple[int, List[Dict[str, Any]]]:
    """--all: every distinct call some rr release aborts on, which rr X aborts on, the oldest release that
    records the whole run. Returns (exit status so far, the suggestions --verify tries)."""
    say = lines.append
    status = 0
    suggestions: List[Dict[str, Any]] = []
    stopping = [f for f in res.findings if ver not in f.records_in]
    obj["all"] = [_finding_json(f) for f in res.findings]
    t = rrfacts.table()
    oldest = next((r for r in t.releases + ["master"] if all(r in f.records_in for f in res.findings)), None)
    obj["oldest_release_recording_run"] = oldest
    if res.findings:
        say("check: calls some rr release aborts on (%d distinct):" % len(res.findings))
        for f in res.findings:
            lines.extend(_finding_text(f, ver))
    if stopping:
        status = 1
        obj["verdict"] = "aborts"
        say("check: rr %s would abort on %d of them (first: %s)" % (
            ver, len(stopping), _name(stopping[0].names, stopping[0].request)))
    else:
        say("check: rr %s aborts on none of the calls this run made" % ver)
    say("check: the oldest rr release that records this whole run: %s" % (
        oldest or "none (no release, not even master, handles every call)"))
    if args.verify and stopping:
        suggestions = _advice_at_stop(prog, version, ver, args.timeout, engines, rules) or eng.first_suggestions
    return status, suggestions


def _end_report(args, res: RunResult, mode: str, ver: str, status: int, obj: Dict[str, Any],
                lines: List[str]) -> int:
    """How the program ended when check did not stop it (exited, killed by a signal, --timeout, ^C).
    Returns the exit status: 2 when the run could not tell (timeout, interrupted) and nothing aborted."""
    say = lines.append
    end = res.ended()
    if res.how == "until":
        obj["until"] = {"command": args.until, "seconds": round(res.until_seconds or 0.0, 2)}
    if res.how in ("exited", "signalled", "until"):
        extra = (" (%d process%s still running then; check followed them to their end)" % (
            res.leftover, "" if res.leftover == 1 else "es")) if res.leftover else ""
        say("check: the program %s%s; %d ioctl%s seen, %d followed to their return, %d process%s, %d thread%s, "
            "%.1f s" % (end, extra, res.ioctls, "" if res.ioctls == 1 else "s", res.followed, res.processes,
                        "" if res.processes == 1 else "es", res.threads, "" if res.threads == 1 else "s",
                        res.seconds))
        if mode == "stop":
            say("check: rr %s would record this run as far as ioctls go%s: no ioctl it aborts on" % (
                ver, " (up to --until's condition)" if res.how == "until" else ""))
    elif res.how == "timeout":
        say("check: the program was still running after %g s (--timeout): killed its process group; %s" % (
            args.timeout, "no ioctl rr %s aborts on up to then" % ver if status == 0 else "see above"))
        if status == 0:
            status = 2
        obj["verdict"] = "unknown" if obj["verdict"] == "records" else obj["verdict"]
    elif res.how == "interrupted":
        say("check: interrupted: killed the program's process group")
        status = 2 if status == 0 else status
        obj["verdict"] = "unknown" if obj["verdict"] == "records" else obj["verdict"]
    if res.how == "signalled" and mode == "stop":
        say("check: (rr records a run that ends by a signal too)")
    return status


def _verify_report(args, prog: Program, version, ver: str, suggestions: List[Dict[str, Any]], status: int,
                   engines: List["Engine"], obj: Dict[str, Any], lines: List[str]) -> None:
    """--verify: each environment setting the advice names, in a run of its own: is the abort gone."""
    say = lines.append
    knobs = knobs_from_suggestions(suggestions)
    if not knobs:
        say("check --verify: no suggestion names an environment setting to try" if suggestions or status == 1
            else "check --verify: nothing to verify (no abort)")
        obj["verify"] = []
        return
    ver_res = verify(prog, version, knobs, args.timeout, engines, args.until)
    obj["verify"] = ver_res
    for v in ver_res:
        if v["abort_gone"] is None:
            state = "could not tell: the program %s" % v["program"]
        elif v["abort_gone"]:
            state = "the abort is gone; the program %s" % v["program"]
        else:
            state = "rr %s still aborts (%s)" % (ver, _name(v["abort"]["names"], int(v["abort"]["request"], 16)))
        tail = ("; its last output: %s" % " | ".join(v["last_output"])) if (
            v["last_output"] and v["abort_gone"] is not False) else ""
        say("check --verify: with %s: %s%s" % (v["env"], state, tail))


def _advice_at_stop(prog: Program, version, ver: str, timeout, engines, rules) -> List[Dict[str, Any]]:
    """--all --verify: the advice dmabuf-why gives at the first call rr X aborts on, from gdb at that stop
    (a new run in stop mode: gdb's native frames are evidence the in-place reading lacks)."""
    import tempfile
    with tempfile.TemporaryFile() as f:
        eng, res, _err = run_once(prog, version, "stop", timeout, f.fileno(), engines=engines, rules=rules)
        if res.stop is None:
            return []
        try:
            got = gdb_report(res.stop, ver, json_out=True, want_json_why=False, arch=eng.arch, rules=rules)
        finally:
            eng.kill_all()
    try:
        t = got.get("why") or ""
        return json.JSONDecoder().raw_decode(t[t.index("{"):])[0].get("suggestions") or []
    except ValueError:
        return []


def _finding_json(f: Finding) -> Dict[str, Any]:
    return {"request": "0x%08x" % f.request, "names": f.names, "result": f.result, "errno": f.errno,
            "count": f.count, "pid": f.pid, "tid": f.tid, "executable": f.executable, "fd": f.fd,
            "fd_link": f.fd_link, "ethtool_command": f.ethtool_cmd, "native_frame": f.native_frame,
            "go_caller": f.go_caller, "goroutine": f.goroutine, "go_note": f.go_note,
            "stops_in": f.stops_in, "records_in": f.records_in}


def _releases_text(rec: List[str]) -> str:
    t = rrfacts.table()
    rel = [r for r in rec if r != "master"]
    if len(rel) == len(t.releases) and "master" in rec:
        return "every release"
    if not rel:
        return "master only" if rec else "none"
    span = wording.releases(rrfacts.release_span(rel, t.releases))
    span = re.sub(r"^(\S+) to \1$", r"\1", span)
    return span + (" and master" if "master" in rec else "")


def _finding_text(f: Finding, ver: str) -> List[str]:
    recs = _releases_text(f.records_in)
    out = ["  %s%s: %dx, result %s; first in process %d thread %d (%s)%s" % (
        _name(f.names, f.request), " ETHTOOL command %d" % f.ethtool_cmd if f.ethtool_cmd is not None else "",
        f.count, _result_text(f.result, f.errno), f.pid, f.tid, os.path.basename(f.executable or "?"),
        ", fd %d (%s)" % (f.fd, f.fd_link) if f.fd_link else "")]
    out.append("      native frame: %s%s" % (f.native_frame, "; Go caller: %s (goroutine %s)" % (
        f.go_caller, f.goroutine) if f.go_caller else (" (%s)" % f.go_note if f.go_note else "")))
    out.append("      rr releases that abort on it: %s; record it: %s%s" % (
        f.stops_in, recs, "  <- rr %s aborts" % ver if ver not in f.records_in else ""))
    return out


DESCRIPTION = """Run a program the way rr records it, without rr: rr's environment (RUNNING_UNDER_RR=1,
LIBGL_ALWAYS_SOFTWARE=1, GBM_ALWAYS_SOFTWARE=1), opens of /dev/dri/*, /dev/nvidiactl and /dev/nvidia-uvm fail
with ENOENT, every thread, fork and exec followed. At the first ioctl rr X would abort on ("Unknown ioctl"),
the program is stopped there and gdb prints what dmabuf-why and go-callers print at rr's emergency stop; then
the program is killed. Only ioctl and open calls stop the program (a seccomp filter), so it runs near full speed.

exit status: 0 rr X would record this run (as far as ioctls go), 1 it would abort, 2 bad usage, the program
could not run, --timeout passed with no abort seen, or interrupted.

examples:
  python3 -m gdb_rr_dmabuf check -- ./prog --flag
  python3 -m gdb_rr_dmabuf check -- rr record -v GALLIUM_DRIVER=softpipe ./prog
  python3 -m gdb_rr_dmabuf check --rr-version 5.8.0 --all --json -- ./prog
  python3 -m gdb_rr_dmabuf check --verify -- ./prog       also re-run with each setting the advice names
  python3 -m gdb_rr_dmabuf check --until 'xwininfo -name "My window"' -- ./gui-prog
                                  a program that runs until closed: end each run once the command succeeds"""
