"""tests/support/rrstub.py against the facts read from rr's source (each test names rr's file and tag;
/work/shared/knowledge/rr-stub.md has them with commits). The stub's answer() is driven packet by packet
with a fake real stub behind it (ask() replaced): no gdb, no process."""
import re
import xml.etree.ElementTree as ET

import pytest

from tests.support import rrstub
from tests.support.rrstub import RRStub, StubEnded

PID, STOP, OTHER = 0x1000, 0x1001, 0x1002


class FakeUpstream:
    """The real stub behind the imitation: two threads, memory at 0x1000.. (0x23 '#' and 0x7d '}' inside,
    which the binary reply must escape), registers by `g`."""

    MEM = {0x1000 + i: b for i, b in enumerate(bytes([0x01, 0x23, 0x7D, 0x2A, 0x24, 0xFF]))}

    def __init__(self, tdesc=None, g=b"", p=None):
        self.sent = []
        self.tdesc = tdesc or {}
        self.g = g
        self.p = p or {}

    def __call__(self, payload: bytes) -> bytes:
        self.sent.append(payload)
        if payload == b"qfThreadInfo":
            return b"mp%x.%x,p%x.%x" % (PID, STOP, PID, OTHER)
        if payload == b"qsThreadInfo":
            return b"l"
        if payload.startswith(b"Hg"):
            return b"OK"
        m = re.match(rb"m([0-9a-f]+),([0-9a-f]+)$", payload)
        if m:
            a, n = int(m.group(1), 16), int(m.group(2), 16)
            if a not in self.MEM:
                return b"E14"
            return bytes(self.MEM.get(a + i, 0) for i in range(n)).hex().encode()
        if payload.startswith(b"qXfer:features:read:"):
            annex, _, rng = payload[len(b"qXfer:features:read:"):].partition(b":")
            text = self.tdesc.get(annex.decode(), "").encode()
            off, _, n = rng.partition(b",")
            chunk = text[int(off, 16):int(off, 16) + int(n, 16)]
            return (b"l" if int(off, 16) + int(n, 16) >= len(text) else b"m") + chunk
        if payload == b"g":
            return self.g
        if payload.startswith(b"p"):
            return self.p.get(int(payload[1:], 16), b"E01")
        if payload.startswith(b"vFile:open:"):
            return b"F5"
        return b"FORWARDED"


def stub(flavour="5.8.0", strict=False, arch="x86-64", up=None):
    s = RRStub(None, flavour=flavour, strict=strict, arch=arch, driver=False)
    s.ask = up or FakeUpstream()
    s.stop_pid, s.stop_tid = PID, STOP
    s.query_tid = STOP
    return s


@pytest.mark.parametrize("flavour", rrstub.FLAVOURS)
def test_qsupported_and_stop_reply_are_rrs(flavour):
    """process_query "Supported" (GdbConnection.cc at 5.7.0, GdbServerConnection.cc at 5.8.0/5.9.0): no
    qXfer:threads, libraries or memory-map; `?` is T00thread:pPID.TID; (send_stop_reply_packet)."""
    s = stub(flavour)
    q = s.answer(b"qSupported:multiprocess+;swbreak+;xmlRegisters=i386").decode()
    assert q.startswith("PacketSize=1048576;QStartNoAckMode+;qXfer:features:read+;qXfer:auxv:read+")
    for absent in ("qXfer:threads", "qXfer:libraries", "qXfer:memory-map", "qXfer:osdata", "binary-upload"):
        assert absent not in q
    assert s.answer(b"?") == b"T00thread:p1000.1001;"
    assert s.answer(b"qC") == b"QCp1000.1001"
    assert s.answer(b"!") == b"OK" and s.answer(b"vMustReplyEmpty") == b""
    for annex in (b"threads", b"libraries", b"libraries-svr4", b"memory-map", b"osdata"):
        assert s.answer(b"qXfer:%s:read::0,fff" % annex) == b""


@pytest.mark.parametrize("flavour,zero,data_prefix", [("5.7.0", None, None), ("5.8.0", b"OK", b""),
                                                      ("5.9.0", b"b", b"b")])
def test_x_packet_by_release(flavour, zero, data_prefix):
    """reply_get_mem: 5.7.0 has no `x` (UNHANDLED_REQ: empty reply); 5.8.0 answers raw data with no `b`
    (the gdb >= 16 breakage, rr #3901); 5.9.0 (59902231) with the `b` prefix; unreadable: E01."""
    s = stub(flavour)
    if zero is None:
        assert s.answer(b"x1000,6") == b""
        return
    want = b"\x01}\x03}]}\x0a}\x04\xff"       # 0x23, 0x7d, 0x2a, 0x24 escaped as } + (byte ^ 0x20)
    assert s.answer(b"x1000,6") == data_prefix + want
    assert rrstub.unescape_binary(want) == bytes([0x01, 0x23, 0x7D, 0x2A, 0x24, 0xFF])
    assert s.answer(b"x1000,0") == zero
    assert s.answer(b"x9000,4") == b"E01"
    assert s.answer(b"m1000,2") == b"0123"


