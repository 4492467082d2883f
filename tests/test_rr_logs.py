"""Real rr logs from rr's issue tracker (tests/data/rr_logs/, index.json names each one's issue) through
`python3 -m gdb_rr_dmabuf explain` and, in real gdb, `dmabuf-why --from-log-file`, text and JSON. What each
must yield (request, verdict, inferred release, arch, executable, advice) is hand-checked against the log's
own text and rr's history and stored beside the logs (expected.json); the reporters' own words about their
rr (index.json "reporter_says") check the inferred release from outside our code, and with RR_SRC (an rr
git repository) the reporters' commits are read at the line rr printed.

CI-prefixed logs: no real one was found in rr's tracker with prefixes kept (reporters strip them), so every
real log is also run with the prefixes CI systems put before each line (Mozilla's harness
`0:03.62 GECKO(32546) `, taskcluster `[task 2024-...Z] `, GitHub Actions timestamps), colour codes and CRLF,
and must give what the plain log gives.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gdbrun import REPO, gdb_env, run_gdb

DATA = REPO / "tests" / "data" / "rr_logs"
INDEX = json.loads((DATA / "index.json").read_text())
EXPECTED = json.loads((DATA / "expected.json").read_text())["logs"]
NAMES = sorted(EXPECTED)
RR_SRC = os.environ.get("RR_SRC")


def explain(*args, stdin=None):
    env = gdb_env({"GDB_RR_DMABUF_RR_VERSION": ""})
    env["PATH"] = "/usr/bin:/bin"  # no rr on PATH: the release comes from the log alone
    return subprocess.run([sys.executable, "-m", "gdb_rr_dmabuf", "explain"] + list(args), cwd=str(REPO),
                          input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=env, timeout=120)


def path(name: str) -> Path:
    return DATA / (name + ".log")


# ------------------------------------------------------------------------------------------------ the data

def test_collected_logs():
    files = sorted(p.name for p in DATA.glob("*.log"))
    assert files == sorted(e["file"] for e in INDEX["logs"]) == sorted(n + ".log" for n in NAMES)
    assert len(files) >= 15
    for e in INDEX["logs"]:
        assert e["file"] == "rr%d.log" % e["issue"] and str(e["issue"]) in e["url"]
    archs = {EXPECTED[n].get("arch") for n in NAMES}
    assert {"x86-64", "aarch64"} <= archs
    rel = [EXPECTED[n].get("rr_version") or "" for n in NAMES]
    assert any(v.startswith("4.") for v in rel) and any(v in ("5.8.0", "5.9.0") for v in rel)


@pytest.fixture(scope="module")
def outputs():
    """explain (text, JSON) of every log, and the same through real gdb's dmabuf-why --from-log-file."""
    out = {}
    cmds = []
    for n in NAMES:
        out[n] = {"text": explain(str(path(n))), "json": explain("--json", str(path(n)))}
        cmds.append("dmabuf-why --from-log-file %s" % path(n))
        cmds.append("dmabuf-why --json --from-log-file %s" % path(n))
    env = {"GDB_RR_DMABUF_RR_VERSION": "", "PATH": "/usr/bin:/bin"}
    res = run_gdb(["load_plugin", "run_commands"], None, commands=cmds, env=env, timeout=600)
    for i, n in enumerate(NAMES):
        out[n]["gdb_text"] = res.section("c%d" % (2 * i))
        out[n]["gdb_json"] = res.section("c%d" % (2 * i + 1))
    return out


def _json(text: str) -> dict:
    return json.JSONDecoder().raw_decode(text[text.index("{"):])[0]


