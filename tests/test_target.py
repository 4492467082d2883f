"""The Target seam: MemoryTarget reads and the convenience readers."""
import os

import pytest

from gdb_rr_dmabuf.errors import TargetReadError
from gdb_rr_dmabuf.target import Target, normalize_arch, parse_auxv
from gdb_rr_dmabuf.target_memory import MemoryTarget
from gdb_rr_dmabuf.why import analyse_thread


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


class _Bare(Target):
    """A backend with only what every Target must have: memory and registers."""

    def __init__(self, regs, arch="aarch64", executable=None):
        self._regs, self.arch, self.tid, self.executable = regs, arch, 42, executable

    def read(self, addr, size):
        raise TargetReadError(addr, size)

    def registers(self):
        return dict(self._regs)


def test_a_backend_with_memory_and_registers_only_goes_through_dmabuf_why():
    # aarch64, exit stop of DMA_BUF_IOCTL_EXPORT_SYNC_FILE that returned 0: the fd recovery asks the target for
    # its frames and the stop hook's record; this backend has neither, and says so by the declared defaults
    t = _Bare({"x0": 0, "x1": 0xC0086202, "x2": 0x1000, "x7": 1, "x8": 29, "pc": 0x4000}, executable="/bin/prog")
    assert (t.program, tuple(t.warnings), t.syscall_stop_kind(), t.entry_record(), t.fd_frames()) == (
        None, (), None, None, [])
    rep = analyse_thread(t)
    assert rep.names == ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"] and rep.syscall.state == "exit"
    assert rep.executable == "/bin/prog" and rep.fd is None
    assert "the caller's frame: gdb's unwinder gives no caller frame" in rep.fd_recovery.tried
    t.program = "/where/it/runs"   # a backend that knows where the program runs (gdb over a remote stub)
    assert analyse_thread(t).executable == "/where/it/runs"


def test_each_backend_has_its_module():
    """One module per backend (target_memory, target_core, target_ptrace) beside the seam (target.py), which
    names none of them and imports none."""
    import subprocess
    import sys

    from gdb_rr_dmabuf import target, target_core, target_memory, target_ptrace
    for backend in (target_core.CoreTarget, target_memory.MemoryTarget, target_ptrace.PtraceTarget):
        assert issubclass(backend, Target) and backend.__module__ != target.__name__
        with pytest.raises(AttributeError):
            getattr(target, backend.__name__)
    probe = ("import sys, gdb_rr_dmabuf.target; "
             "print(sorted(m for m in sys.modules if m.startswith('gdb_rr_dmabuf.target_')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_ptrace_target_unreadable_memory_is_a_target_read_error():
    """An unmapped address of a live process (this one, through /proc/PID/mem as `check` reads its tracee)
    is a TargetReadError, which the analysers catch (it was a TypeError: the error built with one argument)."""
    from gdb_rr_dmabuf.target_ptrace import PtraceTarget
    pid = os.getpid()
    t = PtraceTarget(pid, pid, "x86-64", {})
    with pytest.raises(TargetReadError) as e:
        t.read(0, 8)
    assert str(e.value).startswith("cannot read 8 bytes at 0x0 (")
    assert not t.can_read(0, 8)
    data = b"the bytes of a live object"
    import ctypes
    buf = ctypes.create_string_buffer(data)
    assert t.read(ctypes.addressof(buf), len(data)) == data


# ------------------------------------------------------------------------------- CoreTarget, damaged
import os  # noqa: E402
import struct  # noqa: E402

from gdb_rr_dmabuf.errors import UserError  # noqa: E402
from gdb_rr_dmabuf.target_core import MAX_NOTES, CoreTarget  # noqa: E402


def _note(name: bytes, ntype: int, desc: bytes) -> bytes:
    n = name + b"\0"
    return (struct.pack("<III", len(n), len(desc), ntype) + n.ljust((len(n) + 3) & ~3, b"\0")
            + desc.ljust((len(desc) + 3) & ~3, b"\0"))


def _core(path, notes: bytes, loads=(), machine=62, extra_size=0):
    """A minimal ELF64 core: PT_NOTE with `notes`, then PT_LOADs (vaddr, data) after it."""
    phnum = 1 + len(loads)
    off = 64 + 56 * phnum
    phdrs = struct.pack("<IIQQQQQQ", 4, 0, off, 0, 0, len(notes), 0, 4)
    body = notes
    for vaddr, data in loads:
        phdrs += struct.pack("<IIQQQQQQ", 1, 5, off + len(body), vaddr, 0, len(data), len(data), 4096)
        body += data
    ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 4, machine, 1, 0, 64, 0, 0, 64,
                                                            56, phnum, 64, 0, 0)
    with open(str(path), "wb") as f:
        f.write(ehdr + phdrs + body)
        if extra_size:
            f.truncate(len(ehdr + phdrs + body) + extra_size)


def _prstatus(pid: int, rip: int) -> bytes:
    regs = [0] * 27
    regs[16] = rip
    return b"\0" * 32 + struct.pack("<i", pid) + b"\0" * 76 + struct.pack("<27Q", *regs) + b"\0" * 8


