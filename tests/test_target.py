"""The Target seam: MemoryTarget reads and the convenience readers."""
import pytest

from gdb_rr_dmabuf.errors import TargetReadError
from gdb_rr_dmabuf.target import MemoryTarget, normalize_arch, parse_auxv


def test_memory_target_reads_inside_regions_only():
    t = MemoryTarget({0x1000: b"abcdefgh\0tail", 0x5000: b"\x01\x00\x00\x00\x00\x00\x00\x00"})
    assert t.read(0x1002, 3) == b"cde"
    assert t.read_u64(0x5000) == 1
    assert t.read_cstring(0x1000) == b"abcdefgh"
    with pytest.raises(TargetReadError):
        t.read(0x1000, 100)
    with pytest.raises(TargetReadError):
        t.read(0x10, 1)
    assert not t.can_read(0x4fff, 2)


def test_cstring_without_nul_stops_at_limit():
    t = MemoryTarget({0x2000: b"x" * 64})
    assert t.read_cstring(0x2000, limit=16) == b"x" * 16


def test_parse_auxv():
    raw = (9).to_bytes(8, "little") + (0x401000).to_bytes(8, "little") + b"\0" * 16 + b"junk"
    assert parse_auxv(raw) == {9: 0x401000}


@pytest.mark.parametrize("name,want", [("i386:x86-64", "x86-64"), ("aarch64", "aarch64"), ("EM_X86_64", "x86-64"),
                                       ("EM_AARCH64", "aarch64"), ("riscv:rv64", "riscv:rv64")])
def test_normalize_arch(name, want):
    assert normalize_arch(name) == want
