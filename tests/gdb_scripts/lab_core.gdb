# On the host: a core written in the lab VM ($GDBT_CORE), with the guest's root file system as sysroot.
set pagination off
set confirm off
python
import os
gdb.execute("set sysroot " + os.environ["LABT_SYSROOT"])
gdb.execute("core-file " + os.environ["GDBT_CORE"])
end
