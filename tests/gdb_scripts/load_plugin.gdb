# What the user types after connecting: source gdbinit.py (twice must be harmless).
source gdbinit.py
