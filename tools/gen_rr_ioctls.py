#!/usr/bin/env python3
"""Generate gdb_rr_dmabuf/rr_ioctls.json: every ioctl request rr's prepare_ioctl handles by name, release
by release, from rr's git history.

Method:
  1. For every release tag from 4.0.0 on (X.Y.Z) and the newest commit of the default branch (master),
     read src/record_syscall.cc (`git show TAG:src/record_syscall.cc`), cut out the body of
     `prepare_ioctl` (comments and string literals blanked first) and walk its top-level statements:
     `switch (request)` (rr compares the exact number), the `if (!(_IOC_READ & dir))` block with its
     `switch (IOCTL_MASK_SIZE(request))` and `switch (type)`, the `type == 'E' && nr >= A && nr <= B`
     range, and the `switch (IOCTL_MASK_SIZE(request))` blocks after it (rr compares the number with
     its size bits cleared). Each `case LABEL:` at the top level of a switch body is one entry; what the
     case body does decides the action: `emulate_result(-E)` emulates, `reg_parameter` /
     `mem_ptr_parameter` / `prepare_ethtool_ioctl` / `record_*` after-syscall actions record, a bare
     `return` or `break` lets the call run unrecorded, `expect_errno = E` expects that error.
  2. The label expressions (`TCGETS`, `IOCTL_MASK_SIZE(EVIOCGNAME(0))` ...) are resolved to numbers by
     compiling one C++ program with the host's headers (rr's own #include list of record_syscall.cc, then
     the `#ifndef NAME ... #endif` blocks of rr's src/kernel_supplement.h for numbers newer than the
     host's headers, then <asm/termbits.h>-only translation units for TCGETS2 and kin, which clash with
     glibc's <termios.h>) and running it. x86-64 numbers; for aarch64 the project's name tables
     (gdb_rr_dmabuf.ioctl.names.value_of) are consulted and a different number is stored when they
     have one (both arches use asm-generic's _IOC layout and LP64 structs).
  3. A label rr lists but never reaches is marked: in the no-_IOC_READ block with the READ bit set, after
     it without the READ bit, a masked label whose value has size bits, or one shadowed by an earlier
     label or by the EVIOCGBIT/EVIOCGABS range.
  4. rr's opening policy: the names is_blacklisted_filename (src/preload/preload_interface.h) refuses,
     per tag.

Usage: python3 tools/gen_rr_ioctls.py RR_GIT_DIR [--out FILE] [--check FILE] [-v]
RR_GIT_DIR: an rr clone or bare repository with its tags (e.g. `git clone https://github.com/rr-debugger/rr`).
Needs git, g++ and the kernel headers (linux-libc-dev) on the host.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "gdb_rr_dmabuf" / "rr_ioctls.json"
SRC = "src/record_syscall.cc"
PRELOAD = "src/preload/preload_interface.h"
SUPPLEMENT = "src/kernel_supplement.h"
OLDEST = (4, 0, 0)

IOC_READ = 2


def git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "-C", gitdir] + list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, errors="replace").stdout


def release_tags(gitdir: str) -> List[str]:
    tags = [t for t in git(gitdir, "tag", "--list").split() if re.fullmatch(r"\d+\.\d+\.\d+", t)]
    tags = [t for t in tags if tuple(int(x) for x in t.split(".")) >= OLDEST]
    return sorted(tags, key=lambda t: tuple(int(x) for x in t.split(".")))


def master_ref(gitdir: str) -> Tuple[str, str, str]:
    """(ref, full commit, commit date YYYY-MM-DD) of the default branch."""
    for ref in ("master", "origin/master", "HEAD"):
        try:
            out = git(gitdir, "log", "-1", "--format=%H %cs", ref).split()
            return ref, out[0], out[1]
        except subprocess.CalledProcessError:
            continue
    raise SystemExit("gen_rr_ioctls: no master branch in %s" % gitdir)


# --------------------------------------------------------------------------------------------------
# C++ text handling

def blank_comments(text: str) -> str:
    """Comments -> spaces (newlines kept), string literals -> "" (char literals kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + " " * max(0, j - i - 1))
            i = j + 1
        elif c == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching(text: str, i: int, open_c: str = "{", close_c: str = "}") -> int:
    """Index just past the bracket that closes the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_c:
            depth += 1
        elif text[j] == close_c:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced %s at %d" % (open_c, i))


def function_body(text: str, name: str) -> str:
    m = re.search(r"\b%s\s*\(RecordTask\*\s*t,[^)]*\)\s*\{" % re.escape(name), text) or \
        re.search(r"\b%s\s*\((?:Record)?Task\*\s*t,[^)]*\)\s*\{" % re.escape(name), text)
    if not m:
        raise ValueError("no definition of %s" % name)
    start = m.end() - 1
    return text[start + 1:matching(text, start) - 1]


def top_statements(body: str) -> List[Tuple[str, str, str]]:
    """Top-level `switch (X) {...}` and `if (X) {...}` of a block: (kind, head, block text), in order."""
    out = []
    i = 0
    pat = re.compile(r"\b(switch|if)\s*\(")
    while True:
        m = pat.search(body, i)
        if not m:
            break
        # only statements at depth 0 of this block
        if body[:m.start()].count("{") != body[:m.start()].count("}"):
            i = m.end()
            continue
        p = m.end() - 1
        pe = matching(body, p, "(", ")")
        head = body[p + 1:pe - 1].strip()
        k = pe
        while k < len(body) and body[k].isspace():
            k += 1
        if k < len(body) and body[k] == "{":
            be = matching(body, k)
            out.append((m.group(1), head, body[k + 1:be - 1]))
            i = be
        else:
            e = body.find(";", k)
            out.append((m.group(1), head, body[k:e + 1]))
            i = e + 1
    return out


_CASE = re.compile(r"\bcase\s+((?:[^:']|'[^']*'|::)+?)\s*:(?!:)")


def switch_cases(block: str) -> List[Tuple[List[str], str]]:
    """[(labels, body)] of a switch block: labels without code between them share the body; `default`
    ends the list. Only labels at the top level of the block count (nested switches are in braces)."""
    items = []  # (pos_start, pos_end, label or None for default)
    depth = 0
    i = 0
    n = len(block)
    while i < n:
        c = block[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0 and block.startswith("case", i) and (i == 0 or not (block[i - 1].isalnum() or block[i - 1] == "_")):
            m = _CASE.match(block, i)
            if m:
                items.append((i, m.end(), m.group(1).strip()))
                i = m.end()
                continue
        elif depth == 0 and block.startswith("default", i) and re.match(r"default\s*:", block[i:]):
            items.append((i, block.index(":", i) + 1, None))
        i += 1
    out: List[Tuple[List[str], str]] = []
    pending: List[str] = []
    for k, (s, e, label) in enumerate(items):
        nxt = items[k + 1][0] if k + 1 < len(items) else n
        code = block[e:nxt]
        if label is None:
            break
        pending.append(label)
        if code.strip():
            out.append((pending, code))
            pending = []
    if pending:
        out.append((pending, ""))
    return out


# --------------------------------------------------------------------------------------------------
# What a case body does

_REG_T = re.compile(r"reg_parameter\s*<\s*((?:typename\s+)?[\w:]+(?:\s+[\w:]+)*(?:\s*\[\s*\w+\s*\])?)\s*>\s*\(\s*3")
_REG_SIZE = re.compile(r"reg_parameter\s*\(\s*3\s*,\s*(\w+)")


_SCALARS = {"int": "int", "char": "char", "unsigned int": "unsigned int", "uint64_t": "uint64_t",
            "unsigned long": "unsigned long", "signed_long": "long", "unsigned_long": "unsigned long",
            "unsigned_short": "unsigned short", "signed_int": "int", "pid_t": "pid_t"}


def _ctype(t: str) -> str:
    """rr's parameter type as C: 'typename Arch::termios' -> 'struct termios', 'Arch::signed_long' -> 'long'."""
    t = re.sub(r"^typename\s+", "", t.strip())
    t = re.sub(r"^(?:Arch|NativeArch)::", "", t)
    if t in _SCALARS:
        return _SCALARS[t]
    return "struct " + t if re.fullmatch(r"[a-z]\w*", t) else t


