"""The fd of an aarch64 exit stop in rr's page (issue 18 point 3): rr patched the program's `svc`, its
trampoline (librrpreload's _raw_syscall, src/preload/raw_syscall.S) shifted the arguments down one register
and branched to rr's page (rr_page.S: `svc #0; ret` at 0x70000000), so the stop's pc is 0x70000004 and
neither the code before the svc nor the caller's frame holds the fd: the recovery says so, takes it from
/proc when the tracee's /proc is readable (rr's stub listens on 127.0.0.1: gdb is on the tracee's machine)
and, when it is not, says that only /proc can tell (never "stop at the entry": rr's stop cannot be redone).

The code is assembled by binutils (aarch64-linux-gnu-as, as in tests/test_fd_recovery.py): rr's page entry
and a trampoline that moves the registers as rr's aarch64 _raw_syscall does (its instruction sequence, read
at rr master 5c202cd8). The /proc links are what the arm64 lab's kernel shows for this call (knowledge
lab.md: /dev/udmabuf, the memfd, `/dmabuf:`, `anon_inode:sync_file`)."""
from __future__ import annotations

import pytest

from gdb_rr_dmabuf import fdrecover as fr
from gdb_rr_dmabuf.render import why_text
from gdb_rr_dmabuf.report import why_json
from gdb_rr_dmabuf.target_memory import MemoryTarget
from gdb_rr_dmabuf.why import analyse_thread
from tests.support.aarch64_asm import NEEDS_AS, asm

pytestmark = NEEDS_AS

EXPORT = 0xC0086202
PAGE = 0x70000000                # RR_PAGE_ADDR; aarch64 page size 0x10000
TRAMP = 0x7F00001000             # librrpreload's text
STACK = 0x7F10000000             # rr's alternate stack
RR_PAGE = "svc #0\nret\n"        # rr_page.S CALL on aarch64
RAW_SYSCALL = """
str x30, [sp, #-32]!
ldp x8, x30, [sp, #32]
stp x8, x30, [sp, #8]
mov x8, x0
mov x0, x1
mov x1, x2
mov x2, x3
mov x3, x4
mov x4, x5
mov x5, x6
blr x7
ldr x30, [sp], #32
ret
"""
CALL_AT = TRAMP + 10 * 4         # the blr
LINKS = {3: "/dev/udmabuf", 4: "/memfd:lp_dma_buf (deleted)", 5: "/dmabuf:", 6: "anon_inode:sync_file"}


@pytest.fixture(scope="module")
def A(tmp_path_factory):
    return lambda text: asm(text, tmp_path_factory)


def _stop(A):
    """Memory, registers and gdb's frames at the exit stop: x0 = 0 (the result), x1 = the request (it was x2
    at the trampoline's entry), x7 = 1 (the arm64 kernel's syscall-exit marker), x8 = 29."""
    page = A(RR_PAGE)
    regions = {PAGE: page + b"\0" * (0x10000 - len(page)), TRAMP: A(RAW_SYSCALL), STACK - 0x1000: b"\0" * 0x2000}
    regs = {"pc": PAGE + 4, "sp": STACK, "x0": 0, "x1": EXPORT, "x2": STACK + 0x100, "x3": 0, "x4": 0, "x5": 0,
            "x6": 0, "x7": 1, "x8": 29, "x29": STACK + 0x40, "x30": CALL_AT + 4}
    frames = [fr.FrameRegs(pc=PAGE + 4, start=PAGE, function="syscall_traced"),
              fr.FrameRegs(pc=CALL_AT + 4, start=TRAMP, function="_raw_syscall", regs={31: STACK, 29: STACK + 0x40})]
    return regions, regs, frames


def _reader(regions):
    return MemoryTarget(regions=regions, arch="aarch64").read


def test_in_rrs_page_the_fd_comes_from_proc_and_says_so(A):
    regions, regs, frames = _stop(A)
    out = fr.recover_fd(_reader(regions), regs, tid=7, frames=frames, fd_links=LINKS, dmabuf_request=True,
                        result=0, rr_page=True)
    assert (out.number, out.source, out.confidence, out.rr_page) == (5, "proc", "deduced", True)
    assert "in rr's page /proc is the only source" in out.how, out.how
    assert fr.RR_PAGE_TRIED in out.tried
    assert not any(t.startswith(("the code before the svc:", "the caller's frame:")) for t in out.tried), out.tried
    # The same stop not known to be rr's: the code sources are read (and give nothing here), and nothing is said
    plain = fr.recover_fd(_reader(regions), regs, tid=7, frames=frames, fd_links=LINKS, dmabuf_request=True,
                          result=0)
    assert plain.number == 5 and not plain.rr_page and "rr's page" not in plain.how
    assert any(t.startswith("the caller's frame: _raw_syscall") for t in plain.tried), plain.tried


