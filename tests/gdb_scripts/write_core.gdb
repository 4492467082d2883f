# Write a core file of the stopped process to $GDBT_CORE.
python
import os
gdb.execute("gcore " + os.environ["GDBT_CORE"])
end
