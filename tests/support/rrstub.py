"""An imitation of rr's emergency gdbserver for the tests: a proxy between gdb and a real gdb stub
(gdbserver, qemu-user's stub) that answers in rr's dialect once the program is stopped where rr stops.

rr cannot run on these machines, so everything here is read from rr's source (github.com/rr-debugger/rr;
the tags and files named at each rule; /work/shared/knowledge/rr-stub.md has the same facts):
  5.7.0 = 7cf5a12d (src/GdbConnection.cc, src/GdbServer.cc), 5.8.0 = f248913a and 5.9.0 = aaed29dc
  (src/GdbServerConnection.cc, src/GdbServer.cc, src/Task.cc, src/log.cc, src/launch_debugger.cc).

How a test uses it:
  1. `RRStub(upstream)` connects to the real stub and listens on 127.0.0.1 (`stub.address`).
  2. The first gdb to connect is the *driver*: everything passes through unchanged, so the tests' own stop
     scripts (catch syscall ioctl, continue ...) bring the program to the ioctl's return; then that gdb
     `disconnect`s. The real stub keeps the program stopped (its connection is the proxy's, still open).
  3. Every later gdb meets rr's emergency stub at that stop (the thread of the last stop reply is the
     thread that "failed rr's assertion"); `stub.log` holds what rr would have written to its stderr.
  4. `stub.fresh(flavour, strict)` is another imitation at the same stop (a new listener in front of the same
     real stub, no driver): the program is driven to the stop once (under TCG that is the costly part) and
     each flavour is met there in turn, each with its own log and packets. rr serves one session; so does
     each imitation (gdb's detach at its end ends it), which is why each flavour gets a fresh one.

What is imitated (rr's behaviour -> here):
  - qSupported: rr's reply, the same in 5.7.0-5.9.0 (GdbConnection.cc / GdbServerConnection.cc
    process_query "Supported"): no qXfer:threads, libraries(-svr4), memory-map or osdata, so gdb lists
    threads with qfThreadInfo and finds shared libraries from r_debug in memory.
  - `?`: `T00thread:pPID.TID;` (send_stop_reply_packet: signal 0, no reason; GdbServer.cc
    DREQ_GET_STOP_REASON). qC names the same thread; qAttached says 1.
  - Writes refused: M/X -> E01 (reply_set_mem(false) outside a diversion), G -> "" (ignored), P -> ""
    (reply_set_reg(false) writes an empty packet); Z -> E01 and z -> OK (reply_watchpoint_request without
    a timeline). Any resume, step, detach, kill, restart or ^C ends rr's session (rr exits 1 and kills the
    tracees): the connection is closed.
  - Memory: `m` served; `x` by flavour (reply_get_mem): 5.7.0 has no `x` (unhandled -> ""), 5.8.0 answers
    the raw data with no `b` prefix (and OK for length 0), 5.9.0 with the `b` prefix (59902231, rr #3901).
  - vFile: only open/pread/close/setfs (process_vpacket "File:"); under /proc only .../maps opens
    (GdbServer::open_file), anything else under /proc fails with ENOENT; other vFile operations -> "".
  - aarch64 registers: rr's target description is core + fpu (no tpidr, no SVE, no pauth: every release up
    to 5.9.0); `g`/`p` are rebuilt in that layout from the real stub's registers (v_n from z_n when the real
    stub describes SVE).
  - $_siginfo reads as zeros (DREQ_READ_SIGINFO copies a zero stop_siginfo at an emergency stop).
  - `strict=True`: a thread other than the stop thread is "blocked in a system call" (every Go program has
    such threads). rr's Task::regs() ASSERTs stopped_or_unexpected_exit() (Task.cc); the emergency server
    calls regs() of gdb's selected task for g, p and every memory read (GdbServer.cc: get_reg, get_regs,
    maybe_intercept_mem_request), and since 5.8.0 (112844f6) the reply to `?` calls thread_info(), which
    reads regs() of every task. The assertion starts a second emergency debugger (log.cc
    EmergencyDebugOstream -> launch_debugger.cc emergency_debug: a second "Launch debugger with") and the
    first gdb never gets its reply. Here: the same lines go to the log, and the reply never comes
    (`on_assert="hang"`, rr's way: gdb waits for its remotetimeout) or the connection closes
    (`on_assert="close"`).

Not imitated: rr's x86-64 target description (the real stub's is passed through: gdbserver and rr both
serve the amd64 core, sse, linux (orig_rax) and segments (fs_base/gs_base) features); qThreadExtraInfo names
(passed through); rr's vFile serving of mapped files by name (the real stub opens real files); the 5.8.0
aarch64 quirk of a feature-only target.xml (gdb falls back to core+fpu, which is what is served here);
rr's own memory model (/proc/PID/maps is rr's model in rr; here the real process's); rr's process-wide
stop (the imitation answers for the real stub's stopped threads); with a real stub that has no
qXfer:exec-file (qemu-user), the path given as exe is served instead, as rr serves the task's exe.
"""
from __future__ import annotations

import re
import select
import socket
import threading
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

FLAVOURS = ("5.7.0", "5.8.0", "5.9.0")
COMMITS = {"5.7.0": "7cf5a12d", "5.8.0": "f248913a", "5.9.0": "aaed29dc"}

