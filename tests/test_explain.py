"""`python3 -m gdb_rr_dmabuf explain`: rr's text from a file or standard input (a CI log where no
debugger ran) gives exactly what `dmabuf-why --from-log` prints in real gdb with no process, text and
JSON. rr's message is written as rr prints it (src/record_syscall.cc, shared/knowledge/rr.md), inside
the lines rr writes around it."""
import json
import subprocess
import sys

import pytest

from tests.support.gdbrun import REPO, gdb_env, run_gdb

MSG = ("Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); Unknown ioctl(0xc0086202): type:0x62 "
       "nr:0x2 dir:0x3 size:8 addr:0x7ffd1234abc0")
CI_LOG = ("+ rr record ./render-test\n"
          "rr: Saving execution to trace directory `/home/ci/.local/share/rr/render-test-0'.\n"
          "[FATAL src/record_syscall.cc:1791:prepare_ioctl()]\n"
          " (task 4242 (rec:4242) at time 1337)\n"
          " -> Assertion `false' failed to hold. " + MSG + "\n"
          "Tail of trace dump:\n{\n  global_time:1330, event:`SYSCALL: ioctl' (state:ENTERING_SYSCALL) tid:4242\n}\n"
          "=== Start rr backtrace:\nrr(_ZN2rr13dump_rr_stackEv+0x28)[0x5555558e2c58]\n=== End rr backtrace\n")


def explain(*args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "gdb_rr_dmabuf", "explain"] + list(args), cwd=str(REPO),
                          input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=gdb_env(env), timeout=60)


@pytest.fixture(scope="module")
def in_gdb(tmp_path_factory):
    log = tmp_path_factory.mktemp("explain") / "ci-job.log"
    log.write_text(CI_LOG)
    res = run_gdb(["load_plugin", "run_commands"], None,
                  commands=['dmabuf-why --from-log "%s"' % MSG, 'dmabuf-why --from-log "%s" --json' % MSG,
                            'dmabuf-why --from-log "%s" --verbose' % MSG,
                            'dmabuf-why --from-log-file %s' % log, 'dmabuf-why --from-log-file %s --json' % log,
                            'dmabuf-why --verbose --from-log-file %s' % log])
    assert "Traceback" not in res.output and "GDB-ERROR" not in res.output, res.output
    return res


def test_file_and_stdin_print_what_dmabuf_why_from_log_prints(tmp_path, in_gdb):
    log = tmp_path / "ci-job.log"
    log.write_text(CI_LOG)
    from_file = explain(str(log))
    from_stdin = explain(stdin=CI_LOG)
    assert from_file.returncode == 0 and from_file.stderr == "", from_file.stderr
    # the whole log: what dmabuf-why --from-log-file prints for it; rr's line alone: what --from-log prints
    assert from_file.stdout == from_stdin.stdout == in_gdb.section("c3")
    assert explain(stdin=MSG).stdout == in_gdb.section("c0")
    first = from_file.stdout.splitlines()[0]
    assert first.startswith("ioctl DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned 0: rr before 5.9.0 aborts"), first
    assert "thread   4242, rr's log" in from_file.stdout
    assert "program: ./render-test (from rr's command line)" in from_file.stdout
    verbose = explain(str(log), "--verbose")
    assert verbose.stdout == in_gdb.section("c5")
    assert explain(stdin=MSG, *["--verbose"]).stdout == in_gdb.section("c2")


def test_json_is_dmabuf_why_json(tmp_path, in_gdb):
    j = json.loads(explain("--json", stdin=CI_LOG).stdout)
    assert j == in_gdb.json("c4")
    assert json.loads(explain("--json", stdin=MSG).stdout) == in_gdb.json("c1")
    assert j["log"]["executable"] == "./render-test" and j["log"]["trace_dir"] == "/home/ci/.local/share/rr/render-test-0"
    assert j["thread"] == {"tid": 4242} and j["log"]["events"] == 1 and j["log"]["backtrace"] == 1
    assert j["source"] == "log" and j["request"]["value"] == 0xC0086202 and j["syscall"]["result"] == 0
    assert j["argument"]["address"] == 0x7FFD1234ABC0 and j["rr"]["supported_since"] == "5.9.0"
    assert any("5.9.0" in s["text"] for s in j["suggestions"])


def test_rr_version_flows_into_the_advice():
    j = json.loads(explain("--json", "--rr-version", "5.8.0", stdin=MSG).stdout)
    upgrade = [s for s in j["suggestions"] if s["rule_id"] == "rr-upgrade"]
    assert upgrade and "5.8.0" in upgrade[0]["text"], j["suggestions"]


@pytest.mark.parametrize("stdin, what", [("make: *** [all] Error 2\n", "no \"Unknown ioctl(0x...)\""),
                                         ("\x00\xff" * 1000, "no \"Unknown ioctl(0x...)\"")])
def test_no_assertion_is_one_line(stdin, what):
    r = explain(stdin=stdin)
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("explain: " + what), r.stderr
    j = json.loads(explain("--json", stdin=stdin).stdout)
    assert j["error"]["what"].startswith(what)


def test_unreadable_file_and_bad_usage_are_one_line(tmp_path):
    r = explain(str(tmp_path / "missing.log"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "cannot read" in r.stderr, r.stderr
    r = explain("--nonsense")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unrecognized arguments" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