def classify(code: str) -> Tuple[str, str]:
    """(action, what): action in records | passes | emulates | expects."""
    c = " ".join(code.split())
    m = re.search(r"emulate_result\s*\(\s*-\s*(E\w+)\s*\)", c)
    if m:
        return "emulates", "returns -%s without running it" % m.group(1)
    if "set_arg1(-1)" in c and "after_syscall_action" in c:
        return "emulates", "redirects the call to fd -1 and makes it itself after the syscall (remote syscalls), recording the result"
    if "prepare_ethtool_ioctl" in c:
        return "records", "records the ethtool command's struct (per ETHTOOL_* command; unknown commands expect EINVAL)"
    parts = []
    for m in _REG_T.finditer(c):
        parts.append(_ctype(m.group(1)))
    for m in _REG_SIZE.finditer(c):
        parts.append("the argument's _IOC_SIZE bytes" if m.group(1) == "size" else m.group(1) + " bytes")
    extra = []
    if "mem_ptr_parameter" in c:
        extra.append("and the buffers it points to")
    if re.search(r"after_syscall_action\s*\(\s*record_(?!page_below_stack_ptr)\w+", c):
        extra.append("and, after the call, the data it describes")
    if "record_page_below_stack_ptr" in c:
        extra.append("and the stack page below sp")
    if "if (size ==" in c or re.search(r"if\s*\(\s*size\s*==", c):
        extra.append("(only when the size is rr's struct size; else it expects EINVAL)")
    if parts or extra and "mem_ptr_parameter" in c:
        what = "records " + (", ".join(dict.fromkeys(parts)) if parts else "the argument")
        if extra:
            what += " " + " ".join(extra)
        return "records", what
    m = re.search(r"expect_errno\s*=\s*(E\w+)", c)
    if m:
        return "expects", "expects %s (the call must fail with it)" % m.group(1)
    return "passes", "lets it run unrecorded"


