# What rr's "Launch debugger with" line runs (src/launch_debugger.cc): gdb -l 10000 -ex 'set sysroot /'
# -ex 'target extended-remote 127.0.0.1:PORT' EXE. The tests give a shorter remote timeout
# ($GDBT_REMOTETIMEOUT, default rr's 10000) so that a stub that never answers ends the test.
python
import os
gdb.execute("set remotetimeout " + os.environ.get("GDBT_REMOTETIMEOUT", "10000"))
gdb.execute("set sysroot " + os.environ.get("LABT_SYSROOT", "/"))
gdb.execute("target extended-remote " + os.environ["GDBT_REMOTE"])
end
