"""tests/fixtures/c/rrpage_arm64.c (rr's page and _raw_syscall imitated on aarch64), cross-built static with
bookworm's aarch64-linux-gnu-gcc: run by qemu-user on the host (tests/test_fd_rr_page_aarch64.py) and in the
arm64 lab on a real dma-buf (tests/test_lab_rr_page_arm64.py)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.toolchains import CACHE, FIXTURES, _digest

CROSS_CC = "aarch64-linux-gnu-gcc"
PAGE = 0x70000000          # RR_PAGE_ADDR; rr's stop after the svc there: PAGE + 4


def have_cross_cc() -> bool:
    return shutil.which(CROSS_CC) is not None


def build() -> Path:
    src = FIXTURES / "c" / "rrpage_arm64.c"
    flags = ["-static", "-O2", "-g"]
    exe = CACHE / "build" / ("c-arm64-rrpage-%s" % _digest([src], flags + [CROSS_CC])) / "rrpage_arm64"
    if not exe.exists():
        exe.parent.mkdir(parents=True, exist_ok=True)
        tmp = exe.with_name("rrpage_arm64.tmp")
        subprocess.run([CROSS_CC] + flags + ["-o", str(tmp), str(src)], check=True, timeout=120)
        tmp.rename(exe)
    return exe
