"""rr facts: verdicts for the dma-buf family (knowledge/rr.md), rr's assertion text, versions."""
from __future__ import annotations

import pytest

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.rr import (RR_MASTER_CHECKED, RR_PAGE_SYSCALL_PC, handles, in_rr_page, parse_assertion,
                              parse_rr_version, rr_verdict)

EXPORT, IMPORT, SYNC, HEAP = 0xC0086202, 0x40086203, 0x40086200, 0xC0184800

# rr's message, shaped by src/log.cc write_prefix + EmergencyDebugOstream and record_syscall.cc
# (HEX() prints through void*, so a zero nr is "0", not "0x0").
LOG = """rr: Saving execution to trace directory `/home/u/.local/share/rr/app-3'.
[FATAL src/record_syscall.cc:6557:rec_process_syscall_arch()]
 (task 4242 (rec:4242) at time 1416)
 -> Assertion `t->regs().syscall_result_signed() == -syscall_state.expect_errno' failed to hold. \
Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); Unknown ioctl(0xc0086202): type:0x62 nr:0x2 \
dir:0x3 size:8 addr:0x7ffd5e1c3b40
Tail of trace dump:
{
  real_time:330.608515 global_time:1415, event:`SYSCALL: ioctl' (state:EXITING_SYSCALL) tid:4242, ticks:30727656
}
Launch debugger with
  gdb '-l' '10000' '-ex' 'set sysroot /' '-ex' 'target extended-remote 127.0.0.1:4242' /tmp/app
"""


def test_master_checked():
    assert RR_MASTER_CHECKED == "2026-08-17 5c202cd8"  # rr_ioctls.json's master (tools/gen_rr_ioctls.py)


@pytest.mark.parametrize("result,stop", [(0, True), (5, True), (-9, True), (-22, False), (-25, False),
                                         (0xFFFFFFFFFFFFFFEA, False), (None, None)])
def test_export_sync_file(result, stop):
    v = rr_verdict(EXPORT, result)
    assert v.supported_since == "5.9.0"
    assert v.ignorable is False
    assert v.expected == ["EINVAL", "ENOTTY"]
    assert v.would_stop is stop
    assert "5.9.0" in v.explanation and "before 5.9.0" in v.explanation and v.stops_in == "before 5.9.0"


def test_export_with_rr_version():
    assert rr_verdict(EXPORT, 0, (5, 8, 0)).would_stop is True
    assert "rr 5.8.0" in rr_verdict(EXPORT, 0, (5, 8, 0)).explanation
    v = rr_verdict(EXPORT, 0, (5, 9, 0))
    assert v.would_stop is False and "does not stop" in v.explanation


@pytest.mark.parametrize("req", [IMPORT, SYNC, 0x40086201, 0x40046201, 0x40187542, 0x40087543, 0x40103E05])
def test_write_only_family_members_are_ignorable(req):
    v = rr_verdict(req, 0)
    assert v.ignorable is True and v.would_stop is False and v.supported_since is None
    assert "no _IOC_READ bit" in v.explanation and "unless" not in v.explanation


@pytest.mark.parametrize("req", [HEAP, 0xC0303E03, 0xC0383E04, 0xC00C642D, 0xC00C642E, 0xC01064C1, 0xC01064C2,
                                 0xC01864C1, 0xC01864C2])
def test_read_family_members_have_no_support(req):
    v = rr_verdict(req, 0)
    assert v.ignorable is False and v.supported_since is None and v.would_stop is True
    assert "No rr release handles it by name" in v.explanation and RR_MASTER_CHECKED in v.explanation
    assert v.stops_in == "every release" and not v.master_only
    assert rr_verdict(req, -25).would_stop is False
    assert not handles(req, (5, 9, 0))


def test_irregular_types():
    v = rr_verdict(0x00005401, 0)  # TCGETS itself: handled by name in every release checked
    assert v.would_stop is False and v.supported_since == "4.0.0" and "TCGETS" in v.explanation
    v = rr_verdict(0x000054FF, 0)  # no _IOC_READ bit, type 'T', no name in rr
    assert v.ignorable is False and v.would_stop is True and "irregular" in v.explanation
    assert rr_verdict(0x00008901, -22).would_stop is False
    assert rr_verdict(0x40048B01, 0).ignorable is False
    assert rr_verdict(0x40045401, 0).ignorable is False
    assert rr_verdict(0x40045501, 0).ignorable is True


def test_handles():
    assert handles(EXPORT, (5, 9, 0)) and handles(EXPORT, (5, 10, 1)) and handles(EXPORT, (6, 0, 0))
    assert not handles(EXPORT, (5, 8, 0)) and not handles(EXPORT, (4, 6, 0))
    assert handles(0xC0106202, (5, 9, 0))  # rr matches IOCTL_MASK_SIZE: any size of _IOWR('b', 2)
    assert not handles(0x80086202, (5, 9, 0))  # different dir
    assert not handles(IMPORT, (5, 9, 0)) and not handles(HEAP, (5, 9, 0))
    assert handles(0xC020462A, (5, 6, 0)) and not handles(0xC020462A, (5, 5, 0))
    assert not handles(0xC0181B01, (5, 9, 0))  # stubbed on master only


