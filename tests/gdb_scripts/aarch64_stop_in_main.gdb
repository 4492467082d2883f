# A real aarch64 Go process under qemu-user's gdb stub ($GDBT_REMOTE), stopped in main.main just after
# its last call of a syscall.*Syscall* function returned (gmany: the ioctl). A breakpoint that only main's
# thread reaches: qemu-user's stub loses breakpoint traps of other threads (the process dies of SIGTRAP)
# when many threads run through a shared stub such as Syscall6. A stripped binary has no symbols for gdb:
# then $GDBT_MAIN_RANGE ("start,end" of main.main) and $GDBT_SYSCALL_ENTRIES (the entries of the
# *Syscall* functions), which the test reads from the binary's pclntab, say where to look.
set sysroot /
python
import os, re
gdb.execute("target remote " + os.environ["GDBT_REMOTE"])
rng = os.environ.get("GDBT_MAIN_RANGE")
lines = gdb.execute("disassemble " + (rng if rng else "'main.main'"), to_string=True).splitlines()
entries = {int(x, 16) for x in os.environ.get("GDBT_SYSCALL_ENTRIES", "").split(",") if x}
def is_syscall_call(l):
    m = re.search(r"\tbl\t(0x[0-9a-f]+)(.*)", l)
    return bool(m) and ("Syscall" in m.group(2) or int(m.group(1), 16) in entries)
calls = [i for i, l in enumerate(lines) if is_syscall_call(l)]
gdb.execute("break *%s" % lines[calls[-1] + 1].split()[0].lstrip("=>").rstrip(":"))
end
continue
