#!/usr/bin/env python3
"""Generate gdb_rr_dmabuf/rr_lines.json: which rr release printed a log, from the source line rr names in
its FATAL header.

rr's assertion header is `[FATAL <path>/src/record_syscall.cc:LINE:rec_process_syscall_arch() ...]` (src/log.cc
write_prefix: __FILE__, __LINE__, __func__ of the ASSERT). The assertion every "Expected EINVAL for 'ioctl'"
abort comes from, `ASSERT(t, t->regs().syscall_result_signed() == -syscall_state.expect_errno)`, moves as
record_syscall.cc grows, so its LINE names the release (or the stretch of rr's history) that printed it. The
same holds for log.cc's notice "(session doesn't look interactive, aborting emergency debugging)".

Method: for every release tag (X.Y.Z, all of rr's history) and for every commit that changed the marker's file
(all branches merged into the default branch, `git log --format=%H <master> -- FILE`), read the file at that
commit (`git cat-file --batch`), find the marker's line (the first line holding its text, searched from the
statement that opens it), and label the commit with the newest release tag it contains (`git describe --tags
--abbrev=0 --match X.Y.Z`). A line maps to the releases whose tag has it ("releases") and to the releases a
git build after them had it in ("builds_after": "5.8.0" means a build from git between 5.8.0 and the next
release).

Usage: python3 tools/gen_rr_lines.py RR_GIT_DIR [--out FILE] [--check FILE]
RR_GIT_DIR: an rr clone or bare repository with its tags (e.g. `git clone https://github.com/rr-debugger/rr`).
Needs only git.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "gdb_rr_dmabuf" / "rr_lines.json"

# (id, file, function rr names in the header, the marker's text, the macro that opens its statement: __LINE__
#  is the line of that macro, which may come a line or two before the text, e.g. `FATAL()\n  << "(session ...`)
MARKERS = [
    ("expect_errno", "src/record_syscall.cc", "rec_process_syscall_arch",
     "syscall_result_signed() == -syscall_state.expect_errno", "ASSERT("),
    ("not_interactive", "src/log.cc", None, "session doesn't look interactive", "FATAL("),
    ("bad_state", "src/log.cc", None, "task is in a bad state", "FATAL("),
]


def git(gitdir: str, *args: str, input: Optional[bytes] = None) -> bytes:
    return subprocess.run(["git", "-C", gitdir] + list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, input=input).stdout


def release_tags(gitdir: str) -> List[str]:
    tags = [t for t in git(gitdir, "tag", "--list").decode().split() if re.fullmatch(r"\d+\.\d+\.\d+", t)]
    return sorted(tags, key=lambda t: tuple(int(x) for x in t.split(".")))


def master_ref(gitdir: str) -> Tuple[str, str, str]:
    for ref in ("master", "origin/master", "HEAD"):
        try:
            out = git(gitdir, "log", "-1", "--format=%H %cs", ref).decode().split()
            return ref, out[0], out[1]
        except subprocess.CalledProcessError:
            continue
    raise SystemExit("gen_rr_lines: no master branch in %s" % gitdir)


def blobs(gitdir: str, specs: List[str]) -> List[Optional[bytes]]:
    """The contents of REV:PATH for each spec (None where it does not exist), through one git cat-file."""
    out = git(gitdir, "cat-file", "--batch", input=("\n".join(specs) + "\n").encode())
    res: List[Optional[bytes]] = []
    i = 0
    for _ in specs:
        nl = out.index(b"\n", i)
        head = out[i:nl].split()
        if len(head) == 2 and head[1] == b"missing" or len(head) < 3:
            res.append(None)
            i = nl + 1
            continue
        size = int(head[2])
        res.append(out[nl + 1:nl + 1 + size])
        i = nl + 1 + size + 1
    return res


def marker_line(text: Optional[bytes], needle: str, start: str) -> Optional[int]:
    """The line of the macro that opens the statement holding needle (within 300 bytes before it)."""
    if text is None:
        return None
    pos = text.find(needle.encode())
    if pos < 0:
        return None
    opened = text.rfind(start.encode(), max(0, pos - 300), pos)
    if opened >= 0:
        pos = opened
    return text.count(b"\n", 0, pos) + 1


def describe(gitdir: str, commits: List[str]) -> Dict[str, Optional[str]]:
    """The newest release tag each commit contains (None: before the first release)."""
    out: Dict[str, Optional[str]] = {}
    for i in range(0, len(commits), 200):
        chunk = commits[i:i + 200]
        p = subprocess.run(["git", "-C", gitdir, "describe", "--tags", "--abbrev=0", "--match", "[0-9]*.[0-9]*.[0-9]*",
                            "--always"] + chunk, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, check=True)
        for c, t in zip(chunk, p.stdout.split()):
            out[c] = t if re.fullmatch(r"\d+\.\d+\.\d+", t) else None
    return out


def derive(gitdir: str) -> dict:
    ref, commit, date = master_ref(gitdir)
    tags = release_tags(gitdir)
    key = {t: tuple(int(x) for x in t.split(".")) for t in tags}
    markers = {}
    for mid, path, function, needle, start in MARKERS:
        commits = git(gitdir, "log", "--format=%H", ref, "--", path).decode().split()
        lines_of = blobs(gitdir, ["%s:%s" % (c, path) for c in commits])
        tag_lines = blobs(gitdir, ["%s:%s" % (t, path) for t in tags])
        after = describe(gitdir, commits)
        lines: Dict[int, Dict[str, List[str]]] = {}
        for t, text in zip(tags, tag_lines):
            n = marker_line(text, needle, start)
            if n is not None:
                lines.setdefault(n, {"releases": [], "builds_after": []})["releases"].append(t)
        for c, text in zip(commits, lines_of):
            n = marker_line(text, needle, start)
            if n is None:
                continue
            label = after.get(c) or "before-first-release"
            e = lines.setdefault(n, {"releases": [], "builds_after": []})
            if label not in e["builds_after"]:
                e["builds_after"].append(label)
        # the line at master's head counts as a build after the last release
        n = marker_line(blobs(gitdir, ["%s:%s" % (commit, path)])[0], needle, start)
        table = []
        for n_, e in sorted(lines.items()):
            order = lambda t: key.get(t, (-1,))  # noqa: E731
            table.append({"line": n_, "releases": sorted(e["releases"], key=order),
                          "builds_after": sorted(e["builds_after"], key=order)})
        markers[mid] = {"file": path, "function": function, "text": needle, "master_line": n, "lines": table}
    return {"about": "Which rr release printed a log, from the source line in rr's FATAL header: per marker (the "
                     "assertion or notice), each line it ever had in rr's history; 'releases' are the release tags "
                     "with that line, 'builds_after' the releases after which a build from git had it. Generated "
                     "by tools/gen_rr_lines.py from rr's git history.",
            "rr": {"master_commit": commit[:8], "master_date": date, "releases": tags},
            "markers": markers}


def dump(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gitdir", help="an rr git repository with its tags")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--check", metavar="FILE", help="compare with FILE instead of writing; exit 1 when they differ")
    a = ap.parse_args(argv)
    text = dump(derive(a.gitdir))
    if a.check:
        same = Path(a.check).read_text() == text
        print("gen_rr_lines: %s" % ("same" if same else "DIFFERENT"))
        return 0 if same else 1
    Path(a.out).write_text(text)
    d = json.loads(text)
    print("gen_rr_lines: %s: %s" % (a.out, ", ".join("%s %d lines" % (k, len(v["lines"]))
                                                      for k, v in d["markers"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
