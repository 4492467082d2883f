"""Core files of real processes, written by real gdb at a chosen stop, for tests.

make_core runs `gdb -nx -q -batch` on an executable with the caller's commands (which must end at the
stop to record, e.g. `catch syscall ioctl` then `run`), then `gcore`. Results are cached under
.cache/cores/ by the executable's contents, the commands and the environment, so a module-scoped
fixture costs one gdb run per machine, not per test session.

    core, out = make_core(exe, ["catch syscall ioctl", "condition $bpnum $rdi == 9999", "run go"])
    target = CoreTarget(str(core), executable=str(exe))

gdb dumps every mapping, including the hundreds of MB that the Go runtime reserves with PROT_NONE and
never touches, as zeros (a core of a small Go program is 1.2 GB). Like the kernel, which leaves such
memory out, make_core drops the file data of PT_LOAD segments that hold only zeros (p_filesz = 0, so
CoreTarget reports those addresses as unreadable) and writes the rest sparsely: cores shrink to tens
of MB in the file and about one MB on disk.

ioctl_stop(fd, args) gives those commands for the common case (x86-64: stop at the entry of an ioctl
on a given fd, so ioctls made by libraries at start-up are skipped).
"""
from __future__ import annotations

import hashlib
import os
import signal
import struct
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tests.support.gdbrun import RERUN_MARK, after_reruns

REPO = Path(__file__).resolve().parents[2]
CORES = REPO / ".cache" / "cores"


# A gdb command for a return the kernel will restart (-ERESTARTSYS & co.: a signal interrupted the call;
# rr stops at the restarted call's result): the program is started again and brought to the same stop, at
# most 3 times, as tests/gdb_scripts/stop_ioctl_exit.gdb does and for its reason (following the restart
# through the catchpoint gave the program ENOSYS about once in 300 loaded runs).
SKIP_RESTARTS = ("python [gdb.write('%s\\n') or gdb.execute('run') or gdb.execute('continue') for _ in range(3) "
                 "if int(gdb.parse_and_eval('$rax')) in (-512, -513, -514, -516)]" % RERUN_MARK)
# Stop just after DMA_BUF_IOCTL_EXPORT_SYNC_FILE returned (x86-64), as rr does.
EXPORT_SYNC_FILE_EXIT = ["catch syscall ioctl", "condition $bpnum $rsi == 0xc0086202", "run", "continue",
                         SKIP_RESTARTS]


def ioctl_stop(fd: int, run_args: str = "") -> List[str]:
    """gdb commands that run the program and stop at the entry of its first ioctl on fd (x86-64)."""
    return ["catch syscall ioctl", "condition $bpnum $rdi == %d" % fd, ("run " + run_args).rstrip()]


