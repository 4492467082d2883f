"""The package must work on the oldest Python a user's gdb may embed (3.9): run the pure-Python unit
tests under a Python 3.9 interpreter when this machine has one (pyenv's, or python3.9 on PATH), in a
venv of its own under .cache/ that holds pytest and the runtime dependency (pygments) and not pyelftools:
the pure tests and the package need no pyelftools. Skipped, with the reason, where no 3.9 exists."""
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".cache" / "venv-py39-runtime"   # (venv-py39, from before, also held pyelftools)
PURE_TESTS = ["tests/test_syscall.py", "tests/test_target.py", "tests/test_advice.py", "tests/test_rr.py",
              "tests/test_errnos.py", "tests/test_ioctl_structs.py", "tests/test_core_analysis.py"]


def _python39():
    cands = [shutil.which("python3.9")] + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    for c in cands:
        if not c:
            continue
        try:
            out = subprocess.run([c, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True,
                                 timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out == "True":
            return c
    return None


def test_pure_tests_pass_on_python39():
    py = _python39()
    if py is None:
        pytest.skip("no Python 3.9 interpreter on this machine")
    vpy = VENV / "bin" / "python"
    if not vpy.exists():
        subprocess.run([py, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(vpy), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "pytest<9", "pygments"], check=True)
    no_elftools = subprocess.run([str(vpy), "-c", "import elftools"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    assert no_elftools.returncode != 0, "%s has pyelftools: this test must show nothing needs it" % VENV
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # Every module, the gdb-only ones included, must at least compile under 3.9.
    comp = subprocess.run([str(vpy), "-m", "compileall", "-q", "-f", "-x", "__pycache__", "gdb_rr_dmabuf", "gdbinit.py"],
                          cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    assert comp.returncode == 0, comp.stdout[-3000:]
    proc = subprocess.run([str(vpy), "-m", "pytest", "-q", "-p", "no:cacheprovider"] + PURE_TESTS,
                          cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert " passed" in proc.stdout
