"""tools/install.sh, the user install, in a temporary HOME on a copy of the project's runtime files
(what a user's clone has: no .venv, no .cache). Checked against outside facts: the Python gdb embeds
(asked from gdb), pip's own list of what is in the venv, the init file gdb says it reads (`gdb
--help`), and gdb itself started the way rr says to start it (with the line install.sh prints) on a
gdbserver."""
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.gdbrun import gdbserver
from tests.support.install import run_install as _install
from tests.support.toolchains import build_go

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")


def _gdb_python_version(env) -> str:
    out = subprocess.run(["gdb", "-nx", "-q", "-batch", "-ex", "python import sys; print('PY %d.%d' % "
                          "sys.version_info[:2])"], env=env, stdout=subprocess.PIPE, universal_newlines=True).stdout
    return re.search(r"^PY (\S+)$", out, re.M).group(1)


def _gdb_without_distribution_packages(bindir: Path) -> None:
    """A `gdb` first on PATH: the real one, whose Python is told to forget the distribution's packages
    (sys.path's dist-packages) before anything runs, as on a system without python3-pygments."""
    bindir.mkdir()
    hide = "python import sys; sys.path[:] = [p for p in sys.path if not p.rstrip('/').endswith('dist-packages')]"
    (bindir / "gdb").write_text("#!/bin/sh\nexec %s -iex %s \"$@\"\n" % (shlex.quote(shutil.which("gdb")),
                                                                       shlex.quote(hide)))
    (bindir / "gdb").chmod(0o755)


def test_runtime_venv_for_gdbs_python_with_pygments_only(installed, tmp_path):
    """Where gdb's Python lacks pygments (here: a gdb that forgets the distribution's packages), install.sh
    makes a venv for that Python with pygments and nothing else (ELF files need no package); where gdb's
    Python has it, no venv."""
    src, home, env, first, _ = installed
    if "already imports pygments: no venv needed" in first:
        assert not (home / ".local" / "share" / "gdb-rr-dmabuf" / "venv").exists()
        home = tmp_path / "home"
        home.mkdir()
        _gdb_without_distribution_packages(tmp_path / "bin")
        env = dict(env, HOME=str(home), PATH="%s:%s" % (tmp_path / "bin", env["PATH"]))
        out = _install(src, env)
        assert "installing pygments into" in out and "already imports" not in out, out
        assert "gdb-rr-dmabuf: warning" not in out
    venv = home / ".local" / "share" / "gdb-rr-dmabuf" / "venv"
    ver = _gdb_python_version(env)
    assert (venv / "pyvenv.cfg").read_text().count("version") and \
        re.search(r"^version(_info)? = %s\." % re.escape(ver), (venv / "pyvenv.cfg").read_text(), re.M)
    listed = json.loads(subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json",
                                        "--disable-pip-version-check"], env=env, stdout=subprocess.PIPE,
                                       universal_newlines=True).stdout)
    names = {d["name"].lower() for d in listed} - {"pip", "setuptools", "wheel"}
    assert names == {"pygments"}, names  # no pyelftools, no pytest, no test bench
    assert not (src / ".venv").exists() and not (src / ".cache").exists()


def test_gdbinit_line_printed_added_once(installed):
    src, home, env, first, second = installed
    line = "source %s" % (src / "gdbinit.py")
    init = subprocess.run(["gdb", "--help"], env=env, stdout=subprocess.PIPE, universal_newlines=True).stdout
    m = re.search(r"user-specific init file: (\S+)", init)
    assert m, init  # gdb now reads a user init file ...
    text = Path(m.group(1)).read_text()
    assert text.splitlines().count(line) == 1, text  # ... with the line, once after two runs
    assert "install.sh: adding to %s: %s" % (m.group(1), line) in first.splitlines()
    assert "install.sh: %s already has: %s" % (m.group(1), line) in second.splitlines()
    # The commands are there in a plain `gdb` of that user, with no warning.
    out = subprocess.run(["gdb", "-q", "-batch", "-ex", "go-callers", "-ex", "dmabuf-why --request 0xc0086202 --json"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                         timeout=120).stdout
    assert "gdb-rr-dmabuf: warning" not in out and out.count("gdb-rr-dmabuf 0.1.0: ") == 1, out
    assert "go-callers: no process to inspect" in out
    assert '"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"' in out


def test_without_the_flag_no_init_file_is_touched(installed, tmp_path):
    src, _, env, _, _ = installed
    home = tmp_path / "other-home"
    home.mkdir()
    env = dict(env, HOME=str(home), XDG_DATA_HOME=str(installed[1] / ".local" / "share"))
    out = _install(src, env)
    made = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert made == [".local/bin/gdb-rr-dmabuf"], made  # the command (test_check_install.py), no init file
    assert "adding to" not in out


def test_the_printed_rr_line_loads_the_commands_at_the_stop(installed):
    """Start gdb as rr prints it, plus the `-x` install.sh prints, against a gdbserver (rr's emergency
    gdbserver speaks the same protocol): the commands load after the connection, once (the user's
    init file, written by --gdbinit, sources gdbinit.py too: no second banner)."""
    src, home, env, first, _ = installed
    lines = first.splitlines()
    i = lines.index("To load the commands at rr's emergency stop, add this to the gdb command rr prints:")
    assert lines[i + 1].strip() == "-x %s" % (src / "gdbinit.py")
    example = shlex.split(lines[i + 3].strip())
    assert example[:2] == ["gdb", "-l"] and example[-2:] == ["-x", str(src / "gdbinit.py")]
    exe = build_go("demo")
    with gdbserver(exe, env={"DMADEMO_PATH": "cgo"}) as addr:
        argv = [a.replace("127.0.0.1:PORT", addr) for a in example]
        argv[argv.index("/path/to/prog")] = str(exe)
        argv += ["-batch", "-ex", "info inferiors", "-ex", "dmabuf-why --request 0xc0086202 --json", "-ex", "kill"]
        out = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, timeout=120).stdout
    assert "extended-remote %s" % addr in out, out
    assert "gdb-rr-dmabuf: warning" not in out and out.count("gdb-rr-dmabuf 0.1.0: ") == 1, out
    assert '"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"' in out
