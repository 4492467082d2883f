# Make gdb's Python behave as if pygments were not installed anywhere (find_spec -> None, import fails).
python
import sys
sys.modules["pygments"] = None
end
