# tests/fixtures/c/rrpage_arm64.c under qemu-user's gdb stub ($GDBT_REMOTE): to the `blr x7` of its
# raw_syscall (rr's _raw_syscall imitated), one instruction on into rr's page (svc #0 at 0x70000000, mapped at
# run time), then to the instruction after the svc, where rr's stop is (pc 0x70000004). qemu's single step
# over the svc runs the `ret` after it too, hence the breakpoint there.
set sysroot /
python
import os
gdb.execute("target remote " + os.environ["GDBT_REMOTE"])
end
break *(raw_syscall + 32)
continue
stepi
break *0x70000004
continue
delete
