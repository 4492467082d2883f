# Run to the first call of the function named by $GDBT_FUNC, then stop at the entry of the next mmap
# system call of 64 MB (a heap arena: the runtime mapping heap memory for the allocation that function
# makes; other threads' mmaps, e.g. libc's for a new thread's stack, are smaller).
python
import os
gdb.execute("break " + os.environ.get("GDBT_FUNC", "main.processFile"))
end
run
delete
catch syscall mmap
condition $bpnum $rsi == 0x4000000
continue
