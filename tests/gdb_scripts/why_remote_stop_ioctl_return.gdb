# rr's situation (a gdbserver on loopback, gdb connects with target extended-remote), stopped just
# after the ioctl named by $GDBT_REQUEST returned. GDBT_NONSTOP=1 connects in non-stop mode: in
# all-stop, gdbserver stops every thread at the syscall entry, and the fixtures' simulated kernel (a
# seccomp supervisor thread) then sees the call interrupted: the "return" gdb reports is -ERESTARTSYS
# and continuing into the restarted call hung (gdb 13.1). Non-stop leaves the supervisor running.
set sysroot /
python
import os
if os.environ.get("GDBT_NONSTOP") == "1":
    gdb.execute("set non-stop on")
gdb.execute("target extended-remote " + os.environ["GDBT_REMOTE"])
end
catch syscall ioctl
python
import os
gdb.execute("condition $bpnum $rsi == %s" % os.environ.get("GDBT_REQUEST", "0xc0086202"))
end
continue
continue