# --------------------------------------------------------------------------------------------------
# One tag

def parse_prepare_ioctl(src: str) -> Dict:
    """Labels in order with their region and action, and the rules that are not one name."""
    body = function_body(blank_comments(src), "prepare_ioctl")
    entries = []
    ranges = []
    irregular: List[int] = []
    read_check = False
    order = 0

    def add_switch(head: str, block: str, region: str) -> None:
        nonlocal order
        h = head.replace(" ", "")
        if h == "request":
            match = "exact"
        elif h == "IOCTL_MASK_SIZE(request)":
            match = "masked"
        elif h == "type":
            for labels, code in switch_cases(block):
                for lab in labels:
                    irregular.append(int(lab, 0))
            return
        else:
            return
        for labels, code in switch_cases(block):
            action, what = classify(code)
            for lab in labels:
                entries.append({"label": lab, "match": match, "region": region, "action": action,
                                "what": what, "order": order})
                order += 1

    for kind, head, block in top_statements(body):
        h = head.replace(" ", "")
        if kind == "switch":
            add_switch(head, block, "after_read_check" if read_check else "before_read_check")
        elif kind == "if" and "_IOC_READ&dir" in h and h.startswith("!"):
            read_check = True
            for k2, h2, b2 in top_statements(block):
                if k2 == "switch":
                    add_switch(h2, b2, "no_read")
        elif kind == "if":
            m = re.match(r"type==('.'|0x[0-9a-fA-F]+)&&nr>=(0x[0-9a-fA-F]+|\d+)&&nr<=(0x[0-9a-fA-F]+|\d+)", h)
            if m:
                t = m.group(1)
                tv = ord(t[1]) if t.startswith("'") else int(t, 16)
                action, what = classify(block)
                ranges.append({"type": tv, "nr_min": int(m.group(2), 0), "nr_max": int(m.group(3), 0),
                               "action": action, "what": what, "order": order,
                               "names": "EVIOCGBIT(ev, len) and EVIOCGABS(abs)" if tv == ord("E") else ""})
                order += 1
    if not read_check:
        raise ValueError("no `if (!(_IOC_READ & dir))` in prepare_ioctl")
    return {"entries": entries, "ranges": ranges, "irregular_types": sorted(set(irregular))}


def parse_ethtool(src: str) -> Optional[List[Dict]]:
    """The ETHTOOL_* sub-commands of rr's prepare_ethtool_ioctl (since 5.4.0), None when the tag has none."""
    try:
        body = function_body(blank_comments(src), "prepare_ethtool_ioctl")
    except ValueError:
        return None
    out = []
    for kind, head, block in top_statements(body):
        if kind == "switch" and head.replace(" ", "") == "cmd":
            for labels, code in switch_cases(block):
                action, what = classify(code.replace("(payload", "(3"))
                for lab in labels:
                    out.append({"label": lab, "action": action, "what": what})
    return out


