"""Our reports read as their reader does: the keys the README documents for each `--json` object, every key
of a JSON object, and the numbered steps under "What to do" in the text (tests/test_render.py,
test_render_gdb.py, test_rr_logs.py)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Set

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_keys(block_start: str) -> Set[str]:
    """The quoted key names of one `--json` block of the README (up to the next blank line)."""
    text = README.read_text()
    i = text.index(block_start)
    block = text[i:text.index("\n\n", text.index("\n\n", i) + 2)]
    return set(re.findall(r'(?<![:|] )(?<!\[)"([a-z_]+)"', block.split("\n", 1)[1]))  # keys, not values


def log_keys() -> Set[str]:
    """The keys of the README's LOG object (dmabuf-why --json on rr's whole log)."""
    text = README.read_text()
    i = text.index("    LOG = {")
    block = text[i:text.index("\n\n", i)]
    return set(re.findall(r'(?<![:|] )(?<!\[)"([a-z_]+)"', block))


def all_keys(obj) -> Set[str]:
    out: Set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            out |= all_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= all_keys(v)
    return out


def steps(text: str) -> List[List[str]]:
    """The numbered items under 'What to do', each as its lines."""
    lines = text.splitlines()
    at = lines.index("What to do")
    items: List[List[str]] = []
    for ln in lines[at + 1:]:
        if re.match(r"  \d+\. ", ln):
            items.append([ln])
        elif ln.startswith("     ") and items:
            items[-1].append(ln)
        else:
            break
    return items
