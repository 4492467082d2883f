"""go-goroutines on a real aarch64 process: tests/fixtures/go/gmany cross-built for arm64 (pure Go: its "cgo"
kind blocks in a plain system call), run by qemu-user with its gdb stub, debugged by gdb-multiarch with
target remote, stopped in main.main just after the ioctl returned (tests/gdb_scripts/aarch64_stop_in_main.gdb).
Ground truth as on x86-64 (tests/test_goroutines_list.py): the program's own SIGQUIT traceback at the same
stop, given to main's thread with gdb's `signal SIGQUIT` (a SIGQUIT sent to qemu from outside while its stub
holds the process was lost in 5 of 6 tries on a loaded machine; injected through the stub it arrives).
The program's output is qemu's."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.support.gdbrun import REPO, SCRIPTS, GdbResult, gdb_env, listening
from tests.support.gmany import INFERIOR_ENV, compare
from tests.support.toolchains import DEFAULT_GO, SUPPORTED_GO, build_go

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-aarch64") and shutil.which("gdb-multiarch")),
                                reason="needs qemu-user and gdb-multiarch (tools/bootstrap.sh installs them)")

ARGS = ["20", "3"]


def _where(exe) -> dict:
    """For a stripped binary, what aarch64_stop_in_main.gdb cannot ask gdb: main.main's range and the
    entries of the *Syscall* functions, from the binary's own pclntab."""
    from gdb_rr_dmabuf.go_runtime.binary import GoBinary
    tab = GoBinary.open(str(exe)).pclntab
    main = tab.lookup("main.main")
    calls = [f.entry for f in tab.funcs() if "Syscall" in f.name]
    return {"GDBT_MAIN_RANGE": "0x%x,0x%x" % (main.entry, main.end),
            "GDBT_SYSCALL_ENTRIES": ",".join("0x%x" % e for e in calls)}


@pytest.mark.parametrize("version,stripped", [(SUPPORTED_GO[0], False), (DEFAULT_GO, False), (SUPPORTED_GO[-1], False),
                                              (DEFAULT_GO, True)])
def test_every_goroutine_agrees_with_the_traceback_on_aarch64(version, stripped, tmp_path):
    exe = build_go("gmany", version, env={"GOARCH": "arm64"}, cgo=False, stripped=stripped)
    log = tmp_path / "qemu.out"
    env = dict(os.environ, **INFERIOR_ENV)
    with open(str(log), "wb") as out, listening(lambda port: ["qemu-aarch64", "-g", str(port), str(exe)] + ARGS,
                                                 env=env, out=out) as port:
        genv = gdb_env(dict(_where(exe) if stripped else {}, GDBT_REMOTE="127.0.0.1:%d" % port,
                            GDBT_SIGQUIT_INJECT="1",
                            GDBT_CMDS=";;".join(["go-goroutines --json --stacks", "go-goroutines"])))
        proc = subprocess.run(["gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off",
                               "-x", str(SCRIPTS / "aarch64_stop_in_main.gdb"), "-x", str(SCRIPTS / "load_plugin.gdb"),
                               "-x", str(SCRIPTS / "run_commands.gdb"), "-x", str(SCRIPTS / "goroutines_sigquit.gdb"),
                               str(exe)], cwd=str(REPO), env=genv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=120)
    res = GdbResult(proc.stdout, proc.returncode)
    tb = log.read_text(errors="replace")
    ours = res.json("c0")
    assert ours.get("allgs", {}).get("found_via") == ("bss scan" if stripped else "symbols"), ours
    states = compare(ours, tb, exe)
    for want in ("running", "runnable", "syscall", "chan receive", "select", "sleep", "IO wait",
                 "chan receive, locked"):
        assert states.get(want), (want, states)
    sel = [g for g in ours["goroutines"] if g["selected"]]
    main = re.search(r"^MAIN (\d+)$", tb, re.M)
    assert main and len(sel) == 1 and sel[0]["id"] == int(main.group(1))
    assert sel[0]["stack_from"] == "registers" and sel[0]["top"]["function"] == "main.main"
    assert re.search(r"^\*\s+%s\s+running\s+LWP \d+\s+main\.main main\.go:\d+" % main.group(1), res.section("c1"), re.M)
