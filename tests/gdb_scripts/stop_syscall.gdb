# Stop at the entry of the first system call named by $GDBT_SYSCALL (e.g. read) whose condition
# $GDBT_COND holds (a gdb expression over the registers, e.g. `$rdi == 0`; empty: the first one).
python
import os
gdb.execute("catch syscall " + os.environ.get("GDBT_SYSCALL", "read"))
cond = os.environ.get("GDBT_COND", "").strip()
if cond:
    gdb.execute("condition $bpnum " + cond)
end
run
