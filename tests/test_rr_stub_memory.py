"""gdb 16.1 against rr 5.8.0 (commands/remote_memory.py): the decision on its inputs, and the facts it
rests on that this machine can check: the host's gdb 13 has no `x` packet setting and never sends `x`
(through the imitation of rr's stub, test_rr_stub_e2e.py records every packet gdb sent); the lab's gdb 16.3
sends none to rr's stub either (test_rr_stub_lab.py). No gdb 16.1 is at hand, so the one gdb that does send
`x` to rr is not run: only the decision is tested."""
import subprocess

import pytest

from gdb_rr_dmabuf.commands.remote_memory import FIX, gdb_major, hint, x_packet_may_be_used

AUTO_ON = 'Support for the \'x\' packet on the current remote target is "auto", currently enabled.\n'
AUTO_UNKNOWN = 'Support for the \'x\' packet on the current remote target is "auto", currently unknown.\n'
AUTO_OFF = 'Support for the \'x\' packet on the current remote target is "auto", currently disabled.\n'
OFF = 'Support for the \'x\' packet on the current remote target is "off".\n'


def test_the_fix_is_said_only_where_x_can_be_the_cause():
    h = hint("16.1", "remote", 0x401000, 0x7ffc0000, False, False, AUTO_ON, "127.0.0.1:4242")
    what, todo = h
    assert "gdb 16.1 cannot read the stopped thread's memory at its pc (0x401000) and its sp (0x7ffc0000)" in what
    assert "rr 5.8.0" in what and "5.9.0" in what
    assert todo.startswith("type `%s`, then reconnect (`target extended-remote 127.0.0.1:4242`)" % FIX)
    assert "-ex '%s' before rr's target extended-remote" % FIX in todo
    assert hint("16.1", "remote", 1, 2, False, True, AUTO_UNKNOWN) is not None
    assert hint("16.0.50.20241210-git", "remote", 1, 2, False, True, AUTO_UNKNOWN) is not None
    assert hint("16.3", "remote", 1, 2, False, False, AUTO_ON) is None   # 16.2+: x only when the stub offers it
    assert hint("17.1", "remote", 1, 2, True, False, "") is None       # no such setting: gdb never sends x
    assert hint("16.1", "remote", 1, 2, True, True, AUTO_ON) is None   # memory is readable
    assert hint("16.1", "remote", 1, 2, False, False, OFF) is None     # already off: something else
    assert hint("16.1", "remote", 1, 2, False, False, AUTO_OFF) is None
    assert hint("15.2", "remote", 1, 2, False, False, AUTO_ON) is None
    assert hint("16.1", "live", 1, 2, False, False, AUTO_ON) is None
    assert not x_packet_may_be_used("") and x_packet_may_be_used(AUTO_ON)
    assert gdb_major("16.3") == 16 and gdb_major("") == 0


@pytest.mark.gdb
def test_host_gdb_13_has_no_x_packet():
    out = subprocess.run(["gdb", "-nx", "-q", "-batch", "-ex", "show version", "-ex",
                          "show remote binary-upload-packet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=60).stdout
    first = next((ln for ln in out.splitlines() if ln.startswith("GNU gdb")), "")
    if gdb_major(first.split(")")[-1]) >= 16:
        pytest.skip("a newer host gdb: test_rr_stub_lab.py covers gdb 16")
    assert 'Undefined show remote command: "binary-upload-packet"' in out, out
