"""Both analyses on real core files, in pure Python (no gdb at analysis time): a core written by gdb
at the demo's rr-like stop (just after DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned), read by CoreTarget.
Ground truth is what the demo printed about itself before the ioctl."""
import re

import pytest

from gdb_rr_dmabuf import callers, render, why
from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.target import Target
from gdb_rr_dmabuf.target_core import CoreTarget
from tests.support.cores import EXPORT_SYNC_FILE_EXIT, make_core
from tests.support.toolchains import build_go

STOP = EXPORT_SYNC_FILE_EXIT


def _ground_truth(out):
    goid = int(re.search(r"DEMO goroutine (\d+) \[", out).group(1))
    fd = int(re.search(r"DEMO FD (\d+)", out).group(1))
    stack = re.search(r"DEMO STACK BEGIN\n(.*?)DEMO STACK END", out, re.S).group(1)
    # Function lines: "pkg.(*T).f(args...)"; the first is render.groundTruth, which printed it.
    funcs = re.findall(r"^(?!goroutine |created by )(\S.*)\([^()]*\)$", stack, re.M)
    assert funcs[0].endswith("render.groundTruth"), funcs
    funcs = funcs[1:]
    created = re.search(r"created by (\S+) in goroutine (\d+)\n\t(\S+):(\d+)", stack)
    return goid, fd, funcs, created


def _stopped_thread(core_path, exe):
    t = CoreTarget(str(core_path), executable=str(exe))
    for th in t.threads:
        if th.regs.get("orig_rax") == 16 and th.regs.get("rsi") == 0xC0086202:
            t.select_thread(th.tid)
            return t
    raise AssertionError("no thread stopped in the EXPORT_SYNC_FILE ioctl in %s" % core_path)


@pytest.fixture(scope="module", params=[("cgo", False), ("syscall", False), ("cgo", True)],
                ids=["cgo", "syscall", "cgo-stripped"])
def demo_core(request):
    path, stripped = request.param
    exe = build_go("demo", stripped=stripped)
    core, out = make_core(exe, STOP, env={"DMADEMO_PATH": path, "DMADEMO_KERNEL": "simulate"})
    return path, exe, core, out


