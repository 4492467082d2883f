# demo_vm.gdb for the arm64 lab (tools/lab/lab --arch aarch64; host gdb-multiarch): rr's emergency layout
# against the arm64 guest's gdbserver, the guest's root file system as sysroot ($GDBT_SYSROOT), stopped
# just after the ioctl named by $GDBT_REQUEST returned. On arm64 the request is x1 at both stops (the
# kernel only writes x0, the result); a return the kernel restarts (x0 = -ERESTART*) is gone past.
set architecture aarch64
python
import os
gdb.execute("set sysroot " + os.environ["GDBT_SYSROOT"])
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
    if int(gdb.parse_and_eval("(long)$x0")) not in (-512, -513, -514, -516):
        break
    gdb.execute("continue")
    gdb.execute("continue")
end
