# A real aarch64 Go process under qemu-user's gdb stub ($GDBT_REMOTE): run to the first call of
# $GDBT_FUNC, then stop at the runtime's mmap stub (runtime.sysMmap) mapping a 64 MB heap arena, which
# the heap growth for that function's allocation reaches on the system stack. (qemu's stub has no syscall catchpoints.)
set sysroot /
python
import os
gdb.execute("target remote " + os.environ["GDBT_REMOTE"])
gdb.execute("break " + os.environ.get("GDBT_FUNC", "main.processFile"))
gdb.execute("continue")
gdb.execute("delete")
# runtime.sysMmap is ABI0: n is at n+8(FP) = 16(RSP) at its entry; a heap arena is 64 MB.
gdb.execute("set language c")  # the condition is C; the stop is in Go code
gdb.execute("break runtime.sysMmap if *(unsigned long *)($sp + 16) == 0x4000000")
gdb.execute("set language auto")
gdb.execute("continue")
end
