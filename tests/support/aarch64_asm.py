"""AArch64 code assembled by binutils (aarch64-linux-gnu-as + objcopy): instruction bytes that come from
outside our code, for the tests of gdb_rr_dmabuf/fdrecover.py (tests/test_fd_recovery.py,
test_fd_rr_page_aarch64.py)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

AS = "aarch64-linux-gnu-as"
OBJCOPY = "aarch64-linux-gnu-objcopy"
NEEDS_AS = pytest.mark.skipif(not (shutil.which(AS) and shutil.which(OBJCOPY)),
                              reason="needs binutils-aarch64-linux-gnu (tools/bootstrap.sh installs gcc-aarch64-linux-gnu)")
_asm_cache = {}


def asm(text: str, tmp_path_factory) -> bytes:
    """Assemble AArch64 text (labels allowed) at address 0; the raw .text bytes."""
    if text in _asm_cache:
        return _asm_cache[text]
    d = tmp_path_factory.mktemp("asm")
    (d / "a.s").write_text(".text\n" + text + "\n")
    subprocess.run([AS, "-o", str(d / "a.o"), str(d / "a.s")], check=True)
    subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", str(d / "a.o"), str(d / "a.bin")], check=True)
    _asm_cache[text] = (d / "a.bin").read_bytes()
    return _asm_cache[text]
