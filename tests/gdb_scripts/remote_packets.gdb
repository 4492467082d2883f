# Run $GDBT_PACKETS_CMD with gdb's remote protocol log going to $GDBT_PACKETS_LOG (what the command makes
# gdb send to the stub), between `BEGIN packets` and `END packets`.
python
import os
gdb.write("BEGIN packets\n")
gdb.execute("set logging file " + os.environ["GDBT_PACKETS_LOG"])
gdb.execute("set logging overwrite on")
gdb.execute("set logging redirect on")
gdb.execute("set logging debugredirect on")
gdb.execute("set logging enabled on")
gdb.execute("set debug remote 1")
try:
    gdb.execute(os.environ["GDBT_PACKETS_CMD"])
finally:
    gdb.execute("set debug remote 0")
    gdb.execute("set logging enabled off")
gdb.write("END packets\n")
end
