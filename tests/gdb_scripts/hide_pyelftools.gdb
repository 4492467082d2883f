# Make gdb's Python behave as if pyelftools were not installed anywhere (find_spec -> None, import fails).
python
import sys
sys.modules["elftools"] = None
end
