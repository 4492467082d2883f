"""The closed loop: every suggestion printed at a lab stop must be true.

For each lab program and each way of stopping it, the suggestions come from dmabuf-why --json (never
written into this test). A suggestion whose commands set environment variables (`rr record -v NAME=VALUE
PROG`, or `NAME=VALUE PROG`) is checked by running the program again in the VM with those variables,
under strace, without rr (rr cannot record here): DMA_BUF_IOCTL_EXPORT_SYNC_FILE must be gone (count 0,
against 1 without them), and the program must still work (exit 0 and its own success line), or else
the suggestion must say what is lost, and that loss must be what happened. A suggestion that cannot be
checked this way (upgrade rr, guard the call in the program's source) must say so in its source line.
"""
import re
from typing import Dict, List, Tuple

import pytest

from tests.fixtures.lab import stops
from tests.support.lab import lab_vm  # noqa: F401  (the session fixture)
from tests.support.suggestions import LOSSES, NOT_CHECKABLE, env_of_command


@pytest.mark.unit  # no VM: the parser alone
def test_env_of_command_parses_what_the_rules_print():
    assert env_of_command("rr record -v GALLIUM_DRIVER=softpipe /p/prog") == {"GALLIUM_DRIVER": "softpipe"}
    assert env_of_command("rr record -v VK_LOADER_DRIVERS_DISABLE='*lvp*' ./vk") == {"VK_LOADER_DRIVERS_DISABLE": "*lvp*"}
    assert env_of_command("rr record --env=A=1 -v B=2 ./p") == {"A": "1", "B": "2"}
    assert env_of_command("A=1 ./p") == {"A": "1"}
    assert env_of_command("rr record ./p") is None
    assert env_of_command("rr --version") is None
    assert env_of_command("go build -o p . && rr record -v GALLIUM_DRIVER=softpipe p") is None


CASES = [(m, n) for n in stops.NAMES for m in stops.MODES]


def _checks(vm, mode: str, name: str) -> List[Tuple[dict, List[Dict[str, str]]]]:
    sugs = stops.stop(vm, mode, name).why["suggestions"]
    assert sugs, "no advice at all at the %s stop of %s" % (mode, name)
    out = []
    for s in sugs:
        envs = [e for e in (env_of_command(c) for c in s["commands"]) if e]
        out.append((s, envs))
    return out


_runs: Dict[tuple, stops.Truth] = {}


def _run_with(vm, name: str, env: Dict[str, str]) -> stops.Truth:
    k = (id(vm), name, tuple(sorted(env.items())))
    if k not in _runs:
        _runs[k] = stops.strace_run(vm, name, env)
    return _runs[k]


@pytest.mark.parametrize("mode, name", CASES, ids=["%s-%s" % c for c in CASES])
def test_every_suggestion_is_true(lab_vm, mode, name):
    base = stops.truth(lab_vm, name)
    assert len(base.exports) == 1              # without the suggestion the ioctl is there: the check can fail
    checked = 0
    for s, envs in _checks(lab_vm, mode, name):
        if not envs:
            assert NOT_CHECKABLE in s["source"], (s["rule_id"], s["commands"], s["source"])
            continue
        for env in envs:
            r = _run_with(lab_vm, name, env)
            assert len(r.exports) == 0, (s["rule_id"], env, r.trace[-3000:])
            if stops.succeeded(name, r.rc, r.stdout):
                checked += 1
                continue
            # It does not work any more: the suggestion must say what is lost, and that must be it.
            said = [loss for loss in LOSSES if loss in s["action"] or loss in s["title"]]
            assert said, ("%s: the program fails with %s and the advice does not say what is lost:\n%s\n%s"
                          % (s["rule_id"], env, s["action"], r.stdout[-1500:]))
            assert any(re.search(LOSSES[l], r.stdout, re.M) for l in said), (said, r.stdout[-1500:])
            assert r.rc != 0
            checked += 1
    if stops.PROGRAMS[name].path in ("egl", "vulkan"):
        assert checked, "no suggestion for the Mesa path could be checked"


def test_loop_figures(lab_vm, capsys):
    """Not an assertion about speed: prints the closed loop's runs (what a suggestion changed)."""
    rows = []
    for (vmid, name, env), r in sorted(_runs.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if vmid != id(lab_vm):
            continue
        rows.append("%-6s %-45s exports=%d rc=%d ok=%s %.1fs" % (
            name, " ".join("%s=%s" % kv for kv in env), len(r.exports), r.rc, stops.succeeded(name, r.rc, r.stdout),
            r.seconds))
    with capsys.disabled():
        print("\nclosed loop runs:\n  " + "\n  ".join(rows or ["(none: run with the other lab tests)"]))


def test_stop_figures(lab_vm, capsys):
    """Not an assertion: per stop, the seconds it took and strace's ground truth next to what the
    commands printed (the report's table)."""
    rows = []
    for name in stops.NAMES:
        t = stops.truth(lab_vm, name)
        e = t.exports[0] if t.exports else {}
        rows.append("%-6s strace: ioctl(%s<%s>, %s) = %s, sync_file closed as fd %s; %.1fs" % (
            name, e.get("fd"), e.get("fd_path"), stops.EXPORT_NAME, e.get("result"),
            t.sync_fds[0] if t.sync_fds else "-", t.seconds))
        for mode in stops.MODES:
            k = (id(lab_vm), mode, name)
            st = stops._memo.get(k)
            if st is None:
                continue
            w = st.why
            c = st.callers
            arg = (w.get("argument") or {}).get("fields", {})
            gor = c.get("goroutine") or {}
            rows.append("       %-6s %6.1fs  why: fd %s -> %s, result %s, new fd %s%s; callers: %s; advice: %s%s" % (
                mode, st.seconds, (w.get("fd") or {}).get("number"), (w.get("fd") or {}).get("target"),
                (w.get("syscall") or {}).get("result"), (arg.get("fd") or {}).get("value"),
                " (/proc: %s)" % st.proc["fd"].get((arg.get("fd") or {}).get("value"),
                                                    st.proc["fd"].get(str((arg.get("fd") or {}).get("value"))))
                if st.proc else "",
                ("goroutine %s, caller %s" % (gor.get("id"), (c.get("caller") or {}).get("function")))
                if "error" not in c else c["error"]["what"][-40:],
                ",".join(s["rule_id"] for s in w["suggestions"]),
                "; core %d MB (copied in %.0fs)" % (st.extra["core_bytes"] >> 20, stops._memo[(id(lab_vm), "native", name)]
                                                   .extra.get("core_copy_seconds", 0)) if mode == "core" else ""))
        own = stops.go_stack_truth(stops.stop(lab_vm, "native", name).log)
        if own["goid"]:
            rows.append("       program's own runtime.Stack: goroutine %s, created by %s" % (own["goid"], own["created_by"]))
    with capsys.disabled():
        print("\nlab stops:\n" + "\n".join(rows))