@pytest.mark.parametrize("name", NAMES)
def test_log(outputs, name):
    exp = EXPECTED[name]
    o = outputs[name]
    text, js = o["text"], o["json"]
    assert "Traceback" not in text.stderr + js.stderr + o["gdb_text"] + o["gdb_json"]
    if exp["exit"] == 1:
        assert text.returncode == 1 and text.stdout == "", text.stdout
        lines = text.stderr.splitlines()
        assert len(lines) == 1 and exp["error"] in lines[0], text.stderr
        if "error2" in exp:
            assert exp["error2"] in lines[0]
        assert _json(js.stdout)["error"]["what"] in lines[0]
        assert exp["error"] in o["gdb_text"] and o["gdb_text"].strip().count("\n") == 0, o["gdb_text"]
        return
    assert text.returncode == 0 and js.returncode == 0, text.stderr + js.stderr
    j = json.loads(js.stdout)
    # gdb's dmabuf-why --from-log-file says exactly what explain says
    assert _json(o["gdb_json"]) == j
    assert o["gdb_text"].rstrip("\n") == text.stdout.rstrip("\n")
    log = j["log"]
    assert j["source"] == "log" and j["request"]["hex"] == exp["request"]
    assert j["request"]["names"] == exp["names"]
    assert j["syscall"]["result"] == exp["result"]
    assert log["arch"] == exp["arch"]
    assert j["arch"] == (exp["arch"] or "x86-64")
    rel = log["release"]
    assert (rel["text"] if rel else None) == exp["release"]
    if rel:
        assert rel["inferred"] is True and rel["source"].startswith("record_syscall.cc:")
    assert j["rr"]["rr_version"] == exp["rr_version"]
    assert j["rr"]["would_stop"] is exp["would_stop"]
    for key in ("executable", "arguments", "trace_dir", "memfds", "notices"):
        if key in exp:
            assert log[key] == exp[key], key
    if "launch_ports" in exp:
        assert [la["port"] for la in log["launches"]] == exp["launch_ports"]
    if "backtrace" in exp:
        assert log["backtrace"] == exp["backtrace"]
    assert [x["request"]["hex"] for x in j["others"]] == exp.get("others", [])
    fired = {s["rule_id"]: s for s in j["suggestions"]}
    assert set(fired) == set(exp["rules"]), sorted(fired)
    for rid, want in exp["rules"].items():
        for k, v in want.items():
            assert fired[rid].get(k, "") == v, (rid, k, fired[rid])
    if "command" in exp:
        assert any(c.startswith(exp["command"]) for s in j["suggestions"] for c in s["commands"]), \
            [s["commands"] for s in j["suggestions"]]
    for piece in exp.get("notes", []):
        assert any(piece in n for n in j["notes"]), (piece, j["notes"])
        assert piece.split("(")[0].strip() in " ".join(text.stdout.split())
    # the text: headline first, the release and every other assertion in it
    first = text.stdout.splitlines()[0]
    assert first.startswith("ioctl " + (exp["names"][0] if exp["names"] else exp["request"]))
    if rel:
        assert "rr release: " + rel["text"] in " ".join(text.stdout.split())
    for other in exp.get("others", []):
        assert "rr's log also holds another \"Unknown ioctl\" assertion" in text.stdout
        assert other in text.stdout


def test_llvmpipe_from_the_log_as_at_a_stop():
    """rr #3899's trace dump maps /memfd:lp_dma_buf: the llvmpipe rule fires with the confidence and the
    (absent) "evidence missing" line it has at a live stop whose /proc shows that memfd."""
    from gdb_rr_dmabuf import advice, evidence, why
    rep = why.analyse_log(path("rr3899").read_text())
    from_log = {s.rule_id: s for s in evidence.advise_report(rep, "5.8.0")}
    ev = advice.Evidence(request=0xC0086202, request_names=["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"], result=0,
                         fd_links={12: "/memfd:lp_dma_buf (deleted)"}, rr_version="5.8.0",
                         rr_supported_since="5.9.0", rr_support_known=True, target_kind="live", proc_readable=True)
    at_stop = {s.rule_id: s for s in advice.advise(ev)}
    rid = "mesa-llvmpipe-fence-probe"
    assert rid in from_log and rid in at_stop
    assert from_log[rid].confidence == at_stop[rid].confidence == "medium"
    assert from_log[rid].missing == at_stop[rid].missing == ""
    assert any("map_file" in e and "lp_dma_buf" in e for e in from_log[rid].evidence)


