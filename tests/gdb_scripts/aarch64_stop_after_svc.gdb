# A real aarch64 Go process under qemu-user's gdb stub ($GDBT_REMOTE): stop just after the `svc #0` of
# Go's syscall stub when it made ioctl(…, $GDBT_REQUEST, …) — the registers rr's exit stop shows
# (x8 = 29, x0 = the result, x1 = the request). qemu's stub has no syscall catchpoints, hence the
# breakpoint after the instruction.
#
# $GDBT_GO_CALLER (optional): the Go function that makes the call. The program first runs to it, and the
# breakpoint after `svc` (which every system call of Go code passes: gdb stops there and steps the others
# over it) is only set there, so the stub sees the fewest stops (a driver gdb waited 300 s once in CI).
set sysroot /
python
import os
gdb.execute("target remote " + os.environ["GDBT_REMOTE"])
caller = os.environ.get("GDBT_GO_CALLER")
if caller:
    gdb.execute("tbreak '%s'" % caller)
    gdb.execute("continue")
block = None
for name in ("internal/runtime/syscall.Syscall6", "runtime/internal/syscall.Syscall6"):
    try:
        block = gdb.execute("disassemble '%s'" % name, to_string=True)
        break
    except gdb.error:
        continue
lines = block.splitlines()
after = [lines[i + 1].split()[0] for i, l in enumerate(lines) if "\tsvc\t" in l or " svc " in l][0]
gdb.execute("break *%s if $x8 == 29 && $x1 == %s" % (after, os.environ.get("GDBT_REQUEST", "0xc0086202")))
end
continue
