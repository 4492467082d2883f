"""tests/fixtures/go/gmany on aarch64: cross-built (pure Go), run by qemu-user with its gdb stub, debugged by
gdb-multiarch (tests/test_goroutines_list_aarch64.py, test_goroutines_list_rrstub.py).

qemu_gmany() starts the program under `qemu-aarch64 -g PORT`; with core=True in a directory where qemu
writes the ELF core of the guest when the program dies of a core-dumping signal (qemu-user's own core
writer, linux-user/elfload.c elf_core_dump: `qemu_<program>_<date>-<time>_<pid>.core` in its working
directory, written when RLIMIT_CORE allows). qemu 7.2 then also dies of that signal itself, and because its
elf_core_dump returns a stale errno it does not lower its own core limit first: the host kernel would write
qemu's own core (hundreds of MB) as well. A directory named `core` in that working directory keeps the
kernel from writing it under the default core_pattern "core" (it neither unlinks nor opens a directory).
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from tests.support.gdbrun import REPO, SCRIPTS, GdbResult, gdb_env, listening
from tests.support.gmany import INFERIOR_ENV
from tests.support.toolchains import build_go

NEEDS_QEMU = pytest.mark.skipif(not (shutil.which("qemu-aarch64") and shutil.which("gdb-multiarch")),
                                reason="needs qemu-user and gdb-multiarch (tools/bootstrap.sh installs them)")
ARGS = ["20", "3"]


CROSS_CC = "aarch64-linux-gnu-gcc"
# Where qemu-user finds the dynamic loader and libc of a cgo build (bookworm's libc6-arm64-cross, which
# gcc-aarch64-linux-gnu brings).
CROSS_SYSROOT = "/usr/aarch64-linux-gnu"


def build(version: str, stripped: bool = False, cgo: bool = False) -> Path:
    """gmany for arm64: pure Go (its "cgo" kind then blocks in a plain system call), or with cgo through
    the cross gcc (dynamically linked: run it with sysroot=CROSS_SYSROOT)."""
    if cgo:
        return build_go("gmany", version, env={"GOARCH": "arm64", "CC": CROSS_CC}, cgo=True, stripped=stripped)
    return build_go("gmany", version, env={"GOARCH": "arm64"}, cgo=False, stripped=stripped)


def have_cgo() -> bool:
    return shutil.which(CROSS_CC) is not None and os.path.exists(CROSS_SYSROOT + "/lib/ld-linux-aarch64.so.1")


def where(exe: Path) -> Dict[str, str]:
    """For a stripped binary, what aarch64_stop_in_main.gdb cannot ask gdb: main.main's range and the
    entries of the *Syscall* functions, from the binary's own pclntab."""
    from gdb_rr_dmabuf.go_runtime.binary import GoBinary
    tab = GoBinary.open(str(exe)).pclntab
    main = tab.lookup("main.main")
    calls = [f.entry for f in tab.funcs() if "Syscall" in f.name]
    return {"GDBT_MAIN_RANGE": "0x%x,0x%x" % (main.entry, main.end),
            "GDBT_SYSCALL_ENTRIES": ",".join("0x%x" % e for e in calls)}


@contextmanager
def qemu_gmany(exe: Path, out: Path, traceback: str = "all", core_dir: Optional[Path] = None,
               sysroot: Optional[str] = None) -> Iterator[int]:
    """qemu-aarch64 -g PORT running gmany (its output to `out`); yields the port. traceback: GOTRACEBACK
    ('crash': the program dies of SIGABRT after its traceback). core_dir: qemu's working directory, with the
    core limit raised, so that a core-dumping signal leaves the guest's core there. sysroot: qemu's -L (a
    dynamically linked build)."""
    env = dict(os.environ, **INFERIOR_ENV)
    env["GOTRACEBACK"] = traceback
    lib = ["-L", sysroot] if sysroot else []
    argv = lambda port: ["qemu-aarch64"] + lib + ["-g", str(port), str(exe)] + ARGS  # noqa: E731
    if core_dir is not None:
        core_dir.mkdir(parents=True, exist_ok=True)
        (core_dir / "core").mkdir(exist_ok=True)
        inner = argv
        # qemu's exit status lands in core_dir/qemu.rc once it has written the core (wait_exit)
        argv = lambda port: ["sh", "-c", 'ulimit -c unlimited && cd "$0" && "$@"; echo $? >qemu.rc.tmp && '
                             'mv qemu.rc.tmp qemu.rc', str(core_dir)] + inner(port)  # noqa: E731
    with open(str(out), "wb") as f, listening(argv, env=env, out=f) as port:
        yield port


