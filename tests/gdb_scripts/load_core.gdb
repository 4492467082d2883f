# Load the core file $GDBT_CORE (the executable is gdb's argument).
python
import os
gdb.execute("core-file " + os.environ["GDBT_CORE"])
end
