"""The text layout (render.py) and the JSON objects (report.py), without gdb.

Reports come from the real analysis (why.analyse_request / analyse_log on rr's message as rr prints it,
shared/knowledge/rr.md); the JSON keys are checked against the README's documentation of `--json`,
the headline against the verdict fields of the same report, and the layout rules of issue 10:
first line = what happened and the answer, one numbered line per step with its commands, detail only
with --verbose, nothing said twice, wrapping at the width given, no colour codes unless asked."""
from __future__ import annotations

import re

import pytest

from gdb_rr_dmabuf import evidence, render, why
from gdb_rr_dmabuf.callers import CallersReport
from gdb_rr_dmabuf.go_runtime.goroutines import GInfo
from gdb_rr_dmabuf.go_runtime.unwind import StackFrame
from gdb_rr_dmabuf.report import callers_json, suggestion_json, why_json
from tests.support.reports import README, all_keys, log_keys, readme_keys, steps

# rr's assertion as rr prints it (src/record_syscall.cc, see shared/knowledge/rr.md).
RR_LINE = ("Expected EINVAL for 'ioctl' but got result %d (errno %s); Unknown ioctl(0x%08x): type:0x%x nr:0x%x "
           "dir:0x%x size:%d addr:0x7ffd1234abc0")


def rr_line(request: int, result: int = 0, errno: str = "SUCCESS") -> str:
    return RR_LINE % (result, errno, request, (request >> 8) & 0xFF, request & 0xFF, request >> 30,
                      (request >> 16) & 0x3FFF)


def headline(text: str) -> str:
    """The first line with its continuation lines (indented 4) joined: the headline as printed."""
    lines = text.splitlines()
    out = [lines[0]]
    for ln in lines[1:]:
        if not ln.startswith("    "):
            break
        out.append(ln.strip())
    return " ".join(out)


def log_report(request: int, result: int = 0, errno: str = "SUCCESS"):
    rep = why.analyse_log(rr_line(request, result, errno))
    rep.suggestions = evidence.advise_report(rep, None, None)
    return rep


# ----------------------------------------------------------------------------- headline

@pytest.mark.parametrize("request_, result, errno", [
    (0xC0086202, 0, "SUCCESS"),        # EXPORT_SYNC_FILE succeeded: rr before 5.9.0 aborts
    (0xC0086202, -25, "ENOTTY"),       # ... failed with ENOTTY: rr goes on
    (0xC0184800, 0, "SUCCESS"),        # DMA_HEAP_IOCTL_ALLOC: no release handles it (rr.md)
    (0x40086200, 0, "SUCCESS"),        # DMA_BUF_IOCTL_SYNC: _IOW, ignorable
])
def test_headline_says_what_happened_and_the_answer(request_, result, errno):
    rep = log_report(request_, result, errno)
    j = why_json(rep)
    first = headline(render.why_text(rep))
    assert first == render.why_headline(rep)
    assert len(render.why_text(rep).splitlines()[0]) <= render.WIDTH
    assert first.startswith("ioctl " + " or ".join(j["request"]["names"]))
    rr = j["rr"]
    if rr["would_stop"]:
        assert ("returned %d" % result) in first
        if rr["supported_since"]:
            assert "rr before %s aborts on that, %s records it" % ((rr["supported_since"],) * 2) in first
        else:
            assert not rr["master_only"]  # these requests: no release and not master (rr_ioctls.json)
            assert "rr aborts on that, no rr release handles it by name" in first
    else:
        assert "not what stopped rr" in first
        if result < 0:
            assert "failed with %s: rr accepts that" % errno in first
        else:
            assert rr["ignorable"] and "no _IOC_READ bit, so rr lets it run" in first


def test_request_alone_says_when_rr_aborts():
    rep = why.analyse_request("DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    first = headline(render.why_text(rep))
    assert first == ("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE: rr before 5.9.0 aborts unless it fails with "
                     "EINVAL or ENOTTY, 5.9.0 records it")


# ----------------------------------------------------------------------------- what to do

def test_steps_are_one_line_with_commands_and_detail_only_when_verbose():
    rep = log_report(0xC0086202)
    assert rep.suggestions, "the rr-upgrade advice must fire for EXPORT_SYNC_FILE"
    plain = render.why_text(rep, render.Style(False))
    verbose = render.why_text(rep, render.Style(False, verbose=True))
    for text, detail in ((plain, False), (verbose, True)):
        items = steps(text)
        assert len(items) == len(rep.suggestions)
        for i, (item, sug) in enumerate(zip(items, rep.suggestions), 1):
            assert item[0] == "  %d. %s" % (i, sug.step), item  # the step fits on its line here
            assert [ln.strip()[2:] for ln in item if ln.strip().startswith("$ ")] == sug.commands
            body = " ".join(" ".join(item).split())
            for part in (sug.source, sug.title):
                assert (" ".join(part.split()) in body) == detail, (part, item)
    assert " ".join(rep.verdict.explanation.split()) in " ".join(verbose.split())
    assert " ".join(rep.verdict.explanation.split()) not in " ".join(plain.split())
    assert plain.splitlines()[-1] == "(--verbose adds why each step helps, its evidence and sources, and rr's rule)"


def test_nothing_is_said_twice():
    rep = log_report(0xC0086202)
    for text in (render.why_text(rep), render.why_text(rep, render.Style(False, verbose=True))):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("$ ")]
        assert len(lines) == len(set(lines)), text
    plain = render.why_text(rep)
    # rr's rule is said once: by the headline (the explanation's sentence only with --verbose)
    assert plain.count("expects EINVAL") == 0 and plain.count("5.9.0 records it") == 1


