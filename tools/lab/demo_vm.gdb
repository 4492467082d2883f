# tools/demo.sh --vm: rr's emergency layout against the lab guest. The host's gdb connects to the
# guest's gdbserver with target extended-remote, the guest's root file system as sysroot
# ($GDBT_SYSROOT), and stops just after the ioctl named by $GDBT_REQUEST returned (a return the kernel
# restarts is gone past, as in tests/gdb_scripts/remote_stop_ioctl_exit.gdb).
python
import os
gdb.execute("set sysroot " + os.environ["GDBT_SYSROOT"])
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