# process_query "Supported" (identical at 5.7.0, 5.8.0 and 5.9.0 when not replaying with reverse execution).
QSUPPORTED = ("PacketSize=1048576;QStartNoAckMode+;qXfer:features:read+;qXfer:auxv:read+;"
              "qXfer:exec-file:read+;qXfer:siginfo:read+;qXfer:siginfo:write+;multiprocess+;hwbreak+;"
              "swbreak+;ConditionalBreakpoints+;vContSupported+;QPassSignals+")

# Where rr's assertions are (file:line at each tag), for the log lines rr would print.
REGS_ASSERT_LINE = {"5.7.0": 1113, "5.8.0": 1163, "5.9.0": 1180}          # src/Task.cc Task::regs()
IOCTL_ASSERT_LINE = {"5.7.0": 6408, "5.8.0": 6556, "5.9.0": 6733}         # src/record_syscall.cc

# rr's aarch64 target description: org.gnu.gdb.aarch64.core + org.gnu.gdb.aarch64.fpu (third-party/gdb at
# 5.9.0; 5.8.0's feature-only file makes gdb fall back to the same pair). Written here from the register
# lists, not copied.
AARCH64_CORE = ["x%d" % i for i in range(31)] + ["sp", "pc", "cpsr"]
AARCH64_FPU = ["v%d" % i for i in range(32)] + ["fpsr", "fpcr"]
AARCH64_SIZES = dict([("x%d" % i, 64) for i in range(31)] + [("sp", 64), ("pc", 64), ("cpsr", 32)]
                     + [("v%d" % i, 128) for i in range(32)] + [("fpsr", 32), ("fpcr", 32)])


def _aarch64_target_xml() -> str:
    regs = []
    for n in AARCH64_CORE:
        t = {"sp": "data_ptr", "pc": "code_ptr", "cpsr": "int32"}.get(n, "int64")
        regs.append('<reg name="%s" bitsize="%d" type="%s"/>' % (n, AARCH64_SIZES[n], t))
    core = '<feature name="org.gnu.gdb.aarch64.core">%s</feature>' % "".join(regs)
    regs = []
    for n in AARCH64_FPU:
        t = "int32" if n in ("fpsr", "fpcr") else "uint128"
        regs.append('<reg name="%s" bitsize="%d" type="%s"/>' % (n, AARCH64_SIZES[n], t))
    fpu = '<feature name="org.gnu.gdb.aarch64.fpu">%s</feature>' % "".join(regs)
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target>'
            '<architecture>aarch64</architecture>%s%s</target>' % (core, fpu))


AARCH64_TARGET_XML = _aarch64_target_xml()


# ------------------------------------------------------------------------------------- packets

def checksum(payload: bytes) -> bytes:
    return b"%02x" % (sum(payload) & 0xFF)


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + checksum(payload)


def escape_binary(data: bytes) -> bytes:
    """The remote protocol's binary escapes: #, $, } and * as } followed by the byte xor 0x20."""
    out = bytearray()
    for c in data:
        if c in (0x23, 0x24, 0x7D, 0x2A):
            out += bytes((0x7D, c ^ 0x20))
        else:
            out.append(c)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == 0x7D and i + 1 < len(data):
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def decode_rle(payload: bytes) -> bytes:
    """Run-length encoding (`X*n`: X repeated n - 29 more times), which gdbserver uses in replies."""
    if b"*" not in payload:
        return payload
    out = bytearray()
    i = 0
    while i < len(payload):
        c = payload[i]
        if c == 0x2A and out and i + 1 < len(payload):
            out += bytes((out[-1],)) * (payload[i + 1] - 29)
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


