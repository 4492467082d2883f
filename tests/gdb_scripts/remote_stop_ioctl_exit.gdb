# rr's situation: a gdbserver on loopback, gdb connects with target extended-remote, the thread is
# stopped just after the ioctl named by $GDBT_REQUEST returned (a restarted return is gone past, as
# in stop_ioctl_exit.gdb).
set sysroot /
python
import os
gdb.execute("target extended-remote " + os.environ["GDBT_REMOTE"])
end
catch syscall ioctl
python
import os
gdb.execute("condition $bpnum $rsi == %s" % os.environ.get("GDBT_REQUEST", "0xc0086202"))
end
continue
continue
python
for _ in range(3):
    if int(gdb.parse_and_eval("$rax")) not in (-512, -513, -514, -516):
        break
    gdb.execute("continue")
    gdb.execute("continue")
end
