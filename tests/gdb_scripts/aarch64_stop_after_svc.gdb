# A real aarch64 Go process under qemu-user's gdb stub ($GDBT_REMOTE): stop just after the `svc #0` of
# Go's syscall stub when it made ioctl(…, $GDBT_REQUEST, …) — the registers rr's exit stop shows
# (x8 = 29, x0 = the result, x1 = the request). qemu's stub has no syscall catchpoints, hence the
# breakpoint after the instruction.
set sysroot /
python
import os
gdb.execute("target remote " + os.environ["GDBT_REMOTE"])
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
