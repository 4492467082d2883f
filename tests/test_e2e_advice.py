"""Advice end to end: the demo's stop through real gdb, both commands ending with the same ranked,
sourced suggestions (issue 4). Unit tests of every rule are in test_advice.py."""
import json
import re

import pytest

from tests.support.gdbrun import run_gdb
from tests.support.toolchains import build_go

EXPORT = "0xc0086202"


@pytest.fixture(scope="module")
def rules_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("rules")
    good = d / "rules.json"
    good.write_text(json.dumps({"rules": [{
        "id": "team-demo-renderer",
        "title": "Our renderer probes fences at start-up ({caller_function}).",
        "action": "Start it with DMADEMO_KERNEL=real under rr.",
        "commands": ["rr record -v DMADEMO_KERNEL=real {exe}"],
        "source": "team wiki",
        "priority": 20,  # user rules rank by score like built-in ones: this one outranks them
        "require_any": {"go_packages": ["example.com/dmademo/render"]},
    }]}))
    bad = d / "bad.json"
    bad.write_text('{"rules": [{"id": "x", "title": 1}]')
    return good, bad


def _run(path, kernel="simulate", commands=(), env=None):
    exe = build_go("demo")
    res = run_gdb(["stop_ioctl_exit", "load_plugin", "run_commands"], exe,
                  env=dict({"GDBT_REQUEST": EXPORT}, **(env or {})),
                  inferior_env={"DMADEMO_PATH": path, "DMADEMO_KERNEL": kernel}, commands=list(commands))
    assert "Traceback" not in res.output, res.output[-3000:]
    return exe, res


@pytest.fixture(scope="module")
def cgo_stop(rules_files):
    good, bad = rules_files
    return _run("cgo", commands=[
        "dmabuf-why --json", "go-callers --json", "dmabuf-why --json --rr-version 5.9.0",
        "dmabuf-why --json --rr-version 5.8.0", "dmabuf-why --json --rules %s" % good,
        "dmabuf-why --rules %s" % bad, "dmabuf-why", "go-callers"])


def ids(j):
    return [s["rule_id"] for s in j["suggestions"]]


def test_demo_cgo_go_package_rule_then_rr_upgrade(cgo_stop):
    exe, res = cgo_stop
    why, callers = res.json("c0"), res.json("c1")
    assert ids(why) == ["go-cgo-ioctl", "rr-upgrade"]
    assert why["suggestions"] == callers["suggestions"]  # one shared analysis
    top = why["suggestions"][0]
    assert "example.com/dmademo/internal/gpu.ExportSyncFile" in top["title"]
    assert "example.com/dmademo@(devel)" in top["title"] and "probe_fence_export" in top["title"]
    assert re.search(r"gpu\.go:\d+", top["title"])
    assert 'os.Getenv("RUNNING_UNDER_RR")' in top["snippet"]
    assert top["confidence"] == "high" and top["source"]
    assert top["commands"] == ["rr record %s" % exe]
    up = why["suggestions"][1]
    assert "5.9.0" in up["title"] and up["confidence"] == "medium"  # rr release unknown here
    assert top["score"] > up["score"]


def test_rr_version_scopes_the_upgrade_advice(cgo_stop):
    _, res = cgo_stop
    new, old = res.json("c2"), res.json("c3")
    assert ids(new) == ["go-cgo-ioctl"]
    assert "upgrade" not in new["suggestions"][0]["action"]
    assert ids(old) == ["go-cgo-ioctl", "rr-upgrade"]
    assert old["suggestions"][1]["confidence"] == "high"
    assert any("rr 5.8.0 < 5.9.0" in e for e in old["suggestions"][1]["evidence"])


def test_user_rules_file(cgo_stop):
    exe, res = cgo_stop
    j = res.json("c4")
    assert ids(j)[0] == "team-demo-renderer", ids(j)
    assert j["suggestions"][0]["commands"] == ["rr record -v DMADEMO_KERNEL=real %s" % exe]
    lines = [ln for ln in res.section("c5").splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dmabuf-why: advice rules file ") and "bad.json" in lines[0]


def test_text_ends_with_what_to_do(cgo_stop):
    _, res = cgo_stop
    for sec in ("c6", "c7"):
        text = res.section(sec)
        tail = text[text.index("What to do"):]
        # One numbered line per step (the rule's one-line action), its command under it.
        assert re.search(r"^  1\. Skip C\.gpu_export_sync_file in example\.com/dmademo/internal/gpu\.ExportSyncFile", tail, re.M)
        assert re.search(r"^  2\. Upgrade rr to 5\.9\.0 or later", tail, re.M)
        assert "$ rr record " in tail


def test_syscall_path_names_the_go_function():
    _, res = _run("syscall", commands=["go-callers --json"])
    j = res.json("c0")
    assert ids(j) == ["go-direct-ioctl", "rr-upgrade"]
    top = j["suggestions"][0]
    assert "example.com/dmademo/internal/gpu.ExportSyncFileDirect" in top["title"]
    assert "example.com/dmademo@(devel)" in top["title"]


def test_no_advice_when_rr_would_not_have_stopped():
    _, res = _run("cgo", kernel="real", commands=["dmabuf-why --json", "go-callers --json"])
    why, callers = res.json("c0"), res.json("c1")
    assert why["syscall"]["result"] == -25 and why["rr"]["would_stop"] is False
    assert why["suggestions"] == [] and callers["suggestions"] == []
    assert any("rr lets this call through" in n for n in why["notes"])


def test_rr_version_from_environment():
    _, res = _run("cgo", commands=["dmabuf-why --json"], env={"GDB_RR_DMABUF_RR_VERSION": "rr version 5.9.1"})
    j = res.json("c0")
    assert ids(j) == ["go-cgo-ioctl"]
    assert any("rr 5.9.1" in n and "GDB_RR_DMABUF_RR_VERSION" in n for n in j["notes"])