def test_why_on_core(demo_core):
    path, exe, core, out = demo_core
    _, fd, _, _ = _ground_truth(out)
    t = _stopped_thread(core, exe)
    rep = why.analyse_thread(t)
    j = why.report_json(rep)
    assert j["syscall"]["state"] == "exit" and j["syscall"]["result"] == 0
    assert j["fd"]["number"] == fd and j["fd"]["target"] is None  # a core has no /proc
    assert j["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]
    fields = j["argument"]["fields"]
    assert fields["flags"]["value"] == 1 and fields["flags"]["names"] == ["DMA_BUF_SYNC_READ"]
    # The program is killed at the stop, before it prints its result: the simulated kernel wrote a new
    # fd over the -1 the program put there, and it is the next free fd after the demo's own.
    assert fields["fd"]["role"] == "out" and fields["fd"]["value"] > fd
    assert j["rr"]["supported_since"] == "5.9.0" and j["rr"]["would_stop"] is True


def test_callers_on_core_match_ground_truth(demo_core):
    path, exe, core, out = demo_core
    goid, _, funcs, created = _ground_truth(out)
    t = _stopped_thread(core, exe)
    rep = callers.analyse_callers(t)
    j = callers.report_json(rep)
    assert j["goroutine"]["id"] == goid
    assert j["goroutine"]["status"] == "syscall"
    go_funcs = [f["function"] for f in j["frames"] if f["kind"] == "go"]
    # The printed stack (below groundTruth) is the outer end of ours.
    assert go_funcs[-len(funcs):] == funcs
    assert j["goroutine"]["created_by"]["function"] == created.group(1)
    assert j["goroutine"]["created_by"]["line"] == int(created.group(4))
    assert j["goroutine"]["parent_id"] == int(created.group(2))
    want = "example.com/dmademo/internal/gpu.ExportSyncFile" + ("Direct" if path == "syscall" else "")
    assert j["caller"]["function"] == want
    assert j["caller"]["module"] == "example.com/dmademo"
    inl = [f for f in j["frames"] if f["inlined"]]
    assert [f["function"] for f in inl] == ["example.com/dmademo/render.(*Screen).export" +
                                            ("Direct" if path == "syscall" else "")]
    if path == "cgo":
        assert j["thread"]["kind"] == "g0" and j["thread"]["in_cgo"] and j["thread"]["on_system_stack"]
    else:
        assert j["thread"]["kind"] == "goroutine" and not j["thread"]["in_cgo"]
        assert go_funcs[0].startswith(("internal/runtime/syscall.", "runtime/internal/syscall.", "syscall."))
    assert j["unwind"]["complete"], j["unwind"]
    text = render.callers_text(rep)
    assert "goroutine %d [syscall]" % goid in text and want in text


def test_core_thread_selection_errors(demo_core):
    _, exe, core, _ = demo_core
    t = CoreTarget(str(core), executable=str(exe))
    with pytest.raises(UserError, match="no thread 1234567"):
        t.select_thread(1234567)


def test_not_a_core(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"hello")
    with pytest.raises(UserError, match="not an ELF"):
        CoreTarget(str(p))
    with pytest.raises(UserError, match="not a core file"):
        CoreTarget("/bin/true")


class _RrPageView(Target):
    """The same stopped thread as if its syscall had gone through rr's page (`syscall; ret` at
    0x70000000): pc at 0x70000002 and the return address pushed on the stack."""

    def __init__(self, t):
        self.t = t
        regs = t.registers()
        self.fake_sp = regs["rsp"] - 8
        self.ret = regs["rip"]
        self.regs = dict(regs, rip=0x70000002, rsp=self.fake_sp)
        for k in ("arch", "tid", "pid", "executable", "kind"):
            setattr(self, k, getattr(t, k))

    def registers(self):
        return dict(self.regs)

    def read(self, addr, size):
        data = bytearray(self.t.read(addr, size)) if not (addr <= self.fake_sp < addr + size) else None
        if data is None:
            data = bytearray(b"\0" * size)
            for i in range(size):  # the pushed return address over whatever was below sp
                a = addr + i
                if self.fake_sp <= a < self.fake_sp + 8:
                    data[i] = self.ret.to_bytes(8, "little")[a - self.fake_sp]
                else:
                    data[i] = self.t.read(a, 1)[0]
        return bytes(data)

    def auxv(self):
        return self.t.auxv()


def test_rr_page_return_address_is_followed():
    # The direct syscall path: the call is made from Go code, as through rr's page it would return to.
    exe = build_go("demo")
    core, _ = make_core(exe, STOP, env={"DMADEMO_PATH": "syscall", "DMADEMO_KERNEL": "simulate"})
    t = _stopped_thread(core, exe)
    want = callers.report_json(callers.analyse_callers(t))
    view = _RrPageView(t)
    rep = callers.analyse_callers(view)
    j = callers.report_json(rep)
    assert any("rr's syscall page" in w for w in j["warnings"]), j["warnings"]
    go = lambda r: [(f["function"], f["line"]) for f in r["frames"] if f["kind"] == "go"]
    assert go(j) == go(want) and j["goroutine"]["id"] == want["goroutine"]["id"]
    sc = why.analyse_thread(view).syscall
    assert sc.in_rr_page and sc.name == "ioctl"


def test_a_damaged_cores_warnings_reach_the_report(demo_core, tmp_path):
    """The core's own damage (its last memory segment cut off, as a truncated copy would be) is said
    in go-callers' report, not only inside CoreTarget."""
    _, exe, core, _ = demo_core
    cut = tmp_path / "cut.core"
    data = core.read_bytes()
    cut.write_bytes(data[:len(data) - 4096])
    t = _stopped_thread(cut, exe)
    assert any("cut off" in w for w in t.warnings), t.warnings
    rep = callers.analyse_callers(t)  # (the cut page is not one the unwind needs)
    assert [w for w in rep.warnings if "cut off" in w] == [w for w in t.warnings if "cut off" in w], rep.warnings