class Conn:
    """One side of the relay: packets in and out, '+' acks while that side is in ack mode."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.ack = True
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, payload: bytes) -> None:
        try:
            self.sock.sendall(frame(payload))
        except OSError:
            self.closed = True

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def fill(self, timeout: Optional[float] = None) -> bool:
        """Read what is there (waiting at most timeout; None: until something comes). False at EOF."""
        if timeout is not None:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return True
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        return True

    def take(self) -> Optional[Tuple[str, bytes]]:
        """The next complete item in the buffer: ('packet', payload) or ('interrupt', b'\\x03'); None."""
        while self.buf:
            c = self.buf[:1]
            if c in (b"+", b"-"):
                self.buf = self.buf[1:]
                continue
            if c == b"\x03":
                self.buf = self.buf[1:]
                return ("interrupt", c)
            if c != b"$" and c != b"%":
                self.buf = self.buf[1:]
                continue
            end = self.buf.find(b"#")
            if end < 0 or len(self.buf) < end + 3:
                return None
            payload = self.buf[1:end]
            self.buf = self.buf[end + 3:]
            if self.ack:
                self.send_raw(b"+")
            return ("packet", payload)
        return None

    def read(self) -> Optional[Tuple[str, bytes]]:
        """Block until an item comes; None at EOF."""
        while True:
            item = self.take()
            if item is not None:
                return item
            if not self.fill():
                return None


def parse_thread_id(text: str, default_pid: int) -> Tuple[int, int]:
    """'pPID.TID', 'TID', 'p-1.-1', '0' -> (pid, tid) with -1 for 'all' and 0 for 'any'."""
    def num(s: str) -> int:
        return -1 if s == "-1" else int(s, 16)
    if text.startswith("p"):
        pid, _, tid = text[1:].partition(".")
        return num(pid), (num(tid) if tid else -1)
    return default_pid, num(text)


# ------------------------------------------------------------------------ target descriptions

def parse_tdesc(fetch) -> List[Tuple[str, int, int]]:
    """[(register name, bit size, number)] of a stub's target description (fetch(annex) -> its text),
    includes expanded, in the numbering gdb gives them (document order; a regnum attribute moves it)."""
    numbered = []
    n = 0
    for name_, bits, regnum in _tdesc_regs(fetch, "target.xml", set()):
        if regnum >= 0:
            n = regnum
        numbered.append((name_, bits, n))
        n += 1
    return numbered


def _tdesc_regs(fetch, name: str, seen) -> List[Tuple[str, int, int]]:
    if name in seen or len(seen) > 32:
        return []
    seen.add(name)
    text = fetch(name)
    if not text:
        return []
    # gdb reads `xi:include` without the XInclude namespace declared (qemu's stub sends it so)
    root = ET.fromstring(re.sub(r"<xi:include\b", "<include", text))
    out: List[Tuple[str, int, int]] = []

    def walk(el):
        for child in el:
            tag = child.tag.split("}")[-1]
            if tag == "include":
                href = child.get("href")
                if href:
                    out.extend(_tdesc_regs(fetch, href, seen))
            elif tag == "reg":
                out.append((child.get("name"), int(child.get("bitsize")),
                            int(child.get("regnum")) if child.get("regnum") else -1))
            elif tag in ("feature", "target"):
                walk(child)
    walk(root)
    return out


# -------------------------------------------------------------------------------------- the stub

class StubEnded(Exception):
    pass


class RRStub:
    """rr's emergency gdbserver, imitated in front of a real stub. See the module's docstring."""

    def __init__(self, upstream: Optional[str], flavour: str = "5.8.0", strict: bool = False,
                 arch: str = "x86-64", on_assert: str = "close", driver: bool = True, exe: str = "EXE",
                 ioctl_text: Optional[str] = None):
        """upstream: host:port of the real stub (None: no connection, for tests of answer() that replace
        ask()). on_assert: "close" ends gdb's connection where rr asserts; "hang" leaves it open with no
        reply, as rr does (gdb then waits for its remotetimeout, rr's -l 10000)."""
        if flavour not in FLAVOURS:
            raise ValueError("flavour must be one of %s" % ", ".join(FLAVOURS))
        if on_assert not in ("close", "hang"):
            raise ValueError("on_assert: close or hang")
        self.flavour = flavour
        self.strict = strict
        self.arch = arch
        self.on_assert = on_assert
        self.exe = exe
        self.ioctl_text = ioctl_text
        self.up: Optional[Conn] = None
        self._own_up = True        # False for fresh(): the connection to the real stub is the first one's
        if upstream is not None:
            host, _, port = upstream.rpartition(":")
            self.up = Conn(socket.create_connection((host or "127.0.0.1", int(port)), timeout=60))
            self.up.sock.settimeout(None)
            self.up.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # one small packet at a time
        self._up_lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.driver_pending = driver
        self.stop_pid: Optional[int] = None
        self.stop_tid: Optional[int] = None
        self.up_multiprocess = True
        self.log: List[str] = []           # what rr would have written to its stderr
        self.packets: List[Tuple[str, bytes]] = []   # rr phase: ('<', request) and ('>', reply)
        self.relayed: List[Tuple[str, bytes]] = []
        self.errors: List[Exception] = []   # the driver's packets (first 100 bytes)
        self.asserted = False
        self.ended = False
        self._tdesc: Optional[List[Tuple[str, int, int]]] = None
        self._hung: List[socket.socket] = []
        self._clients: List[socket.socket] = []
        self._stop = False
        self._announced = threading.Event()   # the driver left and rr's stop lines are written
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # -- life cycle
    def start(self) -> "RRStub":
        self._thread.start()
        return self

    def fresh(self, flavour: str, strict: bool = False, on_assert: str = "close") -> "RRStub":
        """Another imitation of rr's stub at this one's stop, in `flavour`: a new listener in front of the same
        real stub (over this one's connection, which this one closes), no driver phase, rr's stop lines
        written again in its log. Call it after the driver disconnected; start() it (or use `with`)."""
        if self.up is None or not self.stop_tid:
            raise ValueError("fresh(): no stop yet (the driver gdb has not brought the program to it)")
        if not self._announced.wait(timeout=60):   # the relay sees the driver's disconnect within its 1 s select
            raise ValueError("fresh(): the driver gdb is still connected")
        other = RRStub(None, flavour=flavour, strict=strict, arch=self.arch, on_assert=on_assert, driver=False,
                       exe=self.exe, ioctl_text=self.ioctl_text)
        other.up, other._own_up, other._up_lock = self.up, False, self._up_lock
        other.stop_pid, other.stop_tid, other.up_multiprocess = self.stop_pid, self.stop_tid, self.up_multiprocess
        other._tdesc = self._tdesc
        other._announce()
        return other

    def close(self) -> None:
        self._stop = True
        # shutdown() first: close() alone does not wake a thread blocked in accept() or recv() on Linux, and
        # the serving thread would hold close() for the whole join timeout (30 s per stub, every test).
        own = [self.up.sock] if self.up is not None and self._own_up else []
        for s in [self.listener] + own + self._hung + self._clients:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def _serve(self) -> None:
        while not self._stop:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._clients.append(sock)
            client = Conn(sock)
            try:
                if self.driver_pending:
                    self.driver_pending = False
                    self._relay(client)
                    self._announce()
                    self._announced.set()
                else:
                    self._rr_session(client)
            except StubEnded:
                pass
            except OSError:
                pass
            except Exception as e:   # a bug of the imitation: say so in its log, end that connection
                self.log.append("[rr imitation] internal error: %s: %s" % (type(e).__name__, e))
                self.errors.append(e)
            if client.sock not in self._hung:
                try:
                    sock.close()
                except OSError:
                    pass

    # -- phase 1: the driver gdb, passed through
    def _relay(self, client: Conn) -> None:
        last_request = b""
        while not client.closed and not self._stop:
            r, _, _ = select.select([client, self.up], [], [], 1.0)
            if client in r:
                if not client.fill():
                    return
                while True:
                    item = client.take()
                    if item is None:
                        break
                    kind, payload = item
                    if kind == "interrupt":
                        self.up.send_raw(payload)
                        continue
                    if payload == b"QStartNoAckMode":
                        client.send(b"OK")
                        client.ack = False
                        continue
                    last_request = payload
                    self.relayed.append(("<", payload[:100]))
                    self.up.send(payload)
            if self.up in r:
                if not self.up.fill():
                    raise StubEnded()
                while True:
                    item = self.up.take()
                    if item is None:
                        break
                    _, payload = item
                    self.relayed.append((">", payload[:100]))
                    self._note_stop(payload, last_request)
                    client.send(payload)

    def _note_stop(self, payload: bytes, request: bytes) -> None:
        p = decode_rle(payload)
        if p[:1] in (b"T", b"S"):
            m = re.search(rb"thread:([^;]+);", p)
            if m:
                text = m.group(1).decode()
                self.up_multiprocess = text.startswith("p")
                pid, tid = parse_thread_id(text, self.stop_pid or 0)
                if pid <= 0 and request:
                    pid = self.stop_pid or tid
                self.stop_pid, self.stop_tid = pid, tid

    def handshake_upstream(self) -> None:
        """Without a driver: learn the stop thread from the real stub itself (`?`)."""
        self.up.send(b"QStartNoAckMode")
        if self._up_reply() == b"OK":
            self.up.ack = False
        self.up.send(b"qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")
        self._up_reply()
        self.up.send(b"?")
        self._note_stop(self._up_reply(), b"?")

    def _announce(self) -> None:
        """What rr prints at the emergency stop (record_syscall.cc's assertion, launch_debugger.cc), with the
        stop thread's request, argument and result as rr formats them (HEX() prints 0 without 0x)."""
        tid = self.stop_tid or 0
        if self.ioctl_text is None:
            self.ioctl_text = self._ioctl_text()
        self.log.append("[FATAL src/record_syscall.cc:%d:rec_process_syscall_arch() errno: SUCCESS] "
                        % IOCTL_ASSERT_LINE[self.flavour])
        self.log.append(" (task %d (rec:%d) at time 1000)" % (tid, tid))
        self.log.append(" -> Assertion `t->regs().syscall_result_signed() == -syscall_state.expect_errno' "
                        "failed to hold. %s" % self.ioctl_text)
        self.log.append("Launch debugger with")
        self.log.append("  'gdb' '-l' '10000' '-ex' 'set sysroot /' '-ex' 'target extended-remote %s' '%s'"
                        % (self.address, self.exe))

    ioctl_text: Optional[str] = None

    def _ioctl_text(self) -> str:
        import errno as _errno
        names = ("rsi", "rdx", "rax") if self.arch == "x86-64" else ("x1", "x2", "x0")
        try:
            self._select_upstream(self.stop_tid)
            cache: Dict[str, Optional[bytes]] = {}
            g = decode_rle(self.ask(b"g"))
            vals = [self._upstream_reg(n, cache, g) for n in names]
        except (StubEnded, ValueError, ET.ParseError):
            vals = [None, None, None]
        if any(v is None for v in vals):
            return "Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); Unknown ioctl(0xc0086202): " \
                   "type:0x62 nr:0x2 dir:0x3 size:8 addr:0x0"
        req, addr, res = (int.from_bytes(v[:8], "little") for v in vals)
        req &= 0xFFFFFFFF
        res = res - (1 << 64) if res >= (1 << 63) else res
        err = "SUCCESS" if res >= 0 else _errno.errorcode.get(-res, str(-res))
        hx = lambda v: "0x%x" % v if v else "0"
        return ("Expected EINVAL for 'ioctl' but got result %d (errno %s); Unknown ioctl(%s): type:%s nr:%s "
                "dir:%s size:%d addr:%s" % (res, err, hx(req), hx((req >> 8) & 0xFF), hx(req & 0xFF),
                                            hx(req >> 30), (req >> 16) & 0x3FFF, hx(addr)))

    # -- phase 2: rr's emergency stub
    def _up_reply(self) -> bytes:
        """The real stub's reply to what was just sent (console output packets skipped)."""
        while True:
            item = self.up.read()
            if item is None:
                raise StubEnded()
            payload = item[1]
            if payload[:1] == b"O" and payload != b"OK" and re.fullmatch(rb"O[0-9a-fA-F]*", payload):
                continue
            return payload

    def ask(self, payload: bytes) -> bytes:
        with self._up_lock:
            self.up.send(payload)
            return self._up_reply()

    def _rr_session(self, client: Conn) -> None:
        if self.ended:
            return
        self.query_tid = self.stop_tid
        self._select_upstream(self.stop_tid)
        while not self._stop:
            item = client.read()
            if item is None:
                return
            kind, payload = item
            self.packets.append(("<", payload))
            if kind == "interrupt":
                self._end("gdb interrupted (^C)")
            reply = self.answer(payload)
            if reply is None:   # rr asserted: no reply ever comes
                if self.on_assert == "hang":
                    self._hung.append(client.sock)
                raise StubEnded()
            self.packets.append((">", reply))
            client.send(reply)
            if payload == b"QStartNoAckMode":
                client.ack = False

    def _end(self, why: str) -> None:
        self.log.append("[rr imitation] %s: rr ends the session (exit status 1) and kills the tracees" % why)
        self.ended = True
        raise StubEnded()

    def _assert_regs(self, tid: int, why: str) -> None:
        """rr's Task::regs() assertion on a task that is not stopped: rr's own lines, then no reply."""
        self.asserted = True
        fl = self.flavour
        self.log.append("[FATAL src/Task.cc:%d:regs()] " % REGS_ASSERT_LINE[fl])
        self.log.append(" (task %d (rec:%d) at time 1000)" % (tid, tid))
        self.log.append(" -> Assertion `stopped_or_unexpected_exit()' failed to hold. ")
        self.log.append("[rr imitation] %s" % why)
        self.log.append("Launch debugger with")
        port = int(self.address.rsplit(":", 1)[1]) + 1
        self.log.append("  'gdb' '-l' '10000' '-ex' 'set sysroot /' '-ex' 'target extended-remote 127.0.0.1:%d' "
                        "'%s'" % (port, self.exe))

    def _other_threads(self) -> List[int]:
        tids: List[int] = []
        reply = self.ask(b"qfThreadInfo")
        for _ in range(10000):
            if not reply.startswith(b"m"):
                break
            for t in reply[1:].decode().split(","):
                tids.append(parse_thread_id(t, self.stop_pid or 0)[1])
            reply = self.ask(b"qsThreadInfo")
        return [t for t in tids if t != self.stop_tid]

    def _select_upstream(self, tid: Optional[int]) -> None:
        if tid is None:
            return
        if self.up_multiprocess:
            self.ask(b"Hgp%x.%x" % (self.stop_pid or 0, tid))
        else:
            self.ask(b"Hg%x" % tid)

    def _touch(self, what: str) -> bool:
        """gdb's request reads the selected task's registers in rr: False when rr asserts on it."""
        if self.strict and self.query_tid not in (None, self.stop_tid):
            self._assert_regs(self.query_tid, "%s of thread %d, which is blocked in a system call (not stopped)"
                              % (what, self.query_tid))
            return False
        return True

    def answer(self, p: bytes) -> Optional[bytes]:
        """rr's reply to one packet (None: rr asserted and will never reply)."""
        c = p[:1]
        if p.startswith(b"qSupported"):
            return QSUPPORTED.encode()
        if p == b"QStartNoAckMode":
            return b"OK"
        if p == b"?":
            if self.strict and self.flavour != "5.7.0":
                others = self._other_threads()
                if others:
                    self._assert_regs(others[0], "the reply to `?` reads every task's registers (thread_info(), "
                                      "rr 5.8.0+: 112844f6); thread %d is blocked in a system call" % others[0])
                    return None
            return b"T00thread:p%x.%x;" % (self.stop_pid or 0, self.stop_tid or 0)
        if c == b"H":
            if p[1:2] == b"c":
                return b"OK"
            pid, tid = parse_thread_id(p[2:].decode(), self.stop_pid or 0)
            if tid <= 0:
                tid = self.query_tid
            elif tid not in self._all_threads():
                return b"E01"
            self.query_tid = tid
            self._select_upstream(tid)
            return b"OK"
        if p == b"qC":
            return b"QCp%x.%x" % (self.stop_pid or 0, self.stop_tid or 0)
        if p.startswith(b"qAttached"):
            return b"1"
        if c == b"g":
            if not self._touch("`g` (read registers)"):
                return None
            return self._regs_g()
        if c == b"p":
            if not self._touch("`p` (read a register)"):
                return None
            return self._reg_p(int(p[1:].split(b";")[0], 16))
        if c == b"m":
            if not self._touch("`m` (read memory, which reads the task's sp)"):
                return None
            return self._m(p)
        if c == b"x":
            if self.flavour == "5.7.0":
                return b""     # 5.7.0 has no 'x' (UNHANDLED_REQ writes an empty packet)
            if not self._touch("`x` (read memory, which reads the task's sp)"):
                return None
            return self._x(p)
        if c in (b"M", b"X"):
            m = re.match(rb"[MX][0-9a-fA-F]+,([0-9a-fA-F]+)", p)
            return b"OK" if m and int(m.group(1), 16) == 0 else b"E01"
        if c in (b"G", b"P"):
            return b""
        if c == b"Z":
            return b"E01"
        if c == b"z":
            return b"OK"
        if p == b"!":
            return b"OK"     # extended mode (process_packet '!')
        if c in (b"c", b"C", b"s", b"S", b"D", b"k", b"R", b"r", b"b") or p.startswith(
                (b"vCont;", b"vRun", b"vAttach", b"vKill")):
            self._end("gdb sent %r" % p[:20].decode(errors="replace"))
        if p == b"vCont?":
            return b"vCont;c;C;s;S"
        if p.startswith(b"vFile:"):
            return self._vfile(p)
        if p.startswith(b"qXfer:"):
            return self._qxfer(p)
        if p.startswith((b"qfThreadInfo", b"qsThreadInfo", b"T", b"qThreadExtraInfo", b"qSymbol", b"qOffsets")):
            return self.ask(p)
        if p.startswith(b"QPassSignals"):
            return b"OK"
        return b""        # rr's UNHANDLED_REQ: an empty packet

    # -- the pieces
    def _all_threads(self) -> List[int]:
        return self._other_threads() + [self.stop_tid]

    def _x(self, p: bytes) -> bytes:
        m = re.match(rb"x([0-9a-fA-F]+),([0-9a-fA-F]+)$", p)
        if not m:
            return b""
        addr, n = int(m.group(1), 16), int(m.group(2), 16)
        if n == 0:
            return b"OK" if self.flavour == "5.8.0" else b"b"
        got = decode_rle(self._m(b"m%x,%x" % (addr, n)))
        if not got or got.startswith(b"E"):
            return b"E01"
        data = bytes.fromhex(got.decode())
        return (b"" if self.flavour == "5.8.0" else b"b") + escape_binary(data)

    # qemu-user's stub refuses an `m` of more than 2048 bytes (E22: its packets hold 4096 characters); rr
    # serves any length up to its PacketSize, which gdb then asks for. A refused long read is asked again
    # in pieces; rr answers the readable prefix (reply_get_mem), an error when none is readable.
    UP_READ = 2048

    def _m(self, p: bytes) -> bytes:
        got = self.ask(p)
        m = re.match(rb"m([0-9a-fA-F]+),([0-9a-fA-F]+)$", p)
        if not got.startswith(b"E") or not m or int(m.group(2), 16) <= self.UP_READ:
            return got
        addr, n = int(m.group(1), 16), int(m.group(2), 16)
        out = b""
        for off in range(0, n, self.UP_READ):
            part = decode_rle(self.ask(b"m%x,%x" % (addr + off, min(self.UP_READ, n - off))))
            if not part or part.startswith(b"E"):
                break
            out += part
        return out or got

    def _vfile(self, p: bytes) -> bytes:
        op = p[len(b"vFile:"):]
        if op.startswith(b"setfs:"):
            return b"F0"
        if op.startswith(b"open:"):
            path = bytes.fromhex(op[5:].split(b",")[0].decode()).decode(errors="replace")
            if path.startswith("/proc/") and not re.fullmatch(r"/proc/\d+(/task/\d+)?/maps", path):
                return b"F-1,2"
            return self.ask(p)
        if op.startswith((b"pread:", b"close:")):
            return self.ask(p)
        return b""

    def _qxfer(self, p: bytes) -> bytes:
        parts = p.split(b":")
        obj = parts[1] if len(parts) > 1 else b""
        if obj == b"features" and self.arch == "aarch64":
            annex = parts[3].decode() if len(parts) > 3 else ""
            if annex != "target.xml":
                return b"E00"
            off, _, n = parts[4].partition(b",")
            data = AARCH64_TARGET_XML.encode()
            chunk = data[int(off, 16):int(off, 16) + int(n, 16)]
            more = int(off, 16) + int(n, 16) < len(data)
            return (b"m" if more else b"l") + escape_binary(chunk)
        if obj in (b"features", b"auxv"):
            return self.ask(p)
        if obj == b"exec-file":   # rr answers from the task's exe; a stub without it (qemu-user): the path given
            got = self.ask(p)
            if got[:1] in (b"l", b"m") or self.exe == "EXE":
                return got
            off = int(parts[-1].split(b",")[0], 16) if b"," in parts[-1] else 0
            return b"l" + escape_binary(self.exe.encode()[off:])
        if obj == b"siginfo" and parts[2:3] == [b"read"]:
            off, _, n = parts[4].partition(b",")
            return b"l" + escape_binary(b"\0" * min(int(n, 16), 128 - min(128, int(off, 16))))
        return b""   # no threads, libraries(-svr4), memory-map, osdata in rr

    def _upstream_tdesc(self) -> List[Tuple[str, int, int]]:
        if self._tdesc is None:
            def fetch(name: str) -> str:
                out = b""
                for _ in range(1000):
                    r = self.ask(b"qXfer:features:read:%s:%x,%x" % (name.encode(), len(out), 4000))
                    if not r or r[:1] not in (b"m", b"l"):
                        return ""
                    out += unescape_binary(decode_rle(r[1:]))
                    if r[:1] == b"l":
                        break
                return out.decode()
            self._tdesc = parse_tdesc(fetch)
        return self._tdesc

    def _upstream_reg(self, name: str, cache: Dict[str, Optional[bytes]], g: bytes) -> Optional[bytes]:
        """The raw little-endian bytes of a register as the real stub has it (None: it has no such)."""
        if name in cache:
            return cache[name]
        regs = self._upstream_tdesc()
        by_name = {n: (bits, num) for n, bits, num in regs}
        src = name
        want_bits = AARCH64_SIZES.get(name, 64)
        if name not in by_name and name.startswith("v") and ("z" + name[1:]) in by_name:
            src = "z" + name[1:]
        if src not in by_name:
            cache[name] = None
            return None
        bits, num = by_name[src]
        off = 0
        raw = None
        for n, b, k in sorted(regs, key=lambda r: r[2]):
            if k == num:
                if (off + b // 8) * 2 <= len(g):
                    raw = bytes.fromhex(g[off * 2:(off + b // 8) * 2].decode())
                break
            off += b // 8
        if raw is None:
            r = decode_rle(self.ask(b"p%x" % num))
            raw = bytes.fromhex(r.decode()) if r and not r.startswith(b"E") and b"x" not in r else None
        if raw is not None:
            raw = raw[:want_bits // 8]
        cache[name] = raw
        return raw

    def _regs_g(self) -> bytes:
        g = decode_rle(self.ask(b"g"))
        if self.arch != "aarch64" or g.startswith(b"E"):
            return g
        cache: Dict[str, Optional[bytes]] = {}
        out = b""
        for name in AARCH64_CORE + AARCH64_FPU:
            raw = self._upstream_reg(name, cache, g)
            out += raw.hex().encode() if raw is not None else b"xx" * (AARCH64_SIZES[name] // 8)
        return out

    def _reg_p(self, num: int) -> bytes:
        if self.arch != "aarch64":
            return self.ask(b"p%x" % num)
        names = AARCH64_CORE + AARCH64_FPU
        if num >= len(names):
            return b"E01"
        raw = self._upstream_reg(names[num], {}, b"")
        return raw.hex().encode() if raw is not None else b"xx" * (AARCH64_SIZES[names[num]] // 8)


def meet_each_flavour(upstream: str, exe: str, drive, meet, runs=None, arch: str = "x86-64"):
    """The program behind the real stub at `upstream` driven to its stop once, by drive(address) (a gdb through
    the relay that ends with rr_stub_disconnect.gdb), then met through a fresh imitation in each of runs
    ([(flavour, strict)]; default: each flavour, not strict) by meet(address): {flavour: (what meet returned,
    that imitation)}."""
    got = {}
    with RRStub(upstream, exe=str(exe), arch=arch) as stub:
        drv = drive(stub.address)
        if not stub.stop_tid:
            raise AssertionError("the driver gdb did not bring the program to a stop:\n%s"
                                 % str(getattr(drv, "output", drv))[-3000:])
        for flavour, strict in runs or [(f, False) for f in FLAVOURS]:
            with stub.fresh(flavour, strict=strict) as one:
                got[flavour] = (meet(one.address), one)
    return got


# ------------------------------------------------------------------------- a whole stop, one command

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session(program: str, *, flavour: str, strict: bool = False, gdb: str = "gdb", commands=(),
            request: str = "0xc0086202", env: Optional[Dict[str, str]] = None, stop_script: str = "remote_stop_ioctl_exit",
            timeout: float = 300) -> Tuple[str, List[str], "RRStub"]:
    """One stop through one flavour: sessions() with one run. Returns (the user's gdb output, the imitation's
    log, the stub)."""
    return sessions(program, runs=[(flavour, strict)], gdb=gdb, commands=commands, request=request, env=env,
                    stop_script=stop_script, timeout=timeout)[0]


def sessions(program: str, *, runs=(("5.8.0", False),), gdb: str = "gdb", commands=(),
             request: str = "0xc0086202", env: Optional[Dict[str, str]] = None,
             stop_script: str = "remote_stop_ioctl_exit", timeout: float = 300,
             plain: bool = False) -> List[Tuple[str, List[str], "RRStub"]]:
    """gdbserver on program, the imitation in front of it, a driver gdb to the ioctl's return (once), then for
    each (flavour, strict) of runs the user's gdb as rr's "Launch debugger with" line starts it, with
    gdbinit.py sourced and `commands` run between BEGIN/END markers, through a fresh imitation in that flavour
    at the same stop. Returns [(the user's gdb output, that imitation's log, that stub)], in runs' order; the
    program's output up to the end is each stub's program_output. plain: the driver sources gdbinit.py and runs
    the commands too before it leaves, relayed unchanged (gdbserver's own answers at the same stop): each
    stub's plain_output. Runs on the host and, with the guest's
    Python and gdb, in the lab VM (stdlib only)."""
    import os
    import subprocess
    import time
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    scripts = os.path.join(repo, "tests", "gdb_scripts")
    port = _free_port()
    penv = dict(os.environ)
    penv.update(env or {})
    import tempfile
    plog = tempfile.TemporaryFile()
    server = subprocess.Popen(["gdbserver", "--once", "127.0.0.1:%d" % port, program], env=penv,
                              stdin=subprocess.DEVNULL, stdout=plog, stderr=subprocess.STDOUT,
                              start_new_session=True)
    genv = dict(os.environ, GDB_RR_DMABUF_QUIET="", NO_COLOR="1", LC_ALL="C", GDBT_REQUEST=request,
                GDBT_REMOTETIMEOUT="60", GDBT_CMDS=";;".join(commands))
    genv.pop("PYTHONPATH", None)

    def run(names):
        argv = [gdb, "-nx", "-q", "-batch", "-ex", "set pagination off", "-ex", "set confirm off"]
        for n in names:
            argv += ["-x", os.path.join(scripts, n + ".gdb")]
        p = subprocess.run(argv + [program], cwd=repo, env=genv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return p.stdout.decode("utf-8", "replace")
    try:
        stub = None
        for _ in range(6000):  # gdbserver listens once it has started the program (300 s: a hang guard)
            try:
                stub = RRStub("127.0.0.1:%d" % port, flavour=runs[0][0], strict=runs[0][1], exe=program)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError("gdbserver ended before it listened")
                time.sleep(0.05)
        if stub is None:
            raise RuntimeError("gdbserver did not listen")
        got = []
        with stub:
            genv["GDBT_REMOTE"] = stub.address
            t0 = time.time()
            drv = run([stop_script] + (["load_plugin", "run_commands"] if plain else []) + ["rr_stub_disconnect"])
            if not stub.stop_tid:
                raise RuntimeError("the driver gdb never stopped the program:\n" + drv[-3000:])
            drive = time.time() - t0
            for flavour, strict in runs:
                t0 = time.time()
                with stub.fresh(flavour, strict) as one:
                    genv["GDBT_REMOTE"] = one.address
                    got.append((run(["rr_connect", "load_plugin", "run_commands"]), list(one.log), one))
                one.seconds, one.drive_seconds, one.plain_output = time.time() - t0, drive, drv if plain else ""
        plog.seek(0)
        output = plog.read().decode("utf-8", "replace")
        for _, _, one in got:
            one.program_output = output
        return got
    finally:
        try:
            os.killpg(server.pid, 9)
        except OSError:
            pass
        server.wait()
        plog.close()


def _run_spec(text: str) -> Tuple[str, bool]:
    flavour, _, mode = text.partition(":")
    if flavour not in FLAVOURS or mode not in ("", "strict"):
        raise ValueError("a run is FLAVOUR or FLAVOUR:strict, FLAVOUR one of %s: %r" % (", ".join(FLAVOURS), text))
    return flavour, mode == "strict"


def main(argv=None) -> int:
    """python3 -m tests.support.rrstub PROGRAM [--flavour 5.8.0[:strict]]... [--strict] [--gdb GDB] [--env K=V]...
    --commands 'CMD;;CMD': the program driven to the stop once, then met through each flavour given (default
    5.8.0) in turn; each run's output between `RRSTUB RUN FLAVOUR[:strict] BEGIN` and `... END`."""
    import argparse
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("program")
    p.add_argument("--flavour", action="append", default=[], metavar="FLAVOUR[:strict]",
                   help="%s, with ':strict' for the mode in which touching another thread ends the session; "
                        "repeat for several runs at the one stop" % ", ".join(FLAVOURS))
    p.add_argument("--strict", action="store_true", help="every run strict")
    p.add_argument("--gdb", default="gdb")
    p.add_argument("--request", default="0xc0086202")
    p.add_argument("--env", action="append", default=[], metavar="K=V")
    p.add_argument("--commands", default="", help="';;'-separated gdb commands")
    p.add_argument("--plain", action="store_true", help="the driver runs the commands too (gdbserver's answers)")
    a = p.parse_args(argv)
    try:
        runs = [_run_spec(f) for f in a.flavour or ["5.8.0"]]
    except ValueError as e:
        p.error(str(e))
    runs = [(f, s or a.strict) for f, s in runs]
    env = dict(kv.split("=", 1) for kv in a.env)
    got = sessions(a.program, runs=runs, gdb=a.gdb, request=a.request, env=env, plain=a.plain,
                   commands=[c for c in a.commands.split(";;") if c.strip()])
    if a.plain:
        print("RRSTUB PLAIN BEGIN")
        print(got[0][2].plain_output)
        print("RRSTUB PLAIN END")
    for (flavour, strict), (out, log, stub) in zip(runs, got):
        name = flavour + (":strict" if strict else "")
        print("RRSTUB RUN %s BEGIN" % name)
        print(out)
        sent = [q for d, q in stub.packets if d == "<"]
        print("RRSTUB QSUPPORTED %s" % next((q.decode(errors="replace") for q in sent if q.startswith(b"qSupported")),
                                             ""))
        print("RRSTUB X-PACKETS %d M-PACKETS %d" % (sum(q[:1] == b"x" for q in sent), sum(q[:1] == b"m" for q in sent)))
        print("RRSTUB LOG BEGIN")
        print("\n".join(log))
        print("RRSTUB LOG END")
        print("RRSTUB SECONDS %.1f" % stub.seconds)
        print("RRSTUB RUN %s END" % name)
    print("RRSTUB DRIVE SECONDS %.1f" % got[0][2].drive_seconds)
    print("RRSTUB PROGRAM BEGIN")
    print(getattr(got[0][2], "program_output", ""))
    print("RRSTUB PROGRAM END")
    return 0


if __name__ == "__main__":
    import sys as _sys
    _sys.exit(main())
