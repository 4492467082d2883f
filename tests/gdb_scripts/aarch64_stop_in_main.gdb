# A real aarch64 Go process under qemu-user's gdb stub ($GDBT_REMOTE), stopped in main.main just after
# its last call of a syscall.*Syscall* function returned (gmany: the ioctl). A breakpoint that only main's
# thread reaches: qemu-user's stub loses breakpoint traps of other threads (the process dies of SIGTRAP)
# when many threads run through a shared stub such as Syscall6.
set sysroot /
python
import os, re
gdb.execute("target remote " + os.environ["GDBT_REMOTE"])
lines = gdb.execute("disassemble 'main.main'", to_string=True).splitlines()
calls = [i for i, l in enumerate(lines) if re.search(r"\tbl\t.*Syscall", l)]
gdb.execute("break *%s" % lines[calls[-1] + 1].split()[0])
end
continue