def test_writes_and_breakpoints_are_refused_resumes_end_the_session():
    """GdbServer.cc dispatch_debugger_request outside a diversion: reply_set_mem(false) -> E01 (length 0:
    OK); `G` ignored and `P` reply_set_reg(false) -> empty; Z -> E01, z -> OK (no timeline). A resume,
    detach or kill ends rr's session."""
    s = stub()
    assert s.answer(b"M1000,1:00") == b"E01"
    assert s.answer(b"X1000,1:\x00") == b"E01"
    assert s.answer(b"X1000,0:") == b"OK"
    assert s.answer(b"G" + b"00" * 8) == b""
    assert s.answer(b"P10=0000000000000000") == b""
    assert s.answer(b"Z0,401000,1") == b"E01"
    assert s.answer(b"z0,401000,1") == b"OK"
    assert not any(p.startswith((b"M", b"X", b"G", b"P", b"Z")) for p in s.ask.sent)   # nothing reached the stub
    for resume in (b"vCont;c", b"c", b"s", b"D;1000", b"vKill;1000", b"k", b"vRun;"):
        with pytest.raises(StubEnded):
            stub().answer(resume)


def test_vfile_serves_only_open_pread_close_setfs_and_proc_maps():
    """process_vpacket "File:" (open/close/pread/setfs; others empty) and GdbServer::open_file (under
    /proc only PID/maps and PID/task/TID/maps)."""
    s = stub()
    hexpath = lambda p: p.encode().hex().encode()
    assert s.answer(b"vFile:setfs:0") == b"F0"
    assert s.answer(b"vFile:open:%s,0,0" % hexpath("/proc/4096/fd/3")) == b"F-1,2"
    assert s.answer(b"vFile:open:%s,0,0" % hexpath("/proc/4096/exe")) == b"F-1,2"
    assert s.answer(b"vFile:open:%s,0,0" % hexpath("/proc/4096/maps")) == b"F5"
    assert s.answer(b"vFile:open:%s,0,0" % hexpath("/proc/4096/task/4097/maps")) == b"F5"
    assert s.answer(b"vFile:fstat:5") == b"" and s.answer(b"vFile:readlink:%s" % hexpath("/x")) == b""
    assert s.answer(b"qXfer:siginfo:read::0,80") == b"l" + b"\0" * 0x80   # stop_siginfo is zero


def test_strict_570_asserts_only_when_another_thread_is_read():
    """5.7.0: `?` reads no task's registers; g/p/m of gdb's selected task call Task::regs(), which asserts
    on a task that is not stopped (Task.cc): rr's assertion and a second "Launch debugger with", no reply."""
    s = stub("5.7.0", strict=True, up=FakeUpstream(g=b"0011"))
    assert s.answer(b"?") == b"T00thread:p1000.1001;"
    assert s.answer(b"g") == b"0011" and s.answer(b"m1000,1") == b"01"
    assert s.answer(b"Hgp1000.1002") == b"OK"
    assert s.answer(b"qThreadExtraInfo,p1000.1002") == b"FORWARDED"   # a name: no registers
    assert s.answer(b"g") is None
    assert s.asserted
    log = "\n".join(s.log)
    assert "[FATAL src/Task.cc:%d:regs()]" % rrstub.REGS_ASSERT_LINE["5.7.0"] in log
    assert "Assertion `stopped_or_unexpected_exit()' failed to hold." in log
    assert log.count("Launch debugger with") == 1     # the second one (the first is at the ioctl)


@pytest.mark.parametrize("flavour", ["5.8.0", "5.9.0"])
def test_strict_580_and_later_assert_at_the_first_stop_query(flavour):
    """Since 112844f6 (5.8.0) the reply to `?` calls thread_info(), which reads regs() of every task."""
    s = stub(flavour, strict=True)
    assert s.answer(b"qSupported:multiprocess+") == rrstub.QSUPPORTED.encode()
    assert s.answer(b"?") is None
    assert "thread_info()" in "\n".join(s.log) and "Task.cc:%d" % rrstub.REGS_ASSERT_LINE[flavour] in s.log[0]
    alone = stub(flavour, strict=True, up=FakeUpstream())
    alone.ask = lambda p: b"mp1000.1001" if p == b"qfThreadInfo" else b"l"
    assert alone.answer(b"?") == b"T00thread:p1000.1001;"   # a program with one thread survives


