"""errno names against the installed asm-generic headers (x86-64 and, when present, the arm64 cross set)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from gdb_rr_dmabuf.errnos import ERRNOS, describe_result, errno_name, errno_number


def _header_errnos(root: Path):
    out = {}
    for f in ("errno-base.h", "errno.h"):
        for name, val in re.findall(r"#define\s+(E\w+)\s+(\d+)", (root / f).read_text()):
            out.setdefault(int(val), name)
    return out


@pytest.mark.parametrize("root", ["/usr/include/asm-generic", "/usr/aarch64-linux-gnu/include/asm-generic"])
def test_table_matches_headers(root):
    p = Path(root)
    if not (p / "errno.h").exists():
        pytest.skip("%s not installed" % root)
    hdr = _header_errnos(p)
    assert len(hdr) > 120
    assert {k: v for k, v in ERRNOS.items() if k < 512} == hdr


def test_names():
    assert errno_name(22) == "EINVAL" and errno_name(-25) == "ENOTTY"
    assert errno_name(11) == "EAGAIN" and errno_number("EWOULDBLOCK") == 11
    assert errno_name(0) is None and errno_name(4000) is None
    assert errno_name(512) == "ERESTARTSYS"
    assert errno_number("einval") == 22 and errno_number("NOPE") is None


@pytest.mark.parametrize("raw,expect", [
    (0, (0, None)),
    (7, (7, None)),
    (-22, (-22, "EINVAL")),
    (0xFFFFFFFFFFFFFFEA, (-22, "EINVAL")),
    (0xFFFFFFFFFFFFFFE7, (-25, "ENOTTY")),
    (-4095, (-4095, None)),             # an error without a name
    (-4096, (-4096, None)),             # outside the errno range: a value (e.g. an address)
    (0x7F0000001000, (0x7F0000001000, None)),
])
def test_describe_result(raw, expect):
    assert describe_result(raw) == expect
