"""The stop scripts at an interrupted return (-ERESTARTSYS & co.): the harness starts the program again
and stops at the new run's return (tests/gdb_scripts/stop_ioctl_exit.gdb, tests/support/cores.py
SKIP_RESTARTS), and only the last run's output is kept (tests/support/gdbrun.py after_reruns). The
fixture's first run gets -512 from a seccomp filter; ground truth is what each run of the program prints
and the marker file its first run leaves."""
import re

from tests.support.cores import SKIP_RESTARTS
from tests.support.gdbrun import RERUN_MARK, run_gdb
from tests.support.toolchains import build_c


def _check(out: str, rax: str, marker) -> None:
    assert marker.exists()                                   # the first run happened
    assert "RUN first" not in out and RERUN_MARK not in out, out[-3000:]   # and its output is gone
    assert re.search(r"^RUN again result -1 errno 25$", out, re.M), out[-3000:]   # ENOTTY: the real kernel
    assert int(rax) == -25, out[-3000:]


def test_stop_ioctl_exit_starts_again_at_an_interrupted_return(tmp_path):
    exe = build_c("restart_once.c")
    marker = tmp_path / "marker"
    res = run_gdb(["stop_ioctl_exit", "run_commands"], exe, args=[str(marker)],
                  env={"GDBT_REQUEST": "0xc0086202"},
                  commands=["printf \"RAX %d\\n\", $rax", "continue"])
    _check(res.output, re.search(r"^RAX (-?\d+)$", res.output, re.M).group(1), marker)


def test_skip_restarts_starts_again_at_an_interrupted_return(tmp_path):
    exe = build_c("restart_once.c")
    marker = tmp_path / "marker"
    res = run_gdb(["run_commands"], exe, args=[str(marker)],
                  commands=["catch syscall ioctl", "condition $bpnum $rsi == 0xc0086202", "run", "continue",
                            SKIP_RESTARTS, "printf \"RAX %d\\n\", $rax", "continue"])
    _check(res.output, re.search(r"^RAX (-?\d+)$", res.output, re.M).group(1), marker)