def _tdesc_with_tpidr_and_sve():
    core = "".join('<reg name="x%d" bitsize="64"/>' % i for i in range(31))
    core += '<reg name="sp" bitsize="64"/><reg name="pc" bitsize="64"/><reg name="cpsr" bitsize="32"/>'
    sve = "".join('<reg name="z%d" bitsize="2048"/>' % i for i in range(32))
    sve += '<reg name="fpsr" bitsize="32"/><reg name="fpcr" bitsize="32"/>'
    return {"target.xml": '<target><architecture>aarch64</architecture><xi:include '
                          'xmlns:xi="http://www.w3.org/2001/XInclude" href="core.xml"/>'
                          '<feature name="org.gnu.gdb.aarch64.sve">%s</feature>'
                          '<feature name="org.gnu.gdb.aarch64.tls"><reg name="tpidr" bitsize="64"/></feature>'
                          '</target>' % sve,
            "core.xml": '<feature name="org.gnu.gdb.aarch64.core">%s</feature>' % core}


def test_aarch64_serves_core_and_fpu_without_tpidr():
    """rr's aarch64 target description is core + fpu in every release up to 5.9.0 (no tpidr): g and p are
    rebuilt in that layout from a real stub that has SVE and tpidr (v_n = the low 128 bits of z_n)."""
    core = b"".join((i + 1).to_bytes(8, "little") for i in range(33)) + (0x60000000).to_bytes(4, "little")
    up = FakeUpstream(tdesc=_tdesc_with_tpidr_and_sve(), g=core.hex().encode(),
                      p={34 + i: (bytes([i]) * 256).hex().encode() for i in range(32)})
    up.p.update({66: b"11000000", 67: b"22000000", 68: b"efbeadde00000000"})   # fpsr, fpcr, tpidr
    s = stub(arch="aarch64", up=up)
    xml = s.answer(b"qXfer:features:read:target.xml:0,ffff")
    assert xml[:1] == b"l"
    root = ET.fromstring(rrstub.unescape_binary(xml[1:]).decode())
    names = [r.get("name") for r in root.iter("reg")]
    assert names == rrstub.AARCH64_CORE + rrstub.AARCH64_FPU and "tpidr" not in names
    assert [f.get("name") for f in root.iter("feature")] == ["org.gnu.gdb.aarch64.core", "org.gnu.gdb.aarch64.fpu"]
    g = bytes.fromhex(s.answer(b"g").decode())
    assert len(g) == 31 * 8 + 8 + 8 + 4 + 32 * 16 + 4 + 4
    assert g[:8] == (1).to_bytes(8, "little") and g[32 * 8:33 * 8] == (33).to_bytes(8, "little")   # x0, pc
    v1 = 268 + 16
    assert g[v1:v1 + 16] == bytes([1]) * 16
    assert g[-8:] == bytes.fromhex("1100000022000000")
    assert s.answer(b"p%x" % 66) == b"11000000" and s.answer(b"p%x" % 68) == b"E01"   # no tpidr in rr


def test_packet_helpers():
    assert rrstub.frame(b"OK") == b"$OK#9a"
    assert rrstub.decode_rle(b"0* ") == b"0000"         # ' ' is 32: three more
    assert rrstub.escape_binary(b"#$}*a") == b"}\x03}\x04}]}\x0aa"
    assert rrstub.parse_thread_id("p1a.1b", 0) == (0x1a, 0x1b)
    assert rrstub.parse_thread_id("p-1.-1", 0) == (-1, -1)
    assert rrstub.parse_thread_id("1b", 7) == (7, 0x1b)


def test_fresh_meets_the_same_stop_in_another_flavour_over_the_same_connection():
    """RRStub.fresh(): one drive to the stop, each flavour in turn; the connection to the real stub is the first
    imitation's (a fresh one's close() leaves it open), and each writes rr's stop lines at its own tag."""
    import socket
    with pytest.raises(ValueError):
        RRStub(None, driver=False).fresh("5.9.0")
    a, b = socket.socketpair()
    first = RRStub(None, driver=False)
    first.up, first.stop_pid, first.stop_tid, first.ioctl_text = rrstub.Conn(a), PID, STOP, "Unknown ioctl(0x1)"
    first._announced.set()
    for flavour, strict in [("5.7.0", True), ("5.9.0", False)]:
        one = first.fresh(flavour, strict)
        assert one.up is first.up and (one.stop_pid, one.stop_tid) == (PID, STOP)
        assert (one.flavour, one.strict) == (flavour, strict)
        assert "record_syscall.cc:%d:" % rrstub.IOCTL_ASSERT_LINE[flavour] in one.log[0]
        assert one.log.count("Launch debugger with") == 1 and one.address != first.address
        one.close()
        assert a.fileno() >= 0      # still open for the next flavour
    first.close()
    assert a.fileno() == -1
    b.close()