def test_udmabuf_create_in_the_trace_dump():
    """rr #3974's trace dump: registers of an ioctl without their event line (orig_rax 0x10) show
    UDMABUF_CREATE (rsi 0x40187542) on fd 7 returning fd 10 (rax 0xa), then the lp_dma_buf memfd mapped."""
    from gdb_rr_dmabuf import rrlog
    log = rrlog.parse(path("rr3974").read_text())
    calls = log.ioctl_calls()
    assert [(c.state, c.fd, c.request, c.result) for c in calls] == [("exit", 7, 0x40187542, 10)]
    items = rrlog.evidence_items(log)
    assert ("fd_links", "/dev/udmabuf") in [(k, t) for k, _, t in items]
    assert ("memfd_names", "lp_dma_buf") in [(k, t) for k, _, t in items]
    assert "UDMABUF_CREATE" in rrlog.ioctl_text(calls[0])


# ------------------------------------------------------------------------------------------------ CI logs

PREFIXES = {
    "gecko": lambda i: "0:%02d.%02d GECKO(32546) " % (i // 100, i % 100),
    "taskcluster": lambda i: "[task 2024-03-01T10:%02d:%02d.%03dZ] " % (i // 60 % 60, i % 60, i),
    "actions": lambda i: "2024-03-01T10:00:%02d.%07dZ " % (i % 60, i * 13),
}


@pytest.mark.parametrize("style", sorted(PREFIXES) + ["ansi-crlf"])
def test_ci_prefixed_logs_give_what_the_plain_log_gives(style):
    from gdb_rr_dmabuf import rrlog
    for name in NAMES:
        plain = path(name).read_text()
        lines = plain.split("\n")
        if style == "ansi-crlf":
            text = "\r\n".join(("\x1b[31m%s\x1b[0m" % ln) if "FATAL" in ln or "Assertion" in ln else ln for ln in lines)
        else:
            text = "\n".join(PREFIXES[style](i) + ln for i, ln in enumerate(lines))
        a, b = rrlog.log_json(rrlog.parse(plain)), rrlog.log_json(rrlog.parse(text))
        a.pop("prefixes"), b.pop("prefixes")
        assert a == b, (name, style)


def test_explain_reads_a_gecko_prefixed_log_with_its_program_output():
    text = "".join("0:03.%02d GECKO(32546) %s\n" % (i, ln) for i, ln in enumerate(
        ["GECKO STARTING", "some program output"] + path("rr1897").read_text().splitlines()))
    r = explain("--json", stdin=text)
    j = json.loads(r.stdout)
    assert j["request"]["hex"] == "0x80087601" and j["log"]["release"]["text"] == "rr 4.4.0"
    assert j["log"]["notices"] == ["not_interactive"]


# ------------------------------------------------------------------------------------------------ strace

def test_irregular_type_prints_as_strace_prints_it():
    r = explain(str(path("rr3988")))
    assert "_IOC(_IOC_NONE, 0x89, 0x4b, 0)" in r.stdout and "type=0x89" in r.stdout
    assert "\\x89" not in r.stdout


# ------------------------------------------------------------------------------------------------ release

def test_release_table_agrees_with_what_reporters_say():
    """Reporters who named their rr release: the release inferred from the line rr printed is that one."""
    from gdb_rr_dmabuf import rrlog
    for e in INDEX["logs"]:
        said = (e.get("reporter_says") or {}).get("release")
        if not said or not re.fullmatch(r"\d+\.\d+\.\d+", said):
            continue
        log = rrlog.parse((DATA / e["file"]).read_text())
        if log.release is None:  # a non-ioctl assertion (Task.cc): no marker line to infer from
            continue
        assert said in log.release.releases, (e["file"], log.release)


need_rr = pytest.mark.skipif(not RR_SRC, reason="RR_SRC not set: no rr git repository to check against")


@need_rr
def test_release_table_is_what_rr_history_gives():
    sys.path.insert(0, str(REPO / "tools"))
    import gen_rr_lines
    assert gen_rr_lines.dump(gen_rr_lines.derive(RR_SRC)) == (REPO / "gdb_rr_dmabuf" / "rr_lines.json").read_text(), \
        "rr's history gives another table: regenerate with tools/gen_rr_lines.py"


@need_rr
def test_reporters_commits_have_the_line_rr_printed():
    from gdb_rr_dmabuf import rrlog
    for e in INDEX["logs"]:
        commit = (e.get("reporter_says") or {}).get("commit")
        log = rrlog.parse((DATA / e["file"]).read_text())
        heads = [a.header for a in log.assertions if a.header and a.header.file == "record_syscall.cc"]
        if not commit or not heads:
            continue
        src = subprocess.run(["git", "-C", RR_SRC, "show", "%s:src/record_syscall.cc" % commit],
                             stdout=subprocess.PIPE, universal_newlines=True, errors="replace", check=True).stdout
        line = src.splitlines()[heads[0].line - 1]
        assert "ASSERT" in line and "expect_errno" in line, (e["file"], line)
        tag = subprocess.run(["git", "-C", RR_SRC, "describe", "--tags", "--abbrev=0", "--match", "[0-9]*.[0-9]*.[0-9]*",
                              commit], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()
        assert log.release.text in ("rr %s" % tag, "a build of rr from git after %s" % tag), (e["file"], tag)


# ------------------------------------------------------------------------------------------------ notices

def test_real_prefixed_logs_parse():
    """Two real prefixed logs: Mozilla's mochitest prefix on rr's trace dump (#2441), and a harness that
    quotes each line of the process's output (#1878)."""
    from gdb_rr_dmabuf import rrlog
    log = rrlog.parse(path("rr2441").read_text())
    assert [(e.kind, e.tid, e.data_records) for e in log.events] == [("", None, 0), ("SYSCALL: writev", 32596, 4)]
    assert log.arch == "x86-64" and log.events[1].regs["rax"] == 0x2000
    log = rrlog.parse(path("rr1878").read_text())
    a = log.assertions[0]
    assert (a.header.where, a.condition, a.message, a.task) == ("Task.cc:696:regs()", "is_stopped", "", 4704)
    assert [(n.kind, n.header.where) for n in log.notices] == [("not_interactive", "log.cc:284:emergency_debug()")]


def test_second_launch_after_a_regs_assertion():
    """rr's stub failing (rr-stub.md): after rr #3899's abort, rr 5.8.0 prints "Launch debugger with", gdb
    connects, the server's Task::regs() asserts on a thread blocked in a syscall, and rr prints a second
    "Launch debugger with". The lines are written as rr 5.8.0 prints them (src/launch_debugger.cc,
    src/Task.cc:1163 `ASSERT(this, stopped_or_unexpected_exit())`): no such real log was found in rr's tracker."""
    text = path("rr3899").read_text() + (
        "Launch debugger with\n"
        "  'gdb' '-l' '10000' '-ex' 'set sysroot /' '-ex' 'target extended-remote 127.0.0.1:46977' '/home/u/gioapp'\n"
        "[FATAL src/Task.cc:1163:regs()] \n"
        " (task 316980 (rec:316980) at time 3583)\n"
        " -> Assertion `stopped_or_unexpected_exit()' failed to hold. \n"
        "Launch debugger with\n"
        "  'gdb' '-l' '10000' '-ex' 'set sysroot /' '-ex' 'target extended-remote 127.0.0.1:46980' '/home/u/gioapp'\n")
    j = json.loads(explain("--json", stdin=text).stdout)
    assert [la["port"] for la in j["log"]["launches"]] == [46977, 46980]
    assert j["log"]["executable"] == "/home/u/gioapp"
    stub = [n for n in j["notes"] if "Launch debugger with\" 2 times" in n]
    assert stub and "python3 -m gdb_rr_dmabuf check" in stub[0] and "Task.cc:1163:regs()" in stub[0]
    assert any(c == "rr record -v GALLIUM_DRIVER=softpipe /home/u/gioapp" for s in j["suggestions"] for c in s["commands"])


def test_lavapipe_from_the_log_as_at_a_stop():
    """No real lavapipe log was found in rr's tracker: rr #3899's log with one more trace-dump record, written
    as rr prints it (src/DumpCommand.cc: map_file ... prot_flags), of lavapipe's library mapped executable.
    The lavapipe rule fires with the confidence and the "evidence missing" line it has at a stop whose stack
    shows only unnamed frames in libvulkan_lvp.so and whose /proc shows the memfd; llvmpipe's GALLIUM_DRIVER
    suggestion is dropped on a Vulkan path in both."""
    from gdb_rr_dmabuf import advice, evidence, why
    lvp = ('  { map_file:"/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so", addr:0x7f07e4533000, length:0x3e6000, '
           'prot_flags:"r-xp", file_offset:0x56000, device:2049, inode:1234, data_file:"", data_offset:0x0, '
           'file_size:0x9cb0c0 }\n')
    text = path("rr3899").read_text().replace("  { map_file:\"/memfd:", lvp + "  { map_file:\"/memfd:", 1)
    rep = why.analyse_log(text)
    from_log = {s.rule_id: s for s in evidence.advise_report(rep, "5.8.0")}
    ev = advice.Evidence(request=0xC0086202, request_names=["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"], result=0,
                         native_frames=[(None, "/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so")],
                         fd_links={12: "/memfd:lp_dma_buf (deleted)"}, rr_version="5.8.0",
                         rr_supported_since="5.9.0", rr_support_known=True, target_kind="live", proc_readable=True)
    at_stop = {s.rule_id: s for s in advice.advise(ev)}
    rid = "mesa-lavapipe-enumerate"
    assert rid in from_log and rid in at_stop, (sorted(from_log), sorted(at_stop))
    assert from_log[rid].confidence == at_stop[rid].confidence
    assert from_log[rid].missing == at_stop[rid].missing == ""  # the memfd is strong evidence in both
    assert ("mesa-llvmpipe-fence-probe" in from_log) == ("mesa-llvmpipe-fence-probe" in at_stop)
    assert any("VK_LOADER_DRIVERS_DISABLE" in c for c in from_log[rid].commands)


def test_identical_assertions_once_and_rr_version_wins():
    """The same assertion twice (a log pasted twice) is explained once; --rr-version overrides the release
    the log shows, and the inferred one still reads as inferred."""
    text = path("rr3899").read_text()
    j = json.loads(explain("--json", stdin=text + "\n" + text).stdout)
    assert j["others"] == [] and len(j["log"]["assertions"]) == 1
    j = json.loads(explain("--json", "--rr-version", "5.9.0", stdin=text).stdout)
    assert j["rr"]["rr_version"] == "5.9.0" and j["rr"]["would_stop"] is False
    assert j["log"]["release"]["text"] == "rr 5.8.0" and j["log"]["release"]["inferred"] is True
    assert "rr's log shows this rr aborting on the call" in " ".join(j["notes"])


def test_aarch64_ioctls_in_the_trace_dump():
    """rr #3649 (aarch64): TCGETS (x[1] 0x5401) enters with its fd in x[0] (2) and exits with -ENOTTY in x[0];
    rr #3861: ctest's "804: " prefix before aarch64 registers and rr's backtrace."""
    from gdb_rr_dmabuf import rrlog
    log = rrlog.parse(path("rr3649").read_text())
    assert log.arch == "aarch64"
    calls = log.ioctl_calls()
    assert [(c.state, c.fd, c.request, c.result) for c in calls] == [("exit", None, 0x5401, -25), ("entry", 2, 0x5401, None)]
    assert rrlog.ioctl_text(calls[0], "aarch64") == "ioctl(fd ?, TCGETS) returned ENOTTY (event 4881, tid 2195269)"
    log = rrlog.parse(path("rr3861").read_text())
    assert log.arch == "aarch64" and len(log.backtrace) == 12 and log.events[0].regs["pstate"] == 0x60001000


def test_readme_documents_the_log_object():
    from tests.support.reports import all_keys, log_keys
    documented = log_keys()
    have = set()
    for name in ("rr1673", "rr3899", "rr3743", "rr2929"):
        have |= all_keys(json.loads(explain("--json", str(path(name))).stdout)["log"])
    assert documented and documented == have - {"log"}, (documented ^ have)