def test_core_target_reads_a_minimal_core(tmp_path):
    p = tmp_path / "core"
    _core(p, _note(b"CORE", 1, _prstatus(42, 0x401000)), loads=[(0x10000, b"hello world")])
    t = CoreTarget(str(p))
    assert t.tid == 42 and t.registers()["rip"] == 0x401000 and t.arch == "x86-64"
    assert t.read(0x10006, 5) == b"world" and not t.warnings
    with pytest.raises(TargetReadError):
        t.read(0x10000, 100)


def test_core_nt_file_count_is_capped_by_the_note(tmp_path):
    """NT_FILE with a count of 0x7fffffffffff (issue 9: 52 s on 400 MB): only what the note holds."""
    exe = b"/bin/true"
    desc = struct.pack("<QQ", 0x7FFFFFFFFFFF, 4096) + struct.pack("<QQQ", 0x400000, 0x401000, 0) + exe + b"\0"
    p = tmp_path / "core"
    _core(p, _note(b"CORE", 1, _prstatus(1, 0)) + _note(b"CORE", 0x46494C45, desc), extra_size=64 << 20)
    t = CoreTarget(str(p))
    assert [(m.start, m.path) for m in t._files] == [(0x400000, "/bin/true")]
    assert t.executable == "/bin/true"
    assert any("NT_FILE" in w for w in t.warnings)
    with open("/bin/true", "rb") as f:
        assert t.read(0x400000, 4) == f.read(4) == b"\x7fELF"


def test_core_mapped_file_that_is_not_regular_is_not_opened(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))  # opening it for reading would block forever
    desc = struct.pack("<QQ", 1, 4096) + struct.pack("<QQQ", 0x400000, 0x401000, 0) + str(fifo).encode() + b"\0"
    p = tmp_path / "core"
    _core(p, _note(b"CORE", 1, _prstatus(1, 0)) + _note(b"CORE", 0x46494C45, desc))
    t = CoreTarget(str(p))
    assert t.executable is None
    with pytest.raises(TargetReadError):
        t.read(0x400000, 4)


@pytest.mark.parametrize("damage,expect", [
    ("machine", "architecture i386 is not supported"),
    ("cut-phdrs", "program headers"),
    ("no-threads", "no thread registers"),
    ("short-prstatus", "no thread registers"),
    ("fifo", "not a regular file"),
    ("notes-zero", "no thread registers"),
])
def test_damaged_cores_are_one_line(tmp_path, damage, expect):
    p = tmp_path / "core"
    if damage == "machine":
        _core(p, _note(b"CORE", 1, _prstatus(1, 0)), machine=3)
    elif damage == "cut-phdrs":
        _core(p, _note(b"CORE", 1, _prstatus(1, 0)), loads=[(0x1000, b"x")])
        with open(str(p), "r+b") as f:
            f.truncate(64 + 60)
    elif damage == "no-threads":
        _core(p, b"", loads=[(0x1000, b"x")])
    elif damage == "short-prstatus":
        _core(p, _note(b"CORE", 1, _prstatus(1, 0)[:200]))
    elif damage == "fifo":
        os.mkfifo(str(p))
    elif damage == "notes-zero":  # a huge run of empty notes: bounded by MAX_NOTES
        _core(p, b"\0" * (12 * (MAX_NOTES + 10)))
    with pytest.raises(UserError) as ei:
        CoreTarget(str(p))
    msg = str(ei.value)
    assert expect in msg and "\n" not in msg, msg


def test_core_segment_past_the_end_reads_as_unavailable(tmp_path):
    p = tmp_path / "core"
    _core(p, _note(b"CORE", 1, _prstatus(1, 0)), loads=[(0x10000, b"abcdefgh")])
    with open(str(p), "r+b") as f:
        f.seek(64 + 56 + 8)  # the PT_LOAD's p_offset: far past the end
        f.write(struct.pack("<Q", 1 << 62))
    t = CoreTarget(str(p))
    assert t.warnings and "cut off" in t.warnings[0]
    with pytest.raises(TargetReadError):
        t.read(0x10000, 1)


def test_ptrace_target_names_the_innermost_frame_as_the_dynamic_loader_resolves_it():
    """check's innermost native frame (target_ptrace.symbolize, elf.function_symbols): a libc function's
    address in this process, and a few bytes into it, are named with a symbol that the dynamic loader
    (dlsym, through ctypes) resolves to that same function; an address in no mapping has no name."""
    import ctypes
    from gdb_rr_dmabuf.target_ptrace import PtraceTarget, symbolize
    pid = os.getpid()
    maps = PtraceTarget(pid, pid, "x86-64", {}).maps()
    libc = ctypes.CDLL("libc.so.6")
    for fn in ("getpid", "write", "ioctl", "close"):   # no IFUNC (strlen: dlsym gives an unnamed variant)
        addr = ctypes.cast(getattr(libc, fn), ctypes.c_void_p).value
        for pc in (addr, addr + 2):
            frame = symbolize(pc, maps)
            assert frame.objfile and "libc" in os.path.basename(frame.objfile), (fn, frame)
            assert frame.function, (fn, frame)
            assert ctypes.cast(getattr(libc, frame.function), ctypes.c_void_p).value == addr, (fn, frame)
    assert symbolize(8, maps).function is None
