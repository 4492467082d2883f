# In the aarch64 lab VM (gdb 16.3, natively on the real kernel): run the program (tests/fixtures/go/gmany) to
# the entry stop of its ioctl with request $GDBT_REQUEST (x1), where the tests then write a core
# (write_core.gdb), list the goroutines live (load_plugin, run_commands) and let the program print its own
# traceback (goroutines_sigquit.gdb).
set pagination off
set confirm off
catch syscall ioctl
python
import os
gdb.execute("condition $bpnum $x1 == %s" % os.environ["GDBT_REQUEST"])
end
run
