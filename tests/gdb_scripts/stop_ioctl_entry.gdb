# Stop at the entry of the ioctl named by $GDBT_REQUEST (the kernel has not run it yet).
catch syscall ioctl
python
import os
gdb.execute("condition $bpnum $rsi == %s" % os.environ.get("GDBT_REQUEST", "0xc0086202"))
end
run