def test_in_rrs_page_an_entry_record_still_counts(A):
    regions, regs, frames = _stop(A)
    rec = fr.EntryRecord(tid=7, pc=regs["pc"], x=(5, EXPORT, regs["x2"], 0, 0, 0), x8=29)
    out = fr.recover_fd(_reader(regions), regs, tid=7, frames=frames, entry=rec, fd_links=LINKS,
                        dmabuf_request=True, result=0, rr_page=True)
    assert (out.number, out.source, out.confidence) == (5, "entry-stop", "exact")


class _RRStop(MemoryTarget):
    """The stop as dmabuf-why sees it (syscall.pending_syscall finds the pc in rr's page by itself)."""

    def __init__(self, frames, **kw):
        super().__init__(arch="aarch64", tid=7, **kw)
        self._f = list(frames)

    def fd_frames(self):
        return self._f

    def entry_record(self):
        return None


def test_report_and_text_with_and_without_proc(A):
    regions, regs, frames = _stop(A)
    rep = analyse_thread(_RRStop(frames, regions=regions, regs=regs, links=LINKS))
    j = why_json(rep)
    assert j["syscall"]["in_rr_page"] is True and j["syscall"]["pc"] == PAGE + 4
    assert j["fd"]["number"] == 5 and j["fd"]["target"] == "/dmabuf:"
    assert j["fd"]["recovery"]["source"] == "proc" and j["fd"]["recovery"]["rr_page"] is True
    text = why_text(rep)
    assert "in rr's page /proc is the only source" in text, text
    # A core, or a gdb on another machine: no /proc. Only /proc could tell, and the advice is not to stop at
    # the entry (rr's stop cannot be redone) but to read /proc where rr runs.
    rep = analyse_thread(_RRStop(frames, regions=regions, regs=regs))
    j = why_json(rep)
    assert j["fd"]["number"] is None and j["fd"]["recovery"]["rr_page"] is True
    assert fr.RR_PAGE_TRIED in j["fd"]["recovery"]["tried"]
    text = why_text(rep)
    assert "fd       unknown: the stop is in rr's page, where rr's trampoline moved the arguments" in text, text
    assert "in rr's page only /proc tells the fd" in text and "catch syscall ioctl" not in text, text


# ------------------------------------------------------------------------- the same through gdb, for real

@pytest.mark.gdb
def test_dmabuf_why_at_a_stop_in_rrs_page_under_qemu(tmp_path):
    """A real aarch64 process (qemu-user) stopped after the svc of an imitated rr page, reached through a
    trampoline that moves the registers as rr's does: dmabuf-why finds the pc in rr's page by itself, reads
    no code there for the fd and says that only /proc can tell it (qemu's stub serves no /proc, as a gdb on
    another machine or a core has none). Ground truth: gdb's own disassembly at the page (svc, then ret at
    the pc), `info symbol` (no symbol), the request the program passed and the fd it printed."""
    import re
    import shutil
    from tests.support.gdbrun import listening
    from tests.support.gmany_aarch64 import multiarch
    from tests.support.rrpage_arm64 import CROSS_CC, build, have_cross_cc
    if not (shutil.which("qemu-aarch64") and shutil.which("gdb-multiarch") and have_cross_cc()):
        pytest.skip("needs qemu-user, gdb-multiarch and %s (tools/bootstrap.sh installs them)" % CROSS_CC)
    exe = build()
    log = tmp_path / "program.out"
    with open(str(log), "wb") as out, listening(lambda port: ["qemu-aarch64", "-g", str(port), str(exe)],
                                                 out=out) as port:
        res = multiarch(["aarch64_stop_rr_page", "load_plugin", "run_commands"], exe,
                        {"GDBT_REMOTE": "127.0.0.1:%d" % port,
                         "GDBT_CMDS": ";;".join(["dmabuf-why --json", "dmabuf-why", "x/2i 0x70000000",
                                                 "info symbol $pc"])}, timeout=120)
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output[-3000:]
    assert re.search(r"^\s+0x70000000:\s+svc\s+#0x0\n=> 0x70000004:\s+ret", res.section("c2"), re.M), res.section("c2")
    assert "No symbol matches $pc." in res.section("c3")
    assert re.search(r"^RRPAGE fd \d+$", log.read_text(errors="replace"), re.M)
    j = res.json("c0")
    assert j["syscall"]["pc"] == PAGE + 4 and j["syscall"]["in_rr_page"] is True and j["syscall"]["number"] == 29
    assert j["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]
    rec = j["fd"]["recovery"]
    assert j["fd"]["number"] is None and rec["rr_page"] is True and rec["source"] is None
    assert fr.RR_PAGE_TRIED in rec["tried"] and "/proc: the process's fds are not readable here (remote or core)" \
        in rec["tried"], rec["tried"]
    text = res.section("c1")
    assert "fd       unknown: the stop is in rr's page, where rr's trampoline moved the arguments" in text, text
    assert "in rr's page only /proc tells the fd" in text and "catch syscall ioctl" not in text, text
