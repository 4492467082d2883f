# Run to the first call of the function named by $GDBT_FUNC, then stop at the entry of the next mmap
# system call (the runtime mapping heap memory for the allocation that function makes).
python
import os
gdb.execute("break " + os.environ.get("GDBT_FUNC", "main.processFile"))
end
run
delete
catch syscall mmap
continue