def _key(exe: Path, commands: Sequence[str], env: Optional[Dict[str, str]]) -> str:
    h = hashlib.sha256()
    with open(str(exe), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    for c in commands:
        h.update(b"\0cmd\0" + c.encode())
    for k, v in sorted((env or {}).items()):
        h.update(b"\0env\0" + k.encode() + b"=" + v.encode())
    return h.hexdigest()[:20]


def make_core(exe, gdb_commands_before_gcore: List[str], env: Optional[Dict[str, str]] = None,
              timeout: float = 60) -> Tuple[Path, str]:
    """Run gdb on exe with the commands, write a core at the stop they reach; return (core, stdout).

    stdout is gdb's standard output, which includes what the program printed. env adds variables to
    gdb's environment, which the program inherits. RuntimeError (with gdb's output) when gdb fails,
    times out or no core was written (e.g. the program exited before the stop)."""
    exe = Path(exe)
    key = _key(exe, gdb_commands_before_gcore, env)
    out_dir = CORES / ("%s-%s" % (exe.name, key))
    core = out_dir / "core"
    log = out_dir / "stdout.txt"
    if core.exists() and log.exists():
        return core, log.read_text()
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ("core.tmp%d" % os.getpid())
    argv = ["gdb", "-nx", "-q", "-batch",
            "-iex", "set auto-load no", "-iex", "set debuginfod enabled off",
            "-ex", "set pagination off", "-ex", "set confirm off", "-ex", "set width 0"]
    for c in gdb_commands_before_gcore:
        argv += ["-ex", c]
    argv += ["-ex", "gcore " + str(tmp), "-ex", "kill", str(exe)]
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    e.pop("PYTHONHOME", None)
    e["LC_ALL"] = "C"
    e.update(env or {})
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=e, universal_newlines=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # gdb and the program it runs (same session)
        except OSError:
            pass
        out, err = proc.communicate()
        if tmp.exists():
            tmp.unlink()
        raise RuntimeError("gdb on %s timed out after %ss:\n%s\n%s" % (exe, timeout, out[-4000:], err[-4000:]))
    if not tmp.exists() or tmp.stat().st_size == 0:
        raise RuntimeError("gdb wrote no core for %s (rc %s):\nstdout:\n%s\nstderr:\n%s"
                           % (exe, proc.returncode, out[-4000:], err[-4000:]))
    compact = out_dir / ("core.compact%d" % os.getpid())
    try:
        compact_core(tmp, compact)
    finally:
        tmp.unlink()
    out = after_reruns(out)
    log.write_text(out)
    compact.rename(core)
    return core, out


_PT_LOAD = 1
_CHUNK = 1 << 16


def _is_zero(b: bytes) -> bool:
    return b.count(0) == len(b)


def compact_core(src: Path, dst: Path) -> None:
    """Copy an ELF64 little-endian core file, dropping the data of all-zero PT_LOAD segments and
    writing zero blocks of the others as holes."""
    with open(str(src), "rb") as f, open(str(dst), "wb") as out:
        ehdr = f.read(64)
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != 2 or ehdr[5] != 1:
            raise RuntimeError("%s is not an ELF64 little-endian file" % src)
        phoff = struct.unpack_from("<Q", ehdr, 32)[0]
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
        f.seek(phoff)
        raw = f.read(phentsize * phnum)
        phdrs = [list(struct.unpack_from("<IIQQQQQQ", raw, i * phentsize)) for i in range(phnum)]

        def all_zero(off: int, size: int) -> bool:
            f.seek(off)
            while size > 0:
                b = f.read(min(size, 1 << 20))
                if not b or not _is_zero(b):
                    return False
                size -= len(b)
            return True

        pos = 64 + phentsize * phnum
        plan = []  # (phdr index, old offset, size)
        for i, ph in enumerate(phdrs):
            p_type, _flags, off, _va, _pa, filesz = ph[:6]
            if filesz == 0:
                ph[2] = 0
                continue
            if p_type == _PT_LOAD and all_zero(off, filesz):
                ph[2], ph[5] = 0, 0
                continue
            align = 4096 if p_type == _PT_LOAD else 8
            pos = (pos + align - 1) & ~(align - 1)
            plan.append((i, off, filesz, pos))
            ph[2] = pos
            pos += filesz
        new_ehdr = bytearray(ehdr)
        struct.pack_into("<Q", new_ehdr, 32, 64)  # program headers right after the ELF header
        struct.pack_into("<Q", new_ehdr, 40, 0)  # no section headers
        struct.pack_into("<HH", new_ehdr, 60, 0, 0)
        out.write(bytes(new_ehdr))
        out.write(b"".join(struct.pack("<IIQQQQQQ", *ph).ljust(phentsize, b"\0") for ph in phdrs))
        for _i, off, size, newpos in plan:
            f.seek(off)
            out.seek(newpos)
            while size > 0:
                b = f.read(min(size, _CHUNK))
                if not b:
                    raise RuntimeError("%s is truncated" % src)
                if _is_zero(b):
                    out.seek(len(b), 1)
                else:
                    out.write(b)
                size -= len(b)
        out.truncate(pos)
