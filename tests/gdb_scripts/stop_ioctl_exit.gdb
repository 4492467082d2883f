# Stop where rr stops: just after the ioctl named by $GDBT_REQUEST returned.
catch syscall ioctl
python
import os
gdb.execute("condition $bpnum $rsi == %s" % os.environ.get("GDBT_REQUEST", "0xc0086202"))
end
run
continue
