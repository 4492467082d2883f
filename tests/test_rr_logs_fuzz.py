"""Fuzz: rr's whole log (rrlog.parse, and the report explain prints from it) on damaged real logs and on
random text: a report or one clear line (UserError), never another exception, never a hang (the harness's
watchdog, tests/support/fuzz.py), and bounded: inputs built to make a careless parser quadratic (one huge
line of anchors, thousands of assertions, events or prefixes) finish within the same cap."""
from __future__ import annotations

from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.support.fuzz import check, settings_for  # noqa: E402
from tests.support.fuzz import figures_saved_after_module  # noqa: E402,F401  (writes the figures)

DATA = Path(__file__).resolve().parent / "data" / "rr_logs"
LOGS = sorted(p.read_text() for p in DATA.glob("*.log"))
NOISE = ["", "\n", "\r\n", "\x00", "\x1b[31m", "{", "}", "`", "'", "(", "0x", "ﬀ", "[FATAL ", " -> Assertion `",
         "Tail of trace dump:\n", "Launch debugger with\n", "rr record ", "x[0]:0x1 ", "rax:0xffffffffffffffff ",
         "  { map_file:\"/memfd:", "global_time:99999999999999999999999, event:`", "9" * 40]


def _report(text: str) -> str:
    from gdb_rr_dmabuf import evidence, render, why
    from gdb_rr_dmabuf.report import why_json
    rep = why.analyse_log(text)
    rep.suggestions = evidence.advise_report(rep, "5.8.0")
    render.to_json(why_json(rep))
    return render.why_text(rep, render.Style(verbose=True))


@st.composite
def damaged_logs(draw):
    text = draw(st.sampled_from(LOGS))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["cut", "insert", "dup", "drop"]))
        if op == "cut":
            text = text[:i]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(NOISE)) + text[i:]
        elif op == "dup":
            j = draw(st.integers(i, min(len(text), i + 400)))
            text = text[:j] + text[i:j] * draw(st.integers(1, 20)) + text[j:]
        else:
            j = draw(st.integers(i, min(len(text), i + 200)))
            text = text[:i] + text[j:]
    return text


@settings_for(300)
@given(text=st.one_of(damaged_logs(), st.text(max_size=2000)))
def test_damaged_logs(text):
    check("text: rr's log", lambda: _report(text), what=repr(text[:80]))


def test_parser_never_raises_on_random_bytes():
    import random
    from gdb_rr_dmabuf import rrlog
    rnd = random.Random(17)
    for _ in range(200):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(4000))).decode("utf-8", "replace")
        check("text: rr's log parser", lambda: rrlog.parse(data), what="random bytes")


@pytest.mark.parametrize("name, build", [
    ("one huge line of anchors", lambda: "[FATAL " * 200000 + " -> Assertion `" * 50000),
    ("huge lines of assertion starts", lambda: ("->  Assertion `x" * 4000 + "\n") * 200),
    ("thousands of assertions", lambda: LOGS[0] * 3000),
    ("many events", lambda: "{\n  global_time:1, event:`SYSCALL: ioctl' (state:ENTERING_SYSCALL) tid:1, ticks:1\n"
                            "rax:0x0 rbx:0x0 rcx:0x0 rdx:0x0 rsi:0xc0086202 rdi:0x3 rbp:0x0 orig_rax:0x10\n}\n" * 100000),
    ("a prefix on every line", lambda: "".join("%d:%02d GECKO(%d) rr record ./x\n" % (i, i % 60, i) for i in range(100000))),
    ("rr tokens", lambda: ("rr " * 20000 + "\n") * 50),
])
def test_bounded_on_large_damaged_input(name, build):
    text = build()
    out = check("text: rr's log (large)", lambda: _report(text), what=name)
    assert out is not None



@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("GDB_RR_DMABUF_RULES", raising=False)
    monkeypatch.delenv("GDB_RR_DMABUF_RR_VERSION", raising=False)
