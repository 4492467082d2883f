# arm64 lab: the host's gdb-multiarch over the guest's gdbserver (GDBT_REMOTE=HOST:PORT, rr's layout: no
# /proc), or gdb 16.3 in the guest (no GDBT_REMOTE; the program's arguments in LABT_ARGS, its output to
# LABT_OUT). Stops at the return of the ioctl $GDBT_REQUEST (x1 keeps the request at both stops), going
# through its entry stop. With LABT_ENTRY=1 gdbinit.py is sourced before the run, so
# its stop hook sees the entry stop; otherwise only at the exit stop (rr's case: no entry was seen).
# Prints x7 at both stops (section "x7") and, at the exit stop, every register and 1 KiB of stack
# from sp (section "regs"), for the test's "the value is really gone" check. LABT_GCORE=PATH: gcore there.
set pagination off
set confirm off
catch syscall ioctl
python
import os
if os.environ.get("LABT_ENTRY") == "1":
    gdb.execute("source gdbinit.py")
gdb.execute("condition $bpnum $x1 == %s" % os.environ.get("GDBT_REQUEST", "0xc0086202"))
if os.environ.get("GDBT_REMOTE"):
    gdb.execute("target extended-remote " + os.environ["GDBT_REMOTE"])
    gdb.execute("continue")
else:
    gdb.execute("run %s > %s 2>&1" % (os.environ.get("LABT_ARGS", ""), os.environ["LABT_OUT"]))
x7 = [int(gdb.parse_and_eval("$x7"))]
gdb.execute("continue")
x7.append(int(gdb.parse_and_eval("$x7")))
import json
f = gdb.newest_frame()
regs = {("x%d" % i): int(f.read_register("x%d" % i)) & (2**64 - 1) for i in range(31)}
regs["sp"] = int(f.read_register("sp")) & (2**64 - 1)
stack = bytes(gdb.selected_inferior().read_memory(regs["sp"], 1024)).hex()
gdb.write("BEGIN x7\n%s\nEND x7\n" % json.dumps({"x7": x7}))
gdb.write("BEGIN regs\n%s\nEND regs\n" % json.dumps({"regs": regs, "stack": stack,
                                                     "pid": gdb.selected_inferior().pid}))
if os.environ.get("LABT_GCORE"):   # a core of this exit stop, written by this gdb (over gdbserver too)
    gdb.execute("gcore " + os.environ["LABT_GCORE"], to_string=True)
if os.environ.get("LABT_ENTRY") != "1":
    gdb.execute("source gdbinit.py")
end
