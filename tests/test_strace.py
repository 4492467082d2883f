"""tests/support/strace.py, the tests' one reader of strace's output: the interleavings strace really prints
(the lab's ground truth once read 0 exports when a SIGURG split the call), and a real strace run on a
program that makes a split without depending on timing (tests/fixtures/c/strace_split.c)."""
from __future__ import annotations

import shutil
import subprocess

from tests.support.strace import parse, split_args
from tests.support.toolchains import build_c

# Seen in a clean clone's CI run (the x86-64 lab's demo under strace -f -yy -o FILE).
SIGURG_SPLIT = """\
262   ioctl(5</dmabuf:>, DMA_BUF_IOCTL_EXPORT_SYNC_FILE <unfinished ...>
260   --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=260, si_uid=0} ---
262   <... ioctl resumed>, 0x7f292ca9ddd8) = 0
262   close(6<anon_inode:sync_file>)    = 0
"""


def test_a_call_split_by_another_threads_signal_is_one_call():
    t = parse(SIGURG_SPLIT)
    ex = t.named("ioctl", "DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    assert len(ex) == 1
    c = ex[0]
    assert (c.tid, c.args, c.result, c.split, c.complete) == (
        262, ["5</dmabuf:>", "DMA_BUF_IOCTL_EXPORT_SYNC_FILE", "0x7f292ca9ddd8"], 0, True, True)
    assert c.fd(0) == (5, "/dmabuf:")
    assert [(s.tid, s.sig) for s in t.signals] == [(260, "SIGURG")]
    assert t.named("close")[0].fd(0) == (6, "anon_inode:sync_file")
    assert not t.orphans and not t.other


def test_several_threads_pairs_are_joined_per_thread():
    # two threads each split, their resumptions in the other order; the same call name in both
    text = """\
300   ioctl(3</dev/udmabuf<char 10:125>>, UDMABUF_CREATE <unfinished ...>
301   ioctl(7<socket:[4242]>, SIOCGIFCONF <unfinished ...>
301   <... ioctl resumed>, {ifc_len=80, ifc_buf=NULL}) = 0
302   openat(AT_FDCWD</root>, "/dev/dri/card0", O_RDWR|O_CLOEXEC) = -1 ENOENT (No such file or directory)
300   <... ioctl resumed>, 0x7ffd1234) = 5</dmabuf:>
300   +++ exited with 0 +++
301   +++ killed by SIGKILL +++
"""
    t = parse(text)
    by_tid = {c.tid: c for c in t.named("ioctl")}
    assert by_tid[300].args == ["3</dev/udmabuf<char 10:125>>", "UDMABUF_CREATE", "0x7ffd1234"]
    assert (by_tid[300].result, by_tid[300].result_deco) == (5, "/dmabuf:")
    assert by_tid[300].fd(0) == (3, "/dev/udmabuf<char 10:125>")
    assert by_tid[301].args == ["7<socket:[4242]>", "SIOCGIFCONF", "{ifc_len=80, ifc_buf=NULL}"]
    o = t.named("openat")[0]
    assert (o.result, o.errno, o.args[1]) == (-1, "ENOENT", '"/dev/dri/card0"')
    assert [(e.tid, e.code, e.signal) for e in t.exits] == [(300, 0, None), (301, None, "SIGKILL")]
    assert [c.line for c in t.calls] == [1, 2, 4]            # in the order the calls began


def test_stderr_form_with_pid_prefixes_starting_late_and_program_output():
    # strace on stderr (no -o): no prefix until a second thread exists; the program's own lines between
    text = """\
memfd_create("lp_dma_buf", MFD_ALLOW_SEALING) = 4</memfd:lp_dma_buf>
ioctl(5</dmabuf:>, DMA_BUF_IOCTL_EXPORT_SYNC_FILE <unfinished ...>
strace: Process 41 attached
LAB OK EGL 1.5 GL_RENDERER "llvmpipe (LLVM 19.1.7, 256 bits)"
[pid 40] <... ioctl resumed>, 0xffffd0e8) = 0
[pid    41] --- stopped by SIGSTOP ---
[pid    41] write(1<pipe:[9]>, "ioctl(3, X, 0) = 5\\n", 19) = 19
"""
    t = parse(text)
    m = t.named("memfd_create")[0]
    assert (m.result, m.result_deco, m.args) == (4, "/memfd:lp_dma_buf", ['"lp_dma_buf"', "MFD_ALLOW_SEALING"])
    ex = t.named("ioctl", "DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    assert len(ex) == 1 and ex[0].result == 0 and ex[0].split
    w = t.named("write")[0]                                  # a quoted ") = 5" is the argument, not the result
    assert (w.tid, w.result, w.args[1]) == (41, 19, '"ioctl(3, X, 0) = 5\\n"')
    assert t.signals[0].sig == "SIGSTOP"
    assert t.other == ["strace: Process 41 attached", 'LAB OK EGL 1.5 GL_RENDERER "llvmpipe (LLVM 19.1.7, 256 bits)"']


def test_memfd_names_with_spaces_timestamps_durations_and_restarts():
    text = """\
7     11:22:33.123456 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 4</memfd:lp_dma_buf (deleted)>, 0) = 0x7f0000000000 <0.000012>
7     11:22:33.124000 read(3<pipe:[25955]>,  <unfinished ...>
8     11:22:33.124100 ioctl(3<pipe:[25955]>, FIONREAD, [0]) = 0 <0.000004>
7     11:22:33.124200 <... read resumed>0x7fe8b4eb6ece, 1) = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.000150>
8     11:22:33.124300 poll([{fd=3, events=POLLIN}], 1, 0) = 1 ([{fd=3, revents=POLLIN}])
8     11:22:33.124400 accept4(5<TCP:[127.0.0.1:2345]>, NULL, NULL, SOCK_CLOEXEC) = 6<TCP:[127.0.0.1:2345->127.0.0.1:40000]>
208   memfd_create("lp_dma_buf", MFD_ALLOW_SEALING) = 8</memfd:lp_dma_buf>(deleted)
208   mmap(NULL, 4096, PROT_READ, MAP_SHARED, 8</memfd:lp_dma_buf>(deleted), 0) = 0x7f0000001000
"""
    t = parse(text)
    mm = t.named("mmap")[0]
    assert (mm.result, mm.fd(4)) == (0x7f0000000000, (4, "/memfd:lp_dma_buf (deleted)"))
    r = t.named("read")[0]
    assert (r.result, r.errno, r.args, r.split) == (None, "ERESTARTSYS", ["3<pipe:[25955]>", "0x7fe8b4eb6ece", "1"], True)
    assert t.named("poll")[0].result == 1
    a = t.named("accept4")[0]
    assert (a.result, a.result_deco) == (6, "TCP:[127.0.0.1:2345->127.0.0.1:40000]")
    assert a.fd(0) == (5, "TCP:[127.0.0.1:2345]")
    # strace 6.13 in the lab (a GTK program's llvmpipe probe): -yy marks the gone file outside the brackets
    m = t.named("memfd_create")[0]
    assert (m.tid, m.result, m.result_deco) == (208, 8, "/memfd:lp_dma_buf (deleted)")
    assert t.named("mmap")[1].fd(4) == (8, "/memfd:lp_dma_buf (deleted)")


def test_unfinished_that_never_resumes_and_orphans():
    text = """\
9     exit_group(0 <unfinished ...>
10    <... futex resumed>)              = ?
9     +++ exited with 0 +++
"""
    t = parse(text)
    assert [(c.name, c.complete, c.result) for c in t.calls] == [("exit_group", False, None)]
    assert t.orphans == ["10    <... futex resumed>)              = ?"]


def test_split_args_nesting():
    assert split_args('3</a,b<char 1:2>>, "x,\\"y", {a=1, b=[2, 3]}, f(1, 2)') == [
        "3</a,b<char 1:2>>", '"x,\\"y"', "{a=1, b=[2, 3]}", "f(1, 2)"]
    assert split_args("") == []


def test_real_strace_split_is_joined():
    """strace itself (bookworm's, on this host) on a program that forces a split: thread T sleeps in
    read(2) (the program waits until /proc says so) while the main thread makes an ioctl, sends T a
    SIGURG and writes the byte T reads."""
    strace = shutil.which("strace")
    assert strace, "strace is missing: tools/bootstrap.sh installs it"
    exe = build_c("strace_split.c")
    p = subprocess.run([strace, "-f", "-qq", "-yy", "-o", "/dev/stderr", "-e", "trace=read,write,ioctl", str(exe)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert p.returncode == 0, p.stderr
    own = p.stdout.split()
    assert own[0] == "SPLIT" and own[2:4] == ["READ=1", "FIONREAD=0"], p.stdout
    ttid = int(own[1].split("=")[1])
    t = parse(p.stderr)
    assert any(c.split for c in t.calls), p.stderr          # the program made strace split T's read
    assert not t.orphans, p.stderr
    reads = [c for c in t.named("read") if c.tid == ttid]
    assert reads and reads[-1].result == 1 and reads[-1].args[1] == '"x"', p.stderr
    assert reads[-1].fd(0)[1].startswith("pipe:["), p.stderr
    assert all(c.complete for c in t.calls if c.name != "exit_group"), p.stderr
    ioctls = [c for c in t.named("ioctl", "FIONREAD") if c.tid != ttid]
    assert len(ioctls) == 1 and ioctls[0].result == 0 and ioctls[0].args[2] == "[0]", p.stderr
    assert [s.sig for s in t.signals if s.tid == ttid] == ["SIGURG"], p.stderr
