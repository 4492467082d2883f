# Stop where rr stops: just after the ioctl named by $GDBT_REQUEST returned. A return the kernel will
# restart (-ERESTARTSYS etc.: a signal interrupted the call) is not the call's result (rr restarts it
# without stopping). Following that restart through the catchpoint is not safe under gdb: on a loaded
# machine about 1 run in 300 ended with the restarted call returning -ENOSYS (orig_rax still 16) and the
# program seeing ENOSYS, with gdb 13.1 alone (no extension loaded). So the program is started again
# instead (at most 3 times), after a GDBT-RERUN line: tests/support/gdbrun.py keeps only what follows it.
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
    gdb.write("GDBT-RERUN\n")
    gdb.flush()
    gdb.execute("run")       # the call's entry, in a new process
    gdb.execute("continue")  # and its return
end
