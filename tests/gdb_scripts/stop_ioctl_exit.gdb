# Stop where rr stops: just after the ioctl named by $GDBT_REQUEST returned. A return the kernel will
# restart (-ERESTARTSYS etc.: a signal interrupted the call) is not the call's result: rr restarts it
# without stopping, so we go on to the restarted call's return too (at most 3 times).
catch syscall ioctl
python
import os
gdb.execute("condition $bpnum $rsi == %s" % os.environ.get("GDBT_REQUEST", "0xc0086202"))
end
run
continue
python
for _ in range(3):
    if int(gdb.parse_and_eval("$rax")) not in (-512, -513, -514, -516):
        break
    gdb.execute("continue")  # the restarted call's entry
    gdb.execute("continue")  # and its return
end
