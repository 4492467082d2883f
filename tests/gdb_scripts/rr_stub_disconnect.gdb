# The driver gdb of tests/support/rrstub.py leaves: the real stub keeps the program stopped where the stop
# script brought it, and the next gdb meets rr's emergency stub there.
disconnect
