# Make gdb's Python behave as if pyelftools were not installed anywhere (find_spec -> None, import fails):
# no command may need it (pyelftools is a test dependency only: tests/test_gdbinit.py).
python
import sys
sys.modules["elftools"] = None
end
