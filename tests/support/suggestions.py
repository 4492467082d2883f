"""A suggestion checked by running the program again with what its commands set (the lab's closed loop:
tests/test_lab_loop.py, test_lab_stops.py, test_lab_gui.py): the environment a command gives the program,
what a suggestion may say is lost and how the program's output shows it, and the words a suggestion that
cannot be checked that way must carry in its source line."""
from __future__ import annotations

import re
import shlex
from typing import Dict, Optional

NOT_CHECKABLE = "not checked by re-running the program in the lab"
# What a suggestion may say is lost, and how the program's own output shows that loss.
LOSSES = {"no Vulkan device is left": r"^LAB FAIL no Vulkan physical device$|"
                                      r"^LAB FAIL vkEnumeratePhysicalDevices: VkResult -3$"}
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


def env_of_command(cmd: str) -> Optional[Dict[str, str]]:
    """The environment a command gives the program: `rr record [-v N=V | --env=N=V | --env N=V]... PROG`
    or `N=V... PROG`. None when it sets nothing or does more than run the program (a rebuild, ...)."""
    if "&&" in cmd or ";" in cmd or "|" in cmd:
        return None
    argv = shlex.split(cmd)
    env: Dict[str, str] = {}
    if argv[:2] == ["rr", "record"]:
        i = 2
        while i < len(argv) and argv[i].startswith("-"):
            a = argv[i]
            if a in ("-v", "--env") and i + 1 < len(argv):
                m = _ASSIGN.match(argv[i + 1])
                i += 2
            elif a.startswith("--env="):
                m = _ASSIGN.match(a[len("--env="):])
                i += 1
            else:
                return None                      # another rr option: nothing to check without rr
            if not m:
                return None
            env[m.group(1)] = m.group(2)
        if i >= len(argv):
            return None
    else:
        while argv and _ASSIGN.match(argv[0]):
            m = _ASSIGN.match(argv.pop(0))
            env[m.group(1)] = m.group(2)
        if not argv:
            return None
    return env or None
