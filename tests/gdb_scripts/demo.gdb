# The demo: what a user sees at rr's emergency stop, after `source gdbinit.py`.
echo \n(gdb) bt    # gdb's own backtrace stops at the cgo boundary\n
bt
echo \n(gdb) dmabuf-why\n
dmabuf-why
echo \n(gdb) go-callers\n
go-callers
