"""gdb 16+ against rr 5.8.0 (commands/remote_memory.py): the decision on its inputs, and the facts it
rests on that this machine can check: the host's gdb 13 has no `x` packet setting and never sends `x`
(through the imitation of rr's stub, test_rr_stub_e2e.py records every packet gdb sent)."""
import subprocess

from gdb_rr_dmabuf.commands.remote_memory import FIX, gdb_major, hint, x_packet_may_be_used

AUTO_ON = 'Support for the \'x\' packet on the current remote target is "auto", currently enabled.\n'
AUTO_UNKNOWN = 'Support for the \'x\' packet on the current remote target is "auto", currently unknown.\n'
AUTO_OFF = 'Support for the \'x\' packet on the current remote target is "auto", currently disabled.\n'
OFF = 'Support for the \'x\' packet on the current remote target is "off".\n'


def test_the_fix_is_said_only_where_x_can_be_the_cause():
    h = hint("16.3", "remote", 0x401000, 0x7ffc0000, False, False, AUTO_ON, "127.0.0.1:4242")
    what, todo = h
    assert "gdb 16.3 cannot read the stopped thread's memory at its pc (0x401000) and its sp (0x7ffc0000)" in what
    assert "rr 5.8.0" in what and "5.9.0" in what
    assert todo == "type `%s`, then reconnect (`target extended-remote 127.0.0.1:4242`)" % FIX
    assert hint("16.3", "remote", 1, 2, False, True, AUTO_UNKNOWN) is not None
    assert hint("17.1", "remote", 1, 2, True, False, "") is None       # no such setting: gdb never sends x
    assert hint("16.3", "remote", 1, 2, True, True, AUTO_ON) is None   # memory is readable
    assert hint("16.3", "remote", 1, 2, False, False, OFF) is None     # already off: something else
    assert hint("16.3", "remote", 1, 2, False, False, AUTO_OFF) is None
    assert hint("15.2", "remote", 1, 2, False, False, AUTO_ON) is None
    assert hint("16.3", "live", 1, 2, False, False, AUTO_ON) is None
    assert not x_packet_may_be_used("") and x_packet_may_be_used(AUTO_ON)
    assert gdb_major("16.3") == 16 and gdb_major("") == 0


def test_host_gdb_13_has_no_x_packet():
    out = subprocess.run(["gdb", "-nx", "-q", "-batch", "-ex", "show version", "-ex",
                          "show remote binary-upload-packet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=60).stdout
    if gdb_major(out.split("GNU gdb")[1].split(")")[-1] if "GNU gdb" in out else "") >= 16:
        return   # a newer host gdb: the lab test covers it
    assert 'Undefined show remote command: "binary-upload-packet"' in out, out