def test_master_only_and_version_changes_the_verdict():
    TCGETS2 = 0x802C542A
    v = rr_verdict(TCGETS2, 0)
    assert v.master_only and v.supported_since is None and v.would_stop is True and v.stops_in == "every release"
    assert "Only rr master after 5.9.0" in v.explanation
    SIOCGMIIPHY = 0x8947  # named since 5.8.0
    assert rr_verdict(SIOCGMIIPHY, 0, (5, 7, 0)).would_stop is True
    v = rr_verdict(SIOCGMIIPHY, 0, (5, 8, 0))
    assert v.would_stop is False and v.handled_by_name is True and "does not stop" in v.explanation
    assert "records struct ifreq" in v.explanation
    assert rr_verdict(SIOCGMIIPHY, -1).stops_in == "4.3.0 to 5.7.0"  # before 4.3.0 type 0x89 was not irregular
    assert rr_verdict(SIOCGMIIPHY, -1, (4, 2, 0)).would_stop is False
    assert rr_verdict(0x5421, 0).stops_in == "none"  # FIONBIO: named in 4.3.0 with the irregular-type rule


def test_unreachable_labels_fall_to_the_generic_rule():
    v = rr_verdict(0x4004E502, 0)  # FUSE_DEV_IOC_BACKING_CLOSE: _IOW, listed after the READ check
    assert v.ignorable is True and v.would_stop is False and "never reaches" in v.explanation


def test_open_policy():
    v = rr_verdict(0xC00C642D, 0)
    assert v.open_policy and "/dev/dri" in v.open_policy
    assert rr_verdict(0xC00C642D, 0, fd_link="/memfd:x (deleted)").open_policy is None
    assert "/dev/nvidiactl" in rr_verdict(0xC030462B, 0, fd_link="/dev/nvidiactl").open_policy


def test_parse_assertion_full_log():
    a = parse_assertion(LOG)
    assert (a.syscall, a.result, a.errno, a.expected) == ("ioctl", 0, None, "EINVAL")
    assert (a.request, a.type, a.nr, a.dir, a.size, a.addr) == (EXPORT, 0x62, 2, 3, 8, 0x7FFD5E1C3B40)


def test_parse_assertion_zero_fields_and_errno():
    text = ("Expected EINVAL for 'ioctl' but got result -9 (errno EBADF); Unknown ioctl(0xc0184800): "
            "type:0x48 nr:0 dir:0x3 size:24 addr:0")
    a = parse_assertion(text)
    assert (a.result, a.errno, a.request, a.nr, a.size, a.addr) == (-9, "EBADF", HEAP, 0, 24, 0)
    b = parse_assertion("Expected EINVAL for 'ioctl' but got result 3 (errno errno(-3)); Unknown ioctl(0xc00c642d): "
                        "type:0x64 nr:0x2d dir:0x3 size:12 addr:0x1000")
    assert (b.result, b.errno) == (3, "errno(-3)")


def test_parse_assertion_partial_and_prefixed():
    a = parse_assertion("Unknown ioctl(0xc0086202)")
    assert a.request == EXPORT and a.result is None and a.type is None and a.syscall == "ioctl"
    a = parse_assertion("rr 12:00 >>> ... ; unknown ioctl(0xffffffffc0086202): type:0x62 nr:0x2 dir:0x3 size:8")
    assert a.request == EXPORT and a.size == 8 and a.addr is None
    # wrapped by a terminal
    a = parse_assertion("Expected EINVAL for 'ioctl' but got result 0\n (errno SUCCESS); Unknown ioctl(0xc0086202):\n"
                        " type:0x62 nr:0x2 dir:0x3 size:8 addr:0x10")
    assert a.result == 0 and a.addr == 0x10


@pytest.mark.parametrize("text", ["", "hello", "Expected EINVAL for 'fcntl' but got result 0 (errno SUCCESS); "
                                  "unknown fcntl(0x406)", "Unknown ioctl(zz)"])
def test_parse_assertion_garbage(text):
    with pytest.raises(UserError) as ei:
        parse_assertion(text)
    assert "\n" not in str(ei.value)


def test_parse_assertion_old_formats_and_long_numbers():
    a = parse_assertion("Expected EINVAL for 'ioctl' but got result 0; Unknown ioctl(0x5401): type:0x54 nr:0x1 "
                        "dir:0 size:0 addr:0x7ffc")  # rr 4.0.0 .. 4.4.0: no "(errno E)"
    assert (a.result, a.errno, a.request, a.addr) == (0, None, 0x5401, 0x7FFC)
    a = parse_assertion("Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); unknown ETHTOOL command 77")
    assert a.request == 0x8946 and a.ethtool_cmd == 77
    for text in ["Unknown ioctl(" + "9" * 5000 + ")", "Expected EINVAL for 'ioctl' but got result " + "1" * 5000
                 + "; Unknown ioctl(0x5401)", "Unknown ioctl(0x5401): type:0x" + "f" * 5000]:
        with pytest.raises(UserError) as ei:
            parse_assertion(text)
        assert "too long" in str(ei.value)


