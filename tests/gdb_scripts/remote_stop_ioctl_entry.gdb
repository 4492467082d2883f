# A gdbserver on loopback ($GDBT_REMOTE), gdb connects with target extended-remote and stops at the entry
# of the ioctl named by $GDBT_REQUEST (x86-64: $rsi).
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
