"""gdb_rr_dmabuf/rr_ioctls.json against rr's own history.

With RR_SRC pointing at an rr git repository (a clone or a bare mirror with its tags; e.g.
`git clone https://github.com/rr-debugger/rr`), tools/gen_rr_ioctls.py re-derives the table and it must
equal the stored file, and single facts are checked straight in rr's source at a tag (git show / git
merge-base). Without RR_SRC those tests skip with one line; the stored table's own checks always run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "gdb_rr_dmabuf" / "rr_ioctls.json"
RR_SRC = os.environ.get("RR_SRC")
need_rr = pytest.mark.skipif(not RR_SRC, reason="RR_SRC not set: no rr git repository to re-derive the table from")

sys.path.insert(0, str(REPO / "tools"))


def data():
    with open(TABLE) as f:
        return json.load(f)


def row(name):
    rows = [r for r in data()["requests"] if r["name"] == name]
    assert len(rows) == 1, name
    return rows[0]


def git(*args):
    return subprocess.run(["git", "-C", RR_SRC] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, errors="replace", timeout=60)


def show(tag, path="src/record_syscall.cc"):
    p = git("show", "%s:%s" % (tag, path))
    assert p.returncode == 0, p.stderr
    return p.stdout


def prepare_ioctl_text(tag):
    text = show(tag)
    start = text.index("static Switchable prepare_ioctl(")
    return text[start:text.index("\n}\n", start)]


# --------------------------------------------------------------------------------------------------
# Re-derivation

@need_rr
def test_table_is_what_rr_history_gives():
    import gen_rr_ioctls
    derived = gen_rr_ioctls.dump(gen_rr_ioctls.derive(RR_SRC))
    stored = TABLE.read_text()
    if derived != stored:
        a, b = json.loads(derived), json.loads(stored)
        assert a["rr"] == b["rr"], "rr master moved: regenerate with tools/gen_rr_ioctls.py"
        assert a["requests"] == b["requests"]
        assert a == b


# --------------------------------------------------------------------------------------------------
# Facts in rr's source at a tag (ground truth outside the generator)

@need_rr
def test_export_sync_file_first_in_5_9_0():
    assert "DMA_BUF_IOCTL_EXPORT_SYNC_FILE" not in prepare_ioctl_text("5.8.0")
    assert "IOCTL_MASK_SIZE(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)" in prepare_ioctl_text("5.9.0")
    assert git("merge-base", "--is-ancestor", "db5faf83", "5.9.0").returncode == 0
    assert git("merge-base", "--is-ancestor", "db5faf83", "5.8.0").returncode == 1
    r = row("DMA_BUF_IOCTL_EXPORT_SYNC_FILE")
    assert (r["first"], r["match"], r["action"], r["value"]) == ("5.9.0", "masked", "records", 0xC0086202)


@need_rr
def test_nvidia_0xc020462a_enotty_since_5_6_0():
    assert "0xc020462a" not in prepare_ioctl_text("5.5.0")
    t = prepare_ioctl_text("5.6.0")
    i = t.index("case 0xc020462a")
    assert "emulate_result(-ENOTTY)" in t[i:i + 300]
    r = row("0xc020462a")
    assert (r["first"], r["match"], r["action"]) == ("5.6.0", "exact", "emulates")
    assert "ENOTTY" in r["what"]


@need_rr
def test_tcgets2_master_only():
    assert "TCGETS2" not in prepare_ioctl_text("5.9.0")
    assert "IOCTL_MASK_SIZE(TCGETS2)" in prepare_ioctl_text("master")
    assert git("merge-base", "--is-ancestor", "4af0789c", "master").returncode == 0
    assert git("merge-base", "--is-ancestor", "4af0789c", "5.9.0").returncode == 1
    assert row("TCGETS2")["first"] == "master"


@need_rr
def test_opening_policy_in_rr_source():
    pre = show("master", "src/preload/preload_interface.h")
    i = pre.index("is_blacklisted_filename(const char* filename)")
    body = pre[i:i + 600]
    for path in ('"/dev/dri/"', '"/dev/nvidiactl"', '"/dev/nvidia-uvm"'):
        assert path in body
    assert '"/dev/nvidia-uvm"' not in show("5.2.0", "src/preload/preload_interface.h")
    assert '"/dev/nvidia-uvm"' in show("5.3.0", "src/preload/preload_interface.h")
    assert "Cowardly refusing to open" in show("master")
    pol = {p["path"]: p for p in data()["opening_policy"]["paths"]}
    assert pol["/dev/nvidia-uvm"]["first"] == "5.3.0" and pol["/dev/dri/"]["kind"] == "prefix"


@need_rr
def test_ethtool_sub_commands():
    assert "prepare_ethtool_ioctl" not in show("5.3.0") and "unknown ETHTOOL command" in show("5.4.0")
    assert "case ETHTOOL_GLINK" not in show("5.4.0") and "case ETHTOOL_GLINK" in show("5.5.0")
    eth = data()["ethtool"]
    assert eth["since"] == "5.4.0"
    cmds = {c["name"]: c for c in eth["commands"]}
    assert (cmds["ETHTOOL_GLINK"]["value"], cmds["ETHTOOL_GLINK"]["first"]) == (10, "5.5.0")
    assert cmds["ETHTOOL_GSTRINGS"]["action"] == "emulates"


@need_rr
def test_every_master_label_is_in_the_table():
    import gen_rr_ioctls
    parsed = gen_rr_ioctls.parse_prepare_ioctl(show("master"))
    names = {gen_rr_ioctls.strip_mask(e["label"])[0] for e in parsed["entries"]}
    assert names == {r["name"] for r in data()["requests"]}
    # a label that is only in a comment is not an entry
    assert "JSIOCGCORR" in prepare_ioctl_text("master") and "JSIOCGCORR" not in names


# --------------------------------------------------------------------------------------------------
# The stored table: its counts against knowledge/rr.md (measured by reading rr master 5c202cd8)

def test_counts_match_the_knowledge_file():
    d = data()
    reqs = d["requests"]
    assert d["rr"]["master_commit"] == "5c202cd8" and d["rr"]["master_date"] == "2026-08-17"
    distinct = {(r["match"], r["value"] & ~(0x3FFF << 16) if r["match"] == "masked" else r["value"]) for r in reqs}
    assert len(distinct) == len(reqs) == 269
    assert Counter(r["match"] for r in reqs) == {"exact": 103, "masked": 166}
    assert Counter(r["action"] for r in reqs) == {"records": 172, "passes": 95, "emulates": 2}
    first = Counter(r["first"] for r in reqs)
    up_to_5_4 = sum(n for f, n in first.items() if f != "master" and tuple(map(int, f.split("."))) <= (5, 4, 0))
    assert up_to_5_4 == 180
    assert [first[t] for t in ("5.5.0", "5.6.0", "5.7.0", "5.8.0", "5.9.0", "master")] == [15, 16, 5, 2, 36, 15]
    assert not any("points" in r for r in reqs)  # no label was ever removed


def test_rules_that_are_not_one_name():
    d = data()
    assert [(g["type"], g["nr_min"], g["nr_max"]) for g in d["ranges"]] == [(ord("E"), 0x20, 0x7F)]
    assert {t["type"]: t["first"] for t in d["irregular_types"]} == {0x54: "4.3.0", 0x89: "4.3.0", 0x8B: "4.4.0"}
    unreachable = {r["name"] for r in d["requests"] if r.get("unreachable")}
    assert {"FUSE_DEV_IOC_BACKING_OPEN", "FUSE_DEV_IOC_BACKING_CLOSE", "FUSE_DEV_IOC_SYNC_INIT",
            "OTPGETREGIONCOUNT", "OTPGETREGIONINFO"} <= unreachable
    for r in d["requests"]:  # unreachable exactly when the READ bit is on the wrong side of rr's check
        has_read = bool((r["value"] >> 30) & 2)
        wrong = (r["region"] == "no_read" and has_read) or (r["region"] == "after_read_check" and not has_read)
        assert bool(r.get("unreachable")) == wrong, r["name"]


def test_master_only_requests():
    master = {r["name"] for r in data()["requests"] if r["first"] == "master"}
    assert {"0xc0181b01", "TIOCLINUX", "TIOCMGET", "TIOCMSET", "TIOCSERGETLSR", "SIOCOUTQNSD", "TIOCGICOUNT",
            "TCGETS2", "TCSETS2", "TCSETSW2", "TCSETSF2", "FUSE_DEV_IOC_CLONE", "FUSE_DEV_IOC_BACKING_OPEN",
            "FUSE_DEV_IOC_BACKING_CLOSE", "FUSE_DEV_IOC_SYNC_INIT"} == master


def test_values_follow_the_ioc_encoding():
    from gdb_rr_dmabuf.ioctl.names import value_of
    checked = 0
    for r in data()["requests"]:
        n = r["name"]
        if not n.replace("_", "").isalnum() or n.startswith("0x"):
            continue
        v = value_of(n, "x86-64")
        if v is not None:
            checked += 1
            assert v == r["value"], n  # the project's x86-64 name table (kernel headers) agrees
        a = value_of(n, "aarch64")
        if a is not None and a != r["value"]:
            assert r.get("aarch64") == a, n
    assert checked > 100


# --------------------------------------------------------------------------------------------------
# The numbers against strace's ioctl tables (STRACE_SRC: a strace git repository), x86-64 and aarch64

STRACE_SRC = os.environ.get("STRACE_SRC")


def _strace_table(files):
    import re
    ent = re.compile(r'\{\s*"([^"]+)",\s*"(\w+)",\s*([_A-Z|0 ]+),\s*(0x[0-9a-fA-F]+),\s*(0x[0-9a-fA-F]+|0)\s*\}')
    inc = re.compile(r'#include\s+"([^"]+)"')
    dirs = {"0": 0, "_IOC_NONE": 0, "_IOC_WRITE": 1, "_IOC_READ": 2, "_IOC_READ|_IOC_WRITE": 3}
    out, todo, seen = {}, list(files), set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        p = subprocess.run(["git", "-C", STRACE_SRC, "show", "HEAD:" + f], stdout=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        if p.returncode != 0:
            continue
        for m in inc.finditer(p.stdout):
            todo.append(os.path.normpath(os.path.join(os.path.dirname(f), m.group(1))))
        for m in ent.finditer(p.stdout):
            d = dirs.get(m.group(3).replace(" ", ""))
            if d is not None:
                out.setdefault(m.group(2), set()).add((d << 30) | (int(m.group(5), 16) << 16) | int(m.group(4), 16))
    return out


@pytest.mark.skipif(not STRACE_SRC, reason="STRACE_SRC not set: no strace git repository to check the numbers with")
def test_numbers_agree_with_strace():
    tables = {"x86-64": _strace_table(["src/linux/x86_64/ioctls_inc0.h", "src/linux/x86_64/ioctls_arch0.h"]),
              "aarch64": _strace_table(["src/linux/aarch64/ioctls_inc0.h", "src/linux/aarch64/ioctls_arch0.h"])}
    for arch, t in tables.items():
        checked = 0
        for r in data()["requests"]:
            if r["name"] in t:
                checked += 1
                v = r.get("aarch64", r["value"]) if arch == "aarch64" else r["value"]
                assert v in t[r["name"]], (arch, r["name"], hex(v), sorted(hex(x) for x in t[r["name"]]))
        assert checked >= 240, (arch, checked)
    for c in data()["ethtool"]["commands"]:
        assert 0 < c["value"] < 0x100, c  # ETHTOOL_* sub-commands are small numbers (linux/ethtool.h)
