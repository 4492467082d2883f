"""gdbinit.py's venv check: a venv built for another Python is not used, one warning says why and
how to fix it, and the commands still load (plain output)."""
from tests.support.gdbrun import run_gdb


def test_venv_for_another_python_is_refused_with_one_line(tmp_path):
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.9" / "site-packages"
    site.mkdir(parents=True)
    (site / "elftools").mkdir()  # must not be picked up
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.18\n")
    res = run_gdb(["load_plugin", "run_commands"], None,
                  env={"GDB_RR_DMABUF_VENV": str(venv), "GDB_RR_DMABUF_QUIET": ""},
                  commands=["python import sys; print('SITE', [p for p in sys.path if 'python3.9' in p])",
                            "dmabuf-why --request 0xc0086202 --json"])
    warnings = [ln for ln in res.output.splitlines() if ln.startswith("gdb-rr-dmabuf: warning:")]
    assert len(warnings) == 1, res.output
    assert "is for Python 3.9 but gdb embeds Python 3." in warnings[0] and "tools/bootstrap.sh" in warnings[0]
    assert "SITE []" in res.section("c0")
    assert res.json("c1")["request"]["names"] == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"]
    assert sum(ln.startswith("gdb-rr-dmabuf 0.1.0: dmabuf-why, go-callers") for ln in res.output.splitlines()) == 1
