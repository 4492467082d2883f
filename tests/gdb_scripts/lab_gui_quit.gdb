# After a GUI program's stop (its commands and the hold have run): deliver SIGQUIT to the stopped thread
# and let the program run to its end. gdb passes the signal and does not stop on it; Go's runtime prints
# every goroutine (GOTRACEBACK=all in the program's environment) to stderr and exits with status 2.
# Section "quit": gdb's own line about the end of the process.
delete
handle SIGQUIT nostop noprint pass
echo BEGIN quit\n
signal SIGQUIT
echo END quit\n
