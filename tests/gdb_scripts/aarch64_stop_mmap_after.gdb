# A real aarch64 Go process under qemu-user's gdb stub ($GDBT_REMOTE): run to the first call of
# $GDBT_FUNC, then stop at the runtime's mmap stub (runtime.sysMmap), which the heap growth for that
# function's allocation reaches on the system stack. (qemu's stub has no syscall catchpoints.)
set sysroot /
python
import os
gdb.execute("target remote " + os.environ["GDBT_REMOTE"])
gdb.execute("break " + os.environ.get("GDBT_FUNC", "main.processFile"))
gdb.execute("continue")
gdb.execute("delete")
gdb.execute("break runtime.sysMmap")
gdb.execute("continue")
end
