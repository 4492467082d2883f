# In the aarch64 lab VM (gdb 16.3, Python 3.13): run the program natively with its output in $LABT_OUT,
# stop just after the ioctl $GDBT_REQUEST returned (x1 = the request, x0 = the result; a restarted
# return gone past), and print the /proc fd links of the process as ground truth (section "proc").
# A core of this stop is written later by lab_gcore.gdb.
set pagination off
set confirm off
catch syscall ioctl
python
import os
gdb.execute("condition $bpnum $x1 == %s" % os.environ.get("GDBT_REQUEST", "0xc0086202"))
gdb.execute("run > %s 2>&1" % os.environ["LABT_OUT"])
gdb.execute("continue")
for _ in range(3):
    if int(gdb.selected_frame().read_register("x0")) not in (-512, -513, -514, -516):
        break
    gdb.execute("continue")
    gdb.execute("continue")
end
python
import json, os
pid = gdb.selected_inferior().pid
links = {}
d = "/proc/%d/fd" % pid
for n in os.listdir(d):
    try:
        links[n] = os.readlink(os.path.join(d, n))
    except OSError:
        pass
gdb.write("BEGIN proc\n" + json.dumps({"pid": pid, "tid": gdb.selected_thread().ptid[1],
                                       "fd": links}) + "\nEND proc\n")
end
