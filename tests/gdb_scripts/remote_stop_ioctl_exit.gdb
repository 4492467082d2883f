# rr's situation: a gdbserver on loopback, gdb connects with target extended-remote, the thread is
# stopped just after the ioctl named by $GDBT_REQUEST returned.
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
