"""The lab's boot: qemu-system-x86_64 (or -aarch64), KVM if a short probe boots the kernel, TCG
otherwise; user networking with hostfwd on 127.0.0.1 only (the agent and gdbserver ports, free ports picked
at run time); the worktree and its .cache read-only and an exchange directory read-write over virtio-9p, at
the same absolute paths in the guest (the exchange directory at /x). The Vm runs commands, moves files and
starts gdbserver in the guest through the guest agent (agent.py); attach() finds the VM `tools/lab/lab boot`
left running.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from labbuild import Build, build
from labcore import ARCHES, CACHE, GUEST_VENV, REPO, LabError, _say, _sha, _tail

# Extra kernel parameters for the guest (LAB_APPEND replaces them; mitigations=off made no measurable
# difference under TCG here: -cpu max reports Meltdown as not affected, so there is no PTI to switch off).
KERNEL_ARGS = ""
AGENT_PORT = 7000
GDBSERVER_PORT0 = 2345
GDBSERVER_SLOTS = 4
GUEST_XDIR = "/x"


_accel_cache: Dict[str, str] = {}


def _pdeathsig() -> None:
    """In the qemu child: die with the parent (no stray qemu even if the owner is SIGKILLed)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def probe_accel(b: Build, timeout: float = 15) -> str:
    """'kvm' if the lab kernel gets to its own root-mount panic under KVM within timeout, else 'tcg'.
    LAB_ACCEL=kvm|tcg skips the probe. The answer is cached for this process only."""
    forced = os.environ.get("LAB_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    ck = "%s:%s" % (b.arch, b.kernel)
    if ck in _accel_cache:
        return _accel_cache[ck]
    a = ARCHES[b.arch]
    result, why = "tcg", "no /dev/kvm"
    host = {"x86_64": "x86-64", "aarch64": "aarch64"}.get(os.uname().machine)
    if host != b.arch:
        why = "the guest's arch %s is not the host's (%s)" % (b.arch, os.uname().machine)
    elif os.access("/dev/kvm", os.R_OK | os.W_OK) and shutil.which(a["qemu"]):
        t0 = time.time()
        argv = [a["qemu"]] + a["machine"] + ["-accel", "kvm"] + a["kvm_cpu"] + [
            "-m", "256", "-smp", "1", "-display", "none", "-vga", "none", "-nic", "none", "-no-reboot",
            "-serial", "stdio", "-monitor", "none", "-kernel", str(b.kernel),
            "-append", "console=%s panic=-1 loglevel=4" % a["console"]]
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                               stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
            out = p.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            out += "\n(no panic within %ds)" % timeout
        if "Kernel panic" in out or "VFS: Unable to mount root" in out:
            result, why = "kvm", "the kernel ran under KVM to its root-mount panic in %.1fs" % (time.time() - t0)
        elif "KVM internal error" in out:
            why = "KVM internal error (%s)" % _tail(re.sub(r"(?s).*?(KVM internal error[^\n]*).*", r"\1", out))
        else:
            why = "no kernel output under KVM: %s" % _tail(out)
    _say("accel %s: %s" % (result, why))
    _accel_cache[ck] = result
    _accel_cache[ck + ":why"] = why
    return result


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_ports(n: int) -> List[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class StraceResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str
    trace: str


def reap_strays() -> None:
    """Kill qemu processes of lab sessions whose owner process is gone (by pid, from their pid files)."""
    runs = CACHE / "run"
    if not runs.is_dir():
        return
    for d in runs.iterdir():
        try:
            info = json.loads((d / "vm.json").read_text())
        except (OSError, ValueError):
            continue
        owner, qpid = info.get("owner"), info.get("qemu")
        if owner and _alive(owner):
            continue
        if qpid and _alive(qpid) and str(d) in _cmdline(qpid):
            _say("killing stray qemu %d of %s" % (qpid, d.name))
            try:
                os.kill(qpid, signal.SIGKILL)
            except OSError:
                pass
        if not info.get("keep"):
            shutil.rmtree(str(d), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class GdbServer:
    """A gdbserver --once in the guest; the host's gdb connects to host:port."""

    def __init__(self, vm: "Vm", slot: int, gdbserver_pid: int, pid: int, log: str):
        self.vm, self.slot, self.gdbserver_pid, self.pid, self.guest_log = vm, slot, gdbserver_pid, pid, log
        self.host = "127.0.0.1"
        self.port = vm.gdb_ports[slot]

    @property
    def address(self) -> str:
        return "%s:%d" % (self.host, self.port)

    def __iter__(self):  # host, port, pid = vm.gdbserver(...)
        return iter((self.host, self.port, self.pid))

    def log(self) -> str:
        rc, out, _ = self.vm.run(["cat", self.guest_log], timeout=20)
        return out

    def alive(self) -> bool:
        return bool(self.vm._call({"op": "status", "pid": self.gdbserver_pid}, 20).get("running"))

    def close(self) -> None:
        if self.vm.alive():
            for pid in (self.pid, self.gdbserver_pid):
                try:
                    self.vm._call({"op": "kill", "pid": pid}, 20)
                except LabError:
                    pass
        with self.vm._lock:
            self.vm._slots.discard(self.slot)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class Vm:
    GDBSERVER_SLOTS = GDBSERVER_SLOTS

    def __init__(self, b: Build, accel: str, rundir: Path, proc: subprocess.Popen, agent_port: int,
                 gdb_ports: List[int], shares: Dict[str, str], xdir: Path):
        self.build, self.accel, self.rundir, self.proc = b, accel, rundir, proc
        self.agent_port, self.gdb_ports = agent_port, gdb_ports
        self.arch = b.arch
        self.rootfs = b.rootfs
        self.kernel_release = b.kernel_release
        self.gdb = "/usr/bin/gdb"
        self.xdir = xdir
        self.guest_xdir = GUEST_XDIR
        self.shares = shares  # host path -> guest path
        self.console = rundir / "console.log"
        self.guest_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "HOME": "/root", "LC_ALL": "C", "TERM": "dumb", "GDB_RR_DMABUF_VENV": GUEST_VENV}
        self._lock = threading.Lock()
        self._slots: set = set()
        self.boot_seconds = 0.0

    # -- plumbing
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _call(self, req: dict, timeout: float) -> dict:
        if not self.alive():
            raise LabError("lab: the VM is gone (qemu exited with %s): see %s" % (self.proc.returncode, self.console))
        try:
            with socket.create_connection(("127.0.0.1", self.agent_port), timeout=10) as s:
                s.settimeout(timeout + 10)
                s.sendall(json.dumps(req).encode() + b"\n")
                chunks = []
                while True:
                    c = s.recv(1 << 20)
                    if not c:
                        break
                    chunks.append(c)
                    if c.endswith(b"\n"):
                        break
        except socket.timeout:
            raise LabError("lab: the guest agent did not answer %r within %ds: the VM may be overloaded"
                           % (req.get("op"), timeout + 10)) from None
        except OSError as e:
            raise LabError("lab: the guest agent on 127.0.0.1:%d is unreachable (%s): is the VM up?"
                           % (self.agent_port, e)) from None
        data = b"".join(chunks)
        if not data:
            raise LabError("lab: the guest agent closed the connection without answering %r" % req.get("op"))
        reply = json.loads(data.decode())
        if "error" in reply:
            raise LabError("lab: guest agent, %s: %s" % (req.get("op"), reply["error"]))
        return reply

    def _env(self, env: Optional[Dict[str, str]]) -> Dict[str, str]:
        e = dict(self.guest_env)
        e.update(env or {})
        return e

    # -- commands
    def run(self, cmd: Union[str, Sequence[str]], timeout: float = 60, env: Optional[Dict[str, str]] = None,
            cwd: Optional[str] = None, stdin: Optional[Union[str, bytes]] = None) -> Tuple[int, str, str]:
        req = {"op": "run", "env": self._env(env), "cwd": cwd, "timeout": timeout}
        if isinstance(cmd, str):
            req["sh"] = cmd
        else:
            req["argv"] = [str(c) for c in cmd]
        if stdin is not None:
            req["stdin"] = base64.b64encode(stdin.encode() if isinstance(stdin, str) else stdin).decode()
        r = self._call(req, timeout)
        out = base64.b64decode(r["stdout"]).decode(errors="replace")
        err = base64.b64decode(r["stderr"]).decode(errors="replace")
        if r.get("timed_out"):
            raise LabError("lab: guest command timed out after %ss: %s (last output: %s)"
                           % (timeout, _short(cmd), _tail(out + err)))
        return r["rc"], out, err

    def check(self, cmd, **kw) -> str:
        rc, out, err = self.run(cmd, **kw)
        if rc != 0:
            raise LabError("lab: guest command failed (rc %d): %s: %s" % (rc, _short(cmd), _tail(err or out, 3)))
        return out

    def strace(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None,
               trace: str = "ioctl,openat,memfd_create", timeout: float = 600, signal: str = "none") -> StraceResult:
        """strace -f --seccomp-bpf -qq -e trace=TRACE -e signal=SIGNAL (none: Go's SIGURG storms left out;
        --seccomp-bpf: the tracee stops only at the traced calls). timeout only guards against a hang."""
        out = "/tmp/lab-strace.%d.%d" % (os.getpid(), int(time.time() * 1000))
        cmd = ["strace", "-f", "--seccomp-bpf", "-qq", "-o", out, "-e", "trace=" + trace, "-e", "signal=" + signal] + [
            str(a) for a in argv]
        rc, so, se = self.run(cmd, timeout=timeout, env=env)
        _, text, _ = self.run(["sh", "-c", 'cat "$1"; rm -f "$1"', "sh", out], timeout=30)
        return StraceResult(rc, so, se, text)

    def gdbserver(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, timeout: float = 120) -> GdbServer:
        with self._lock:
            free = [i for i in range(GDBSERVER_SLOTS) if i not in self._slots]
            if not free:
                raise LabError("lab: all %d gdbserver slots are in use: close() the earlier ones" % GDBSERVER_SLOTS)
            slot = free[0]
            self._slots.add(slot)
        try:
            log = "/tmp/lab-gdbserver.%d.log" % slot
            gport = GDBSERVER_PORT0 + slot
            r = self._call({"op": "spawn", "argv": ["gdbserver", "--once", "--no-startup-with-shell", "0.0.0.0:%d" % gport] +
                            [str(a) for a in argv], "env": self._env(env), "log": log}, 20)
            w = self._call({"op": "wait", "pid": r["pid"], "path": log, "pattern": "Listening on port",
                            "timeout": timeout}, timeout)
            if not w["found"]:
                self._call({"op": "kill", "pid": r["pid"]}, 20)
                state = "exited (rc %s)" % w["rc"] if not w["running"] else "did not listen within %ss" % timeout
                raise LabError("lab: gdbserver in the guest %s: %s: check the program path and its arguments"
                               % (state, _tail(w["text"], 3)))
            m = re.search(r"pid = (\d+)", w["text"])
            return GdbServer(self, slot, r["pid"], int(m.group(1)) if m else 0, log)
        except BaseException:
            with self._lock:
                self._slots.discard(slot)
            raise

    def host_gdb_args(self, gs: GdbServer) -> List[str]:
        return ["-ex", "set sysroot %s" % self.rootfs, "-ex", "target extended-remote %s" % gs.address]

    # -- files
    def to_guest(self, p: Union[str, Path]) -> str:
        p = os.path.abspath(str(p))
        x = str(self.xdir)
        if p == x or p.startswith(x + "/"):
            return GUEST_XDIR + p[len(x):]
        for host, guest in self.shares.items():
            if p == host or p.startswith(host + "/"):
                return guest + p[len(host):]
        rp = os.path.realpath(p)
        if rp != p:
            return self.to_guest(rp)
        raise LabError("lab: %s is not shared with the guest: put() it, or keep it under %s" % (p, REPO))

    def to_host(self, p: str) -> Path:
        if p == GUEST_XDIR or p.startswith(GUEST_XDIR + "/"):
            return Path(str(self.xdir) + p[len(GUEST_XDIR):])
        for host, guest in self.shares.items():
            if p == guest or p.startswith(guest + "/"):
                return Path(host + p[len(guest):])
        raise LabError("lab: guest path %s is not shared with the host: get() it" % p)

    def put(self, host_path: Union[str, Path], guest_path: str) -> None:
        hp = Path(host_path)
        self._call({"op": "put", "path": guest_path, "data": base64.b64encode(hp.read_bytes()).decode(),
                    "mode": stat.S_IMODE(hp.stat().st_mode)}, 120)

    def get(self, guest_path: str, host_path: Union[str, Path]) -> Path:
        r = self._call({"op": "get", "path": guest_path}, 120)
        hp = Path(host_path)
        hp.write_bytes(base64.b64decode(r["data"]))
        return hp

    # -- end
    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not os.environ.get("LAB_KEEP"):
            shutil.rmtree(str(self.rundir), ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def _short(cmd) -> str:
    s = cmd if isinstance(cmd, str) else " ".join(shlex.quote(str(c)) for c in cmd)
    return s if len(s) < 120 else s[:117] + "..."


def share_roots() -> Dict[str, str]:
    """Host directories shared read-only with the guest, at the same paths: the worktree and the real
    path of its .cache (a symlink in helper worktrees), unless one holds the other."""
    roots = [str(REPO)]
    cache = os.path.realpath(str(REPO / ".cache"))
    if not (cache == str(REPO) or cache.startswith(str(REPO) + "/")):
        roots.append(cache)
    for r in roots:
        if re.search(r"[\s,@]", r):
            raise LabError("lab: the path %r has a space, ',' or '@': the guest cannot mount it; move the "
                           "worktree" % r)
    return {r: r for r in roots}


def boot(arch: str = "x86-64", b: Optional[Build] = None, timeout: Optional[float] = None,
         agent_port: Optional[int] = None, detach: bool = False, memory: int = 3072) -> Vm:
    """Build (cached) and boot the lab; returns when the guest agent answers. One line on failure;
    qemu is killed by pid on every failure path."""
    if timeout is None:
        timeout = float(os.environ.get("LAB_BOOT_TIMEOUT", 240))
    if arch not in ARCHES:
        raise LabError("lab: unknown arch %r: use one of %s" % (arch, ", ".join(ARCHES)))
    a = ARCHES[arch]
    if shutil.which(a["qemu"]) is None:
        raise LabError("lab: %s is not installed: %s" % (a["qemu"], "run tools/bootstrap.sh (it apt-installs "
                       "qemu-system-x86)" if arch == "x86-64" else "apt-get install qemu-system-arm"))
    if agent_port is None and os.environ.get("LAB_AGENT_PORT"):
        agent_port = int(os.environ["LAB_AGENT_PORT"])
    if agent_port is not None and not port_free(agent_port):
        raise LabError("lab: host port 127.0.0.1:%d is taken: choose another LAB_AGENT_PORT or leave it "
                       "unset (a free port is picked)" % agent_port)
    b = b or build(arch)
    for p in (b.kernel, b.initrd):
        if not Path(p).is_file():
            raise LabError("lab: %s does not exist: run tools/lab/lab build" % p)
    reap_strays()
    accel = probe_accel(b)
    (CACHE / "run").mkdir(parents=True, exist_ok=True)
    if detach:
        rundir = cli_rundir(arch)
        shutil.rmtree(str(rundir), ignore_errors=True)
        rundir.mkdir()
    else:
        rundir = Path(tempfile.mkdtemp(prefix="%s-%d-" % (arch, os.getpid()), dir=str(CACHE / "run")))
    xdir = rundir / "x"
    xdir.mkdir()
    shares = share_roots()
    t0 = time.time()
    last = ""
    for attempt in range(3):
        xdir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(1 + GDBSERVER_SLOTS)
        aport = agent_port if agent_port is not None else ports[0]
        gports = ports[1:]
        fwd = ["hostfwd=tcp:127.0.0.1:%d-:%d" % (aport, AGENT_PORT)]
        fwd += ["hostfwd=tcp:127.0.0.1:%d-:%d" % (hp, GDBSERVER_PORT0 + i) for i, hp in enumerate(gports)]
        p9, cmd9 = [], []
        for i, (host, guest) in enumerate(sorted(shares.items())):
            p9 += ["-virtfs", "local,path=%s,mount_tag=lab%d,security_model=none,readonly=on" % (host, i)]
            cmd9.append("lab%d@%s@ro" % (i, guest))
        p9 += ["-virtfs", "local,path=%s,mount_tag=labx,security_model=none" % xdir]
        cmd9.append("labx@%s@rw" % GUEST_XDIR)
        cpu = a["kvm_cpu"] if accel == "kvm" else a["tcg_cpu"]
        accel_arg = "kvm" if accel == "kvm" else "tcg,thread=multi"
        console = rundir / "console.log"
        argv = [a["qemu"]] + a["machine"] + ["-accel", accel_arg] + cpu + [
            "-smp", "2", "-m", str(memory), "-display", "none", "-vga", "none", "-no-reboot",
            "-monitor", "none", "-serial", "file:%s" % console,
            "-nic", "user,model=%s,%s" % (a["nic"], ",".join(fwd))] + p9 + [
            ] + (["-drive", "file=%s,format=raw,if=virtio,snapshot=on,cache=unsafe" % b.disk] if b.disk else []) + [
            "-kernel", str(b.kernel), "-initrd", str(b.initrd),
            "-append", "console=%s quiet rdinit=/init panic=-1 %s lab.agent=%d lab.9p=%s"
            % (a["console"], os.environ.get("LAB_APPEND", KERNEL_ARGS), AGENT_PORT, ",".join(cmd9))]
        qlog = open(str(rundir / "qemu.log"), "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                                preexec_fn=None if detach else _pdeathsig, start_new_session=True)
        qlog.close()
        info = {"owner": proc.pid if detach else os.getpid(), "qemu": proc.pid, "agent_port": aport,
                "gdb_ports": gports, "arch": arch, "accel": accel, "rootfs": str(b.rootfs),
                "kernel_release": b.kernel_release, "xdir": str(xdir), "shares": shares, "keep": detach,
                "build": b._asdict()}
        info["build"] = {k: str(v) for k, v in info["build"].items()}
        (rundir / "vm.json").write_text(json.dumps(info, indent=1))
        vm = Vm(b, accel, rundir, proc, aport, gports, shares, xdir)
        if not detach:
            _register(vm)
        deadline = t0 + timeout
        while True:
            if proc.poll() is not None:
                qtext = (rundir / "qemu.log").read_text(errors="replace")
                last = _tail(qtext) if qtext.strip() else "console: " + _tail(_read(console), 2)
                _keep_failure(_read(console) + "\n--- qemu:\n" + qtext)
                break
            try:
                r = vm._call({"op": "ping"}, 5)
                if r.get("ok"):
                    vm.boot_seconds = time.time() - t0
                    _say("ready in %.1fs (%s, kernel %s)" % (vm.boot_seconds, accel, r.get("uname")))
                    return vm
            except LabError:
                pass
            if time.time() > deadline:
                text = _read(console)
                vm.stop()
                _keep_failure(text)
                raise LabError("lab: the VM did not become ready within %ds (%s; console: %s): the machine may be "
                               "overloaded; raise LAB_BOOT_TIMEOUT, or see %s"
                               % (timeout, accel, _tail(text, 2), CACHE / "run" / "last-failed-console.log"))
            time.sleep(0.3)
        ctext = _read(console)
        panicked = "Kernel panic" in ctext
        vm.stop()                                   # (removes rundir: made again at the next attempt)
        if panicked and attempt < 2:
            # the guest kernel started and panicked (seen once, while the host's disk was full): boot again;
            # the console of the failed boot stays in last-failed-console.log
            _say("the guest kernel panicked during boot (%s): booting again" % _tail(ctext, 1))
            continue
        if "hostfwd" in last or "forwarding" in last:
            if agent_port is not None:
                raise LabError("lab: host port 127.0.0.1:%d is taken (qemu: %s): choose another LAB_AGENT_PORT"
                               % (agent_port, last))
            continue  # a picked port was taken in between: pick again
        break
    raise LabError("lab: qemu exited before the guest was ready: %s" % last)


def _keep_failure(text: str) -> None:
    try:
        (CACHE / "run" / "last-failed-console.log").write_text(text)
    except OSError:
        pass


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


_registered: List[Vm] = []


def _register(vm: Vm) -> None:
    if not _registered:
        import atexit
        atexit.register(_stop_all)
    _registered.append(vm)


def _stop_all() -> None:
    for vm in _registered:
        try:
            vm.stop()
        except Exception:
            pass


def cli_rundir(arch: str) -> Path:
    """The run directory of `tools/lab/lab boot`: one per arch and per worktree (the cache may be shared by
    several worktrees, and a guest mounts the worktree that booted it)."""
    return CACHE / "run" / ("cli-%s-%s" % (arch, _sha(str(REPO))[:8]))


def attach(arch: str = "x86-64") -> Vm:
    """The VM `tools/lab/lab boot` left running (from its vm.json)."""
    d = cli_rundir(arch)
    try:
        info = json.loads((d / "vm.json").read_text())
    except (OSError, ValueError):
        raise LabError("lab: no lab VM is running for %s: run tools/lab/lab boot" % arch) from None
    if not _alive(info["qemu"]):
        raise LabError("lab: the lab VM (qemu pid %d) is gone: run tools/lab/lab boot" % info["qemu"])

    class _P:  # a Popen look-alike for a process we did not start in this process
        pid = info["qemu"]
        returncode = None

        def poll(self):
            return None if _alive(self.pid) else 1

        def terminate(self):
            os.kill(self.pid, signal.SIGTERM)

        def kill(self):
            os.kill(self.pid, signal.SIGKILL)

        def wait(self, t=None):
            end = time.time() + (t or 5)
            while _alive(self.pid):
                if time.time() > end:
                    raise subprocess.TimeoutExpired("qemu", t)
                time.sleep(0.1)

    bd = info["build"]
    b = Build(bd["arch"], bd["key"], Path(bd["kernel"]), bd["kernel_release"], Path(bd["initrd"]),
              Path(bd["rootfs"]), Path(bd["manifest"]), Path(bd["disk"]) if bd.get("disk") not in (None, "None") else None)
    return Vm(b, info["accel"], d, _P(), info["agent_port"], info["gdb_ports"], info["shares"], Path(info["xdir"]))
