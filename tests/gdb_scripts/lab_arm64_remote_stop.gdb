# On the host (gdb-multiarch): the aarch64 lab VM's gdbserver at $GDBT_REMOTE (rr's emergency layout: the
# tracee is on another machine, no /proc), libraries from the guest's root file system ($LABT_SYSROOT),
# stopped just after the ioctl $GDBT_REQUEST returned (a restarted return gone past). aarch64: the
# request is x1 at entry and at the return (the kernel leaves x1..x5 alone), the result is x0.
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
gdb.execute("condition $bpnum $x1 == %s" % os.environ.get("GDBT_REQUEST", "0xc0086202"))
end
continue
continue
python
for _ in range(3):
    if int(gdb.selected_frame().read_register("x0")) not in (-512, -513, -514, -516):
        break
    gdb.execute("continue")
    gdb.execute("continue")
end