@pytest.mark.parametrize("width", [40, 60, 80])
def test_prose_wraps_at_the_width(width):
    rep = log_report(0xC0086202)
    text = render.why_text(rep, render.Style(False, width=width, verbose=True))
    lines = text.splitlines()
    prose = lines[:lines.index(next(ln for ln in lines if ln.startswith("  from")))]  # the headline
    at = lines.index("What to do")
    prose += [ln for ln in lines[at:] if not ln.strip().startswith("$ ")]
    long = [ln for ln in prose if len(ln) > width and " " in ln.strip()]
    # A single word longer than the width (a URL, a path) may stick out; nothing else does.
    assert all(len(max(ln.split(), key=len)) > width - 12 for ln in long), long


def test_colour_only_when_wanted(monkeypatch):
    rep = log_report(0xC0086202)
    assert "\x1b[" not in render.why_text(rep, render.Style(False))
    assert "\x1b[" in render.why_text(rep, render.Style(True))
    monkeypatch.setenv("NO_COLOR", "1")
    assert render.colour_wanted(True, True) is False
    assert render.colour_wanted(True, True, force=True) is True  # --color always still wins
    monkeypatch.delenv("NO_COLOR")
    assert render.colour_wanted(True, True) is True
    assert render.colour_wanted(False, True) is False            # not a terminal
    assert render.colour_wanted(True, False) is False            # gdb's `style enabled` off


# ----------------------------------------------------------------------------- go-callers

def _frame(function, package, module=None, version=None, **kw):
    return StackFrame(kind="go", pc=0x401000, sp=0xc000010000, function=function, file="/src/x.go", line=7,
                      package=package, module=module, version=version, **kw)


def _callers(caller_module=None, caller_version=None):
    g = GInfo(addr=0xc000006000, goid=7, status=3, status_name="syscall", stack_lo=0xc000010000,
              stack_hi=0xc000018000, m=0, sched_sp=0, sched_pc=0, sched_bp=0, sched_lr=0, syscallsp=0,
              syscallpc=0, gopc=0, startpc=0, parent_goid=1)
    caller = _frame("example.com/app/gpu.Export", "example.com/app/gpu", caller_module, caller_version)
    rep = CallersReport(executable="/bin/app", go_version="go1.23.4", main_module="example.com/app",
                        main_version="(devel)", tid=42, kind="goroutine", on_system_stack=False, in_cgo=False,
                        found_via="tls", goroutine=g,
                        go=[_frame("syscall.Syscall", "syscall", std=True), caller], complete=True)
    rep.caller = caller
    return rep


def test_callers_headline_names_the_caller_and_no_unknown_module():
    rep = _callers()  # a caller whose package's module the build info does not name
    text = render.callers_text(rep)
    assert text.splitlines()[0] == "goroutine 7 [syscall]  caller example.com/app/gpu.Export  x.go:7"
    assert "unknown module" not in text and "module None" not in text
    assert "  package example.com/app/gpu" in text.splitlines()
    rep = _callers("example.com/dep", "v1.2.3")
    lines = render.callers_text(rep).splitlines()
    assert "  package example.com/app/gpu, module example.com/dep v1.2.3" in lines
    assert any(ln.endswith("pc=0x401000  example.com/dep v1.2.3") for ln in lines)  # a dependency's frame
    assert any(ln.endswith("pc=0x401000  std") for ln in lines)


# ----------------------------------------------------------------------------- JSON

def test_why_json_has_every_documented_key():
    rep = log_report(0xC0086202)
    j = why_json(rep)
    documented = readme_keys("`dmabuf-why --json`:")
    assert documented, "README's dmabuf-why --json block not found"
    # Without a process, thread and fd are null and the argument is not read (no fields).
    not_here = {"tid", "target", "returns_fd", "value", "role", "type", "offset", "names", "note",
                # fd.recovery: aarch64 exit stops only (tests/test_fd_recovery.py checks its keys)
                "recovery", "how", "candidates", "conflict", "tried", "rr_page"}
    not_here |= log_keys()  # a whole log's: tests/test_rr_logs.py checks them
    missing = documented - all_keys(j) - not_here
    assert not missing, missing
    assert set(j) == {"source", "arch", "thread", "syscall", "fd", "request", "argument", "rr", "suggestions",
                      "notes", "log", "others"}  # log, others: from rr's log (tests/test_rr_logs.py)


def test_suggestion_json_has_every_documented_key():
    rep = log_report(0xC0086202)
    d = suggestion_json(rep.suggestions[0])
    text = README.read_text()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("SUGGESTION = {"))
    documented = set(re.findall(r'"([a-z_]+)"', line)) - {"high", "medium", "low"}
    assert documented - {"snippet", "missing"} <= set(d), documented - set(d)
    assert d["text"] == "%s %s" % (d["title"], d["action"])


def test_callers_json_has_every_documented_key():
    rep = _callers()
    rep.suggestions = log_report(0xC0086202).suggestions
    j = callers_json(rep)
    documented = readme_keys("`go-callers --json`:")
    frame_line = next(ln for ln in README.read_text().splitlines() if ln.strip().startswith("FRAME = {"))
    documented |= set(re.findall(r'"([a-z_]+)"', frame_line))
    documented -= {"goroutine", "g0", "gsignal", "no", "go", "unknown", "native"}  # values, not keys
    # created_by is None here; the rr-upgrade suggestion has no snippet and no missing line (those keys
    # are left out then)
    missing = documented - all_keys(j) - {"function", "file", "line", "pc", "snippet", "missing"}
    assert not missing, missing
