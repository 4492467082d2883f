"""The gdb-rr-dmabuf command that tools/install.sh puts in ~/.local/bin (the package's console script, also
declared in pyproject.toml): `check` and `explain` through it, in the temporary HOME of test_install."""
import subprocess


def test_command_on_path_runs_check_and_explain(installed):  # tests/conftest.py: install.sh in a temp HOME
    src, home, env, first, second = installed
    cmd = home / ".local" / "bin" / "gdb-rr-dmabuf"
    assert cmd.is_file() and "install.sh: the command: %s (check, explain)" % cmd in first
    e = dict(env, PATH=str(cmd.parent) + ":" + env["PATH"])
    p = subprocess.run(["gdb-rr-dmabuf", "check", "--", "rr", "record", "-v", "X_FROM_RR=1", "/usr/bin/env"], env=e,
                       cwd=str(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "X_FROM_RR=1" in p.stdout.splitlines() and "RUNNING_UNDER_RR=1" in p.stdout.splitlines()
    assert "check: rr %s would record this run" % "" not in p.stdout  # (the release is named, not empty)
    p = subprocess.run(["gdb-rr-dmabuf", "explain", "--json"], env=e, cwd=str(home), input=(
        "Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); Unknown ioctl(0xc0086202): type:0x62 nr:0x2 "
        "dir:0x3 size:8 addr:0x7ffd1234abc0\n"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=120)
    assert p.returncode == 0 and '"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"' in p.stdout, p.stderr
    assert str(src) in cmd.read_text()  # it runs this copy of the package