def opening_policy(text: str) -> Dict:
    m = re.search(r"is_blacklisted_filename\s*\([^)]*\)\s*\{", text)
    if not m:
        return {}
    start = m.end() - 1
    body = text[start:matching(text, start)]
    prefixes = re.findall(r'(?:strprefix|strncmp)\(\s*"([^"]+)"\s*,\s*filename\b', body)
    exact = re.findall(r'(?:streq|strcmp)\(\s*"([^"]+)"\s*,\s*filename\s*\)', body)
    return {"prefix": prefixes, "exact": exact}


# --------------------------------------------------------------------------------------------------
# Label values

_IDENT = re.compile(r"[A-Za-z_]\w*")


def strip_mask(label: str) -> Tuple[str, bool]:
    m = re.fullmatch(r"IOCTL_MASK_SIZE\s*\((.*)\)", label.strip())
    return (m.group(1).strip(), True) if m else (label.strip(), False)


def supplement_blocks(text: str) -> str:
    """The `#ifndef NAME ... #endif` blocks of kernel_supplement.h that are plain C (defines, structs)."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if re.match(r"\s*#\s*ifndef\s+\w+", lines[i]):
            depth, j = 0, i
            while j < len(lines):
                if re.match(r"\s*#\s*if", lines[j]):
                    depth += 1
                elif re.match(r"\s*#\s*endif", lines[j]):
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            block = "\n".join(lines[i:j + 1])
            if not re.search(r"KernelConstants|namespace|template|\bstatic\b|inline|enum\b", block):
                out.append(block)
                i = j + 1
            else:  # an include guard or a C++ block: look inside it
                i += 1
        else:
            i += 1
    return "\n".join(out)


def _run_values(exprs: List[str], prelude: str, cxx: str = "g++") -> Dict[str, int]:
    """Compile and run one program printing each expression's value; expressions that do not compile
    are dropped (gcc's error lines say which) and the rest retried."""
    todo = list(dict.fromkeys(exprs))
    with tempfile.TemporaryDirectory() as d:
        for _attempt in range(8):
            if not todo:
                return {}
            lines = [prelude, "#include <stdio.h>", "int main() {", "#line 10000"]
            first = 10000
            idx = {}
            for k, e in enumerate(todo):
                idx[first + k] = e
                lines.append('  printf("%%d %%u\\n", %d, (unsigned)(%s));' % (k, e))
            lines.append("  return 0;\n}")
            src = os.path.join(d, "v.cc")
            with open(src, "w") as f:
                f.write("\n".join(lines) + "\n")
            exe = os.path.join(d, "v")
            p = subprocess.run([cxx, "-w", "-fpermissive", "-o", exe, src], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True)
            if p.returncode == 0:
                out = subprocess.run([exe], check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
                vals = {}
                for line in out.splitlines():
                    k, v = line.split()
                    vals[todo[int(k)]] = int(v)
                return vals
            bad = set()
            for m in re.finditer(r"v\.cc:(\d+):\d+: error", p.stdout):
                ln = int(m.group(1))
                if ln in idx:
                    bad.add(idx[ln])
            if not bad:
                raise RuntimeError("gen_rr_ioctls: prelude does not compile:\n" + p.stdout[:3000])
            todo = [e for e in todo if e not in bad]
    raise RuntimeError("gen_rr_ioctls: could not compile the label values")


def resolve_values(exprs: List[str], includes: List[str], supplement: str) -> Dict[str, Tuple[int, str]]:
    """expression -> (x86-64 value, where it came from)."""
    out: Dict[str, Tuple[int, str]] = {}
    base = "\n".join(includes)
    for e, v in _run_values(exprs, base).items():
        out[e] = (v, "host headers")
    rest = [e for e in exprs if e not in out]
    if rest:
        pre = base + "\n#include <stdint.h>\n" + supplement
        for e, v in _run_values(rest, pre).items():
            out[e] = (v, "rr src/kernel_supplement.h")
    rest = [e for e in exprs if e not in out]
    if rest:  # termios2 & co: asm/termbits.h conflicts with glibc's termios.h
        pre = "#include <asm/termbits.h>\n#include <asm/ioctls.h>\n#include <linux/serial.h>\n"
        for e, v in _run_values(rest, pre).items():
            out[e] = (v, "host <asm/ioctls.h>")
    return out


def host_headers_version() -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "linux-libc-dev"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True).stdout.strip()
        return "linux-libc-dev " + out if out else "host kernel headers"
    except OSError:
        return "host kernel headers"


# --------------------------------------------------------------------------------------------------

def derive(gitdir: str, verbose: bool = False) -> Dict:
    tags = release_tags(gitdir)
    mref, mcommit, mdate = master_ref(gitdir)
    points = [(t, t) for t in tags] + [("master", mref)]
    per: Dict[str, Dict] = {}
    policy: Dict[str, Dict] = {}
    ethtool: Dict[str, Optional[List[Dict]]] = {}
    for label, ref in points:
        src = git(gitdir, "show", "%s:%s" % (ref, SRC))
        per[label] = parse_prepare_ioctl(src)
        ethtool[label] = parse_ethtool(src)
        try:
            policy[label] = opening_policy(git(gitdir, "show", "%s:%s" % (ref, PRELOAD)))
        except subprocess.CalledProcessError:
            policy[label] = {}
        policy[label]["refuses_open"] = "Cowardly refusing to open" in src
        if verbose:
            print("%-7s %d labels" % (label, len(per[label]["entries"])), file=sys.stderr)
    msrc = git(gitdir, "show", "%s:%s" % (mref, SRC))
    includes = [l for l in msrc.splitlines()[:200] if re.match(r"#include <(linux|sys|mtd|scsi|sound|asm|arpa|"
                                                             r"poll|sched|termios|fcntl|errno|dirent|limits)", l)]
    stext = git(gitdir, "show", "%s:%s" % (mref, SUPPLEMENT))
    includes += [l for l in stext.splitlines() if re.match(r"#include <linux/", l) and l not in includes]
    supplement = supplement_blocks(stext)
    exprs = sorted({strip_mask(e["label"])[0] for p in per.values() for e in p["entries"]})
    values = resolve_values(exprs, includes, supplement)
    eexprs = sorted({c["label"] for cs in ethtool.values() if cs for c in cs})
    evalues = resolve_values(eexprs, includes, supplement)
    missing = [e for e in exprs if e not in values] + [e for e in eexprs if e not in evalues]
    if missing:
        raise SystemExit("gen_rr_ioctls: cannot resolve %s" % ", ".join(missing))

    try:
        sys.path.insert(0, str(REPO))
        from gdb_rr_dmabuf.ioctl.names import value_of  # the project's aarch64 table, for names it has
    except Exception:  # pragma: no cover
        value_of = None

    order_pts = [p for p, _ in points]
    # One row per (label, match) of the newest point that has it; first/last point it appears.
    rows: Dict[Tuple[str, str], Dict] = {}
    for pt in order_pts:
        for e in per[pt]["entries"]:
            key = (strip_mask(e["label"])[0], e["match"])
            r = rows.get(key)
            if r is None:
                r = rows[key] = {"first": pt, "points": []}
            r["points"].append(pt)
            r.update({k: e[k] for k in ("region", "action", "what")})
            r["per_point"] = r.get("per_point", {})
            r["per_point"][pt] = e
    table = []
    for (expr, match), r in rows.items():
        v, origin = values[expr]
        masked = v & ~(0x3FFF << 16)
        d = (v >> 30) & 3
        name = expr if re.fullmatch(r"[A-Z_][A-Z0-9_]*", expr) else expr
        row = {"name": name, "value": v, "match": match, "region": r["region"], "action": r["action"],
               "what": r["what"], "first": r["first"], "origin": origin}
        if r["points"] != order_pts[order_pts.index(r["first"]):]:
            row["points"] = r["points"]  # not in every point since its first (removed, or re-added)
        if value_of is not None and re.fullmatch(r"[A-Z_][A-Z0-9_]*", expr):
            try:
                a64 = value_of(expr, "aarch64")
            except Exception:
                a64 = None
            if a64 is not None and a64 != v:
                row["aarch64"] = a64
        # Changes of action across points
        acts = [(pt, (e["action"], e["what"])) for pt, e in r["per_point"].items()]
        if len({a for _, a in acts}) > 1:  # where what rr does changed: [point, action, what] at each change
            row["changes"] = [[pt, a[0], a[1]] for k, (pt, a) in enumerate(acts) if k == 0 or acts[k - 1][1] != a]
        if re.fullmatch(r"0x[0-9a-fA-F]+", expr):  # a bare number: rr's comment says what it is
            m = re.search(r"case\s+%s\s*:\s*//\s*(.*)" % re.escape(expr), msrc)
            if m:
                row["rr_comment"] = m.group(1).strip()
        table.append(row)

    # Reachability on master (and per point: a label unreachable somewhere is unreachable on master
    # too in rr's history so far; checked per point anyway).
    def unreachable_reason(row: Dict, pt: str) -> Optional[str]:
        e = row_point(row, pt)
        if e is None:
            return None
        v = row["value"]
        d = (v >> 30) & 3
        if row["match"] == "masked" and (v >> 16) & 0x3FFF and not strip_mask(e["label"])[1]:
            return "compared with the size-masked request, but its number has size bits"
        if e["region"] == "no_read" and d & IOC_READ:
            return "has _IOC_READ but sits in the block for requests without it"
        if e["region"] == "after_read_check" and not d & IOC_READ:
            return "has no _IOC_READ bit but sits after rr's READ check, so the no-READ rule takes it first"
        for rg in per[pt]["ranges"]:
            if rg["order"] < e["order"] and (v >> 8) & 0xFF == rg["type"] and rg["nr_min"] <= v & 0xFF <= rg["nr_max"]:
                return "inside the earlier type 0x%02x nr 0x%02x-0x%02x range" % (rg["type"], rg["nr_min"], rg["nr_max"])
        return None

    def row_point(row: Dict, pt: str) -> Optional[Dict]:
        return rows[(row["name"], row["match"])]["per_point"].get(pt)

    for row in table:
        last = (row.get("points") or order_pts)[-1]
        why = unreachable_reason(row, last)
        if why:
            row["unreachable"] = why
    # shadowed by an earlier label with the same effective number (first match wins)
    for pt in ["master"]:
        seen: Dict[Tuple[int, str], str] = {}
        for e in sorted(per[pt]["entries"], key=lambda e: e["order"]):
            expr = strip_mask(e["label"])[0]
            v = values[expr][0]
            key = v if e["match"] == "exact" else v & ~(0x3FFF << 16)
            for row in table:
                if row["name"] == expr and row["match"] == e["match"]:
                    if ("exact", v) in seen or ("masked", v & ~(0x3FFF << 16)) in seen and e["match"] == "masked":
                        prev = seen.get(("exact", v)) or seen.get(("masked", v & ~(0x3FFF << 16)))
                        if prev != expr:
                            row["same_number_as"] = prev
            seen.setdefault((e["match"], key), expr)
    table.sort(key=lambda r: (r["value"] & ~(0x3FFF << 16) if r["match"] == "masked" else r["value"], r["name"]))

    irregular = {}
    for pt in order_pts:
        for t in per[pt]["irregular_types"]:
            irregular.setdefault(t, pt)
    ranges = {}
    for pt in order_pts:
        for rg in per[pt]["ranges"]:
            k = (rg["type"], rg["nr_min"], rg["nr_max"])
            if k not in ranges:
                ranges[k] = {"type": rg["type"], "nr_min": rg["nr_min"], "nr_max": rg["nr_max"],
                             "action": rg["action"], "what": rg["what"], "first": pt, "names": rg["names"]}
    pol = {"source": PRELOAD + " is_blacklisted_filename; " + SRC
                     + " (open/openat: closes the fd and returns -ENOENT, \"Cowardly refusing to open\")",
           "paths": []}
    seenp = {}
    for pt in order_pts:
        p = policy[pt]
        for kind in ("prefix", "exact"):
            for path in p.get(kind, []):
                seenp.setdefault((kind, path), pt)
    for (kind, path), pt in seenp.items():
        if path.startswith("/dev/"):
            pol["paths"].append({"path": path, "kind": kind, "first": pt,
                                 "points": [q for q in order_pts if path in policy[q].get(kind, [])][-1]})
    for p in pol["paths"]:
        p["still_on_master"] = p.pop("points") == "master"
    pol["refuses_open_since"] = next((pt for pt in order_pts if policy[pt].get("refuses_open")), None)

    eth_rows: Dict[str, Dict] = {}
    for pt in order_pts:
        for c in ethtool[pt] or []:
            r = eth_rows.setdefault(c["label"], {"name": c["label"], "value": evalues[c["label"]][0], "first": pt})
            r.update({"action": c["action"], "what": c["what"]})
    eth = {"source": SRC + " prepare_ethtool_ioctl (SIOCETHTOOL's ETHTOOL_* sub-command; before it existed rr "
                           "recorded every SIOCETHTOOL alike)",
           "since": next((pt for pt in order_pts if ethtool[pt] is not None), None),
           "commands": sorted(eth_rows.values(), key=lambda r: r["value"])}

    return {
        "generated_by": "tools/gen_rr_ioctls.py",
        "rr": {"repository": "https://github.com/rr-debugger/rr", "file": SRC, "function": "prepare_ioctl",
               "releases": tags, "oldest_checked": tags[0], "master_commit": mcommit[:8],
               "master_commit_full": mcommit, "master_date": mdate},
        "values": "x86-64 numbers from %s (compiled with g++); 'aarch64' where the project's aarch64 name "
                  "table has another number" % host_headers_version(),
        "fields": {"name": "rr's case label (without IOCTL_MASK_SIZE)", "value": "the label's number (x86-64)",
                   "match": "exact: rr compares the whole request; masked: IOCTL_MASK_SIZE, any size matches",
                   "region": "before_read_check | no_read (inside if (!(_IOC_READ & dir))) | after_read_check",
                   "action": "records | passes (runs unrecorded) | emulates (rr answers, the kernel never sees it)",
                   "first": "first release tag (or 'master') whose prepare_ioctl has the label; '%s' means "
                            "that release or earlier" % tags[0],
                   "unreachable": "why rr never reaches the label (then the generic rule decides)"},
        "requests": table,
        "ranges": sorted(ranges.values(), key=lambda r: (r["type"], r["nr_min"])),
        "irregular_types": [{"type": t, "first": pt} for t, pt in sorted(irregular.items())],
        "opening_policy": pol,
        "ethtool": eth,
    }


def dump(data: Dict) -> str:
    """Compact but diffable: one request per line."""
    reqs = data["requests"]
    head = dict(data)
    head["requests"] = "@@"
    text = json.dumps(head, indent=1, sort_keys=False)
    rows = ",\n".join("  " + json.dumps(r, sort_keys=True, separators=(",", ":")) for r in reqs)
    return text.replace('"@@"', "[\n" + rows + "\n ]") + "\n"


def summary(data: Dict) -> str:
    from collections import Counter
    reqs = data["requests"]
    distinct = {(r["match"], r["value"] & ~(0x3FFF << 16) if r["match"] == "masked" else r["value"]) for r in reqs}
    lines = ["%d labels, %d distinct requests (%d exact, %d masked)" % (
        len(reqs), len(distinct), sum(1 for d in distinct if d[0] == "exact"),
        sum(1 for d in distinct if d[0] == "masked"))]
    lines.append("by first: " + ", ".join("%s %d" % kv for kv in sorted(
        Counter(r["first"] for r in reqs).items(), key=lambda kv: [int(x) for x in kv[0].split(".")] if kv[0][0].isdigit() else [99])))
    lines.append("by action: " + ", ".join("%s %d" % kv for kv in sorted(Counter(r["action"] for r in reqs).items())))
    lines.append("unreachable: " + ", ".join(r["name"] for r in reqs if r.get("unreachable")))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gitdir", help="rr git repository (clone or bare) with its tags")
    ap.add_argument("--out", default=str(OUT), help="output file (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args(argv)
    data = derive(a.gitdir, a.v)
    text = dump(data)
    if a.check:
        with open(a.out) as f:
            old = f.read()
        if old != text:
            print("gen_rr_ioctls: %s differs from what rr's history gives" % a.out, file=sys.stderr)
            return 1
        print(summary(data))
        return 0
    with open(a.out, "w") as f:
        f.write(text)
    print(summary(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
