# Run the ';;'-separated commands of $GDBT_CMDS, each between `BEGIN cN` and `END cN` markers.
python
import os
for i, cmd in enumerate(c for c in os.environ.get("GDBT_CMDS", "").split(";;") if c.strip()):
    gdb.write("BEGIN c%d\n" % i)
    gdb.flush()
    try:
        gdb.execute(cmd)
    except gdb.error as e:
        gdb.write("GDB-ERROR: %s\n" % e)
    gdb.flush()
    gdb.write("END c%d\n" % i)
    gdb.flush()
end
