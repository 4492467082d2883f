"""benchmarks/bench_check.py runs to the end and prints every figure it promises (values not compared with
their targets here: a loaded machine must not fail the suite)."""
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.gdbrun import REPO

FIGURE = re.compile(r"^FIGURE (\S+)\s+(\d+\.\d+) s\s+target (\S.*?)\s+(PASS|OVER|INFO)\b", re.M)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
def test_bench_check_prints_its_figures():
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_check.py"), "--reps", "1", "-n", "20000"],
                       cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout[-4000:]
    got = {m.group(1): float(m.group(2)) for m in FIGURE.finditer(p.stdout)}
    want = ["python.import_check"] + ["%s.20000.%s" % (m, f) for m in ("spin", "ioctls")
                                      for f in ("plain", "strace", "check_all", "check_all.engine")]
    assert sorted(got) == sorted(want), p.stdout
    assert all(v > 0 for v in got.values())
