# The program's own traceback of every goroutine at the stop, after the commands ran: SIGQUIT (queued
# here, delivered by the kernel when the process resumes, passed on by gdb) makes the Go runtime print
# every goroutine (GOTRACEBACK=all in the program's environment) and exit. Its output lands between
# `BEGIN sigquit` and `END sigquit` when the program writes to gdb's stderr.
handle SIGQUIT nostop noprint pass
delete
python
import os, signal
gdb.write("BEGIN sigquit\n")
gdb.flush()
os.kill(gdb.selected_inferior().pid, signal.SIGQUIT)
end
continue
python
gdb.write("END sigquit\n")
gdb.flush()
end
