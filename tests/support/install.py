"""tools/install.sh, the user install, run the way a user runs it: in a temporary HOME, on a copy of the
project's runtime files (what a user's clone has: no .venv, no .cache). The fixture `installed`
(tests/conftest.py) runs it for tests/test_install.py and tests/test_check_install.py."""
import os
import shutil
import subprocess
from pathlib import Path
from typing import Tuple

from tests.support.gdbrun import REPO

PIP_CACHE = REPO / ".cache" / "pip-user-install"  # downloads kept between runs: the test stays quick


def user_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GDB_RR_DMABUF", "VIRTUAL_ENV",
                                                                     "XDG_"))}
    env.update(HOME=str(home), PIP_CACHE_DIR=str(PIP_CACHE), LC_ALL="C")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env


def run_install(src: Path, env: dict, *args: str) -> str:
    p = subprocess.run(["bash", str(src / "tools" / "install.sh")] + list(args), env=env, cwd=str(env["HOME"]),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    assert p.returncode == 0, p.stdout
    return p.stdout


def install_twice(tmp: Path) -> Tuple[Path, Path, dict, str, str]:
    """A copy of the runtime files under tmp, installed twice with --gdbinit into tmp/home:
    (src, home, env, first output, second output)."""
    src, home = tmp / "gdb-rr-dmabuf", tmp / "home"
    home.mkdir()
    src.mkdir()
    shutil.copy2(str(REPO / "gdbinit.py"), str(src / "gdbinit.py"))
    shutil.copytree(str(REPO / "gdb_rr_dmabuf"), str(src / "gdb_rr_dmabuf"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    (src / "tools").mkdir()
    shutil.copy2(str(REPO / "tools" / "install.sh"), str(src / "tools" / "install.sh"))
    env = user_env(home)
    first = run_install(src, env, "--gdbinit")
    second = run_install(src, env, "--gdbinit")
    return src, home, env, first, second