def wait_exit(core_dir: Path, timeout: float = 300) -> int:
    """qemu's exit status (128 + the signal it died of), once it has ended (its core is then complete: gdb
    hears of the program's death before qemu writes the core). timeout only guards against a hang."""
    deadline = time.time() + timeout
    rc = core_dir / "qemu.rc"
    while not rc.exists():
        assert time.time() < deadline, "qemu did not end within %ss" % timeout
        time.sleep(0.05)
    return int(rc.read_text())


def multiarch(scripts: Sequence[str], exe: Path, env: Dict[str, str], timeout: float = 300,
              ex: Sequence[str] = ()) -> GdbResult:
    """gdb-multiarch -batch with tests/gdb_scripts/<name>.gdb in order (`ex`: commands before them)."""
    argv = ["gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off", "-ex", "set confirm off"]
    for c in ex:
        argv += ["-ex", c]
    for s in scripts:
        argv += ["-x", str(SCRIPTS / (s + ".gdb"))]
    proc = subprocess.run(argv + [str(exe)], cwd=str(REPO), env=gdb_env(env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)
    return GdbResult(proc.stdout, proc.returncode)


def threads_at_stop(info_threads: str) -> Tuple[int, List[int]]:
    """gdb's `info threads` through qemu's stub: (the selected thread's id, every thread's), as qemu-user
    names them (Thread 1.TID: the host's TIDs, which the guest's gettid returns too)."""
    rows = re.findall(r"^(\*?)\s*\d+\s+Thread \d+\.(\d+)", info_threads, re.M)
    sel = [int(t) for star, t in rows if star]
    assert rows and len(sel) == 1, info_threads
    return sel[0], [int(t) for _, t in rows]


NT_PRSTATUS, NT_PRPSINFO, NT_AUXV = 1, 3, 6
AT_ENTRY = 9


def core_notes(path: Path) -> List[Tuple[str, int, bytes]]:
    """(owner, type, descriptor) of every note of a little-endian ELF64 core, in order, read here from the
    ELF layout (no code of ours): the PT_NOTE segments' namesz/descsz/type records, 4-byte aligned."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, data[:8]
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    out = []
    for i in range(phnum):
        ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if ptype != 4:   # PT_NOTE
            continue
        pos, end = off, off + filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = data[pos + 12:pos + 12 + namesz].rstrip(b"\0").decode()
            dpos = pos + 12 + (namesz + 3) // 4 * 4
            out.append((name, ntype, data[dpos:dpos + descsz]))
            pos = dpos + (descsz + 3) // 4 * 4
    return out


def prstatus(desc: bytes) -> Dict[str, int]:
    """The fields of an aarch64 struct elf_prstatus (392 bytes, the kernel's include/linux/elfcore.h:
    pr_info (si_signo, si_code, si_errno), pr_cursig at 12, pr_pid at 32, pr_reg (x0..x30, sp, pc, pstate)
    at 112) the tests look at."""
    assert len(desc) == 392, len(desc)
    regs = struct.unpack_from("<34Q", desc, 112)
    return {"signo": struct.unpack_from("<i", desc, 0)[0], "cursig": struct.unpack_from("<h", desc, 12)[0],
            "pid": struct.unpack_from("<i", desc, 32)[0], "x28": regs[28], "sp": regs[31], "pc": regs[32]}


def auxv(desc: bytes) -> Dict[int, int]:
    words = struct.unpack("<%dQ" % (len(desc) // 8), desc[:len(desc) // 8 * 8])
    return {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}
