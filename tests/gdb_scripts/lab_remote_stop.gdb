# On the host: the lab VM's gdbserver at $GDBT_REMOTE (rr's emergency layout: the tracee is on another
# machine, no /proc), libraries from the guest's root file system ($LABT_SYSROOT), stopped just after the
# ioctl $GDBT_REQUEST returned (a restarted return gone past).
set pagination off
set confirm off
python
import os
gdb.execute("set sysroot " + os.environ["LABT_SYSROOT"])
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
