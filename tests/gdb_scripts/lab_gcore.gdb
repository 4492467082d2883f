# Write a core file of the stopped process to $GDBT_CORE (in the lab VM, after the commands ran).
python
import os
gdb.execute("gcore " + os.environ["GDBT_CORE"])
end