def test_parse_assertion_other_syscall_is_named():
    with pytest.raises(UserError) as ei:
        parse_assertion("Expected EINVAL for 'fcntl' but got result 0 (errno SUCCESS)")
    assert "fcntl" in str(ei.value)


@pytest.mark.parametrize("text,v", [("rr version 5.8.0", (5, 8, 0)), ("5.8.0", (5, 8, 0)), ("5.9.0\n", (5, 9, 0)),
                                    ("rr version 5.9.0-23-gdb5faf83", (5, 9, 0)), ("rr version 5.9", (5, 9, 0)),
                                    ("garbage", None), ("", None), ("5." + "9" * 5000, None)])
def test_parse_rr_version(text, v):
    assert parse_rr_version(text) == v


def test_rr_page():
    assert in_rr_page(RR_PAGE_SYSCALL_PC["x86-64"]) and in_rr_page(0x70000004, "aarch64")
    assert not in_rr_page(0x7FFFF7B158CF)


def test_unknown_ethtool_command():
    a = parse_assertion("Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); unknown ETHTOOL command 10")
    v = rr_verdict(a.request, a.result, ethtool_cmd=a.ethtool_cmd)  # ETHTOOL_GLINK: rr 5.5.0
    assert v.supported_since == "5.5.0" and v.would_stop is True and v.stops_in == "5.4.0"
    assert "ETHTOOL_GLINK" in v.explanation
    assert rr_verdict(a.request, 0, (5, 5, 0), ethtool_cmd=10).would_stop is False
    assert rr_verdict(a.request, 0, (5, 4, 0), ethtool_cmd=10).would_stop is True
    assert rr_verdict(a.request, 0, (5, 3, 0), ethtool_cmd=999).would_stop is False  # before 5.4.0: all alike
    v = rr_verdict(a.request, 0, ethtool_cmd=999)
    assert v.supported_since is None and v.stops_in == "5.4.0 to 5.9.0" and "No rr release" in v.explanation


@pytest.mark.parametrize("request_, stopping, letting_through", [
    (0x541E, ["4.3.0", "5.4.0"], ["4.2.0", "5.5.0"]),      # TIOCGSERIAL: 4.0.0-4.2.0 let it through
    (0x8947, ["4.3.0", "5.7.0"], ["4.2.0", "5.8.0"]),      # SIOCGMIIPHY
    (EXPORT, ["4.0.0", "5.8.0"], ["5.9.0"]),
])
def test_stop_hint_names_the_releases_that_stop(request_, stopping, letting_through):
    """The hint printed at a stop names the releases that abort on the call, as the per-release verdicts (from
    rr's history) say: not "rr before 5.5.0" for TIOCGSERIAL, which 4.0.0-4.2.0 let through."""
    from gdb_rr_dmabuf.wording import headline_verdict, stop_hint
    v = rr_verdict(request_, 0)
    hint = stop_hint(1, 7, ["X"], v)
    for rel in stopping:
        assert rr_verdict(request_, 0, tuple(int(x) for x in rel.split('.'))).would_stop is True, rel
    for rel in letting_through:
        assert rr_verdict(request_, 0, tuple(int(x) for x in rel.split('.'))).would_stop is False, rel
    who = "rr before %s" % letting_through[-1] if len(stopping) == 2 and stopping[0] == "4.0.0" else \
        "rr %s to %s" % tuple(stopping)
    assert "which %s aborts on:" % who in hint, hint
    assert headline_verdict(v, 0).startswith(who + " aborts on that"), headline_verdict(v, 0)


def test_ethtool_verdict_without_a_release_agrees_with_every_release():
    """Without --rr-version the verdict on a SIOCETHTOOL sub-command says what the releases say one by one (rr's
    per-release sub-command lists, tools/gen_rr_ioctls.py): a sub-command handled since the list began (5.4.0,
    e.g. ETHTOOL_GSTRINGS) stops no release, so the summary must not say it stops, nor name "rr releases none"."""
    from gdb_rr_dmabuf.rr import SIOCETHTOOL, table
    t = table()
    for cmd in sorted(t.ethtool) + [999]:
        per = [rr_verdict(SIOCETHTOOL, 0, tuple(int(x) for x in r.split(".")), ethtool_cmd=cmd).would_stop
               for r in t.releases]
        v = rr_verdict(SIOCETHTOOL, 0, ethtool_cmd=cmd)
        assert v.would_stop is any(per), (cmd, per, v.explanation)
        assert "releases none" not in v.explanation, v.explanation
        if not any(per):
            assert v.stops_in == "none" and v.explanation.startswith("No rr release stops on SIOCETHTOOL"), v.explanation
