# The program's own traceback of every goroutine at the stop, after the commands ran: SIGQUIT makes the Go
# runtime print every goroutine (GOTRACEBACK=all in the program's environment) and exit. The signal is
# queued to the process (delivered by the kernel when it resumes, passed on by gdb), or, with
# $GDBT_SIGQUIT_INJECT set, given to the selected thread with gdb's `signal` (qemu-user's stub: a signal
# sent to qemu from outside does not always reach the program). Its output lands between `BEGIN sigquit`
# and `END sigquit` when the program writes to gdb's stderr.
handle SIGQUIT nostop noprint pass
delete
python
import os, signal
gdb.write("BEGIN sigquit\n")
gdb.flush()
if os.environ.get("GDBT_SIGQUIT_INJECT"):
    gdb.execute("signal SIGQUIT")
else:
    os.kill(gdb.selected_inferior().pid, signal.SIGQUIT)
    gdb.execute("continue")
gdb.write("END sigquit\n")
gdb.flush()
end
