"""Real rr "Unknown ioctl" lines from rr's issue tracker (tests/data/rr_lines/lines.json, each with its
issue number), pasted into real gdb the way users do: `dmabuf-why --from-log '<rr's line>'`, in text and
JSON. The expected verdict and advice come from rr's own history: an evaluator below, independent of
gdb_rr_dmabuf/rr.py, walks gdb_rr_dmabuf/rr_ioctls.json (generated from rr's source at every tag by
tools/gen_rr_ioctls.py; tests/test_rr_table.py re-derives it when RR_SRC is given) release by release.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from tests.support.gdbrun import GDBINIT, REPO, gdb_env, run_gdb

DATA = REPO / "tests" / "data" / "rr_lines" / "lines.json"
TABLE = REPO / "gdb_rr_dmabuf" / "rr_ioctls.json"
MASTER = "rr master 2026-08-17 5c202cd8"

# Every request of the collected lines has a name in gdb_rr_dmabuf/ioctl/ioctl_names.txt (plain-number
# socket/tty defines and HIDIOCGFEATURE(len) included), so each must be named.
EXPECT_NEW_NAMES = True
NEW_NAMES = {"SIOCOUTQNSD", "SIOCADDMULTI", "SIOCGMIIPHY", "SIOCGMIIREG", "FIONBIO", "SIOCGIFBR",
             "HIDIOCGFEATURE(64)"}


def lines() -> List[dict]:
    with open(DATA) as f:
        return json.load(f)["lines"]


# ------------------------------------------------------------------------------------------------
# What rr's prepare_ioctl does, release by release, straight from the generated table

class RrHistory:
    def __init__(self):
        with open(TABLE) as f:
            d = json.load(f)
        self.releases = d["rr"]["releases"]
        self.points = self.releases + ["master"]
        self.rows = d["requests"]
        self.ranges = d["ranges"]
        self.irregular = {t["type"]: t["first"] for t in d["irregular_types"]}

    def _since(self, first: str, point: str) -> bool:
        return self.points.index(point) >= self.points.index(first)

    def by_name(self, req: int, point: str) -> Optional[dict]:
        """The entry (or range) rr reaches for req at that point, None when only the generic rules apply."""
        read = bool((req >> 30) & 2)
        masked = req & ~(0x3FFF << 16)
        for r in self.rows:
            if r["match"] == "exact" and r["value"] == req and self._since(r["first"], point):
                return r
        regions = ["no_read"] if not read else ["after_read_check"]
        if read:
            for g in self.ranges:
                if (req >> 8) & 0xFF == g["type"] and g["nr_min"] <= req & 0xFF <= g["nr_max"] \
                        and self._since(g["first"], point):
                    return dict(g, name="range")
        for r in self.rows:
            if r["match"] == "masked" and r["region"] in regions and r["value"] & ~(0x3FFF << 16) == masked \
                    and self._since(r["first"], point):
                return r
        return None

    def checks(self, req: int, point: str) -> bool:
        """Does rr at that point expect EINVAL (so a successful call stops it)?"""
        if self.by_name(req, point) is not None:
            return False
        if (req >> 30) & 2:
            return True
        t = (req >> 8) & 0xFF
        return t in self.irregular and self._since(self.irregular[t], point)

    def first(self, req: int) -> Optional[str]:
        for p in self.points:
            if self.by_name(req, p) is not None:
                return p
        return None


H = RrHistory()


def stops(result: int) -> bool:
    return result not in (-22, -25)


# ------------------------------------------------------------------------------------------------

def _paste(line: str) -> str:
    return " ".join(line.split())  # a terminal line: one line of text as the user copies it


def _commands(items):
    cmds = []
    for it in items:
        text = _paste(it["line"])
        cmds.append("dmabuf-why --verbose --from-log '%s'" % text)
        cmds.append("dmabuf-why --json --from-log '%s'" % text)
        first = H.first(it["req"])
        if first not in (None, "master"):
            cmds.append("dmabuf-why --json --rr-version %s --from-log '%s'" % (first, text))
            before = [p for p in H.releases if H.points.index(p) < H.points.index(first)]
            if before:
                cmds.append("dmabuf-why --json --rr-version %s --from-log '%s'" % (before[-1], text))
        if it.get("rr_version"):
            cmds.append("dmabuf-why --json --rr-version %s --from-log '%s'" % (it["rr_version"], text))
    return cmds


@pytest.fixture(scope="module")
def pasted():
    from gdb_rr_dmabuf.rr import parse_assertion
    items = []
    for it in lines():
        it = dict(it)
        it["req"] = parse_assertion(it["line"]).request  # (rr's line as such)
        it["result"] = parse_assertion(it["line"]).result
        items.append(it)
    cmds = _commands(items)
    res = run_gdb(["load_plugin", "run_commands"], None, commands=cmds, timeout=300)
    out = {}
    for i, c in enumerate(cmds):
        out[c] = res.section("c%d" % i)
    return items, out


def test_collected_enough_real_lines():
    items = lines()
    reqs = {re.search(r"Unknown ioctl\(\s*(0x[0-9a-f]+)", it["line"]).group(1) for it in items}
    assert len(reqs) >= 15, sorted(reqs)
    assert all(isinstance(it["issue"], int) for it in items)


def _json(text: str) -> dict:
    return json.JSONDecoder().raw_decode(text[text.index("{"):])[0]


@pytest.mark.parametrize("idx", range(len(lines())))
def test_real_line(pasted, idx):
    from gdb_rr_dmabuf.ioctl.names import names_for
    items, out = pasted
    it = items[idx]
    req, result = it["req"], it["result"]
    text = _paste(it["line"])
    t = out["dmabuf-why --verbose --from-log '%s'" % text]
    j = _json(out["dmabuf-why --json --from-log '%s'" % text])
    assert "internal error" not in t and "unrecognized" not in t and "error" not in j, t

    # the request and its name
    assert j["request"]["value"] == req and j["source"] == "log"
    first = H.first(req)
    name = it["name"]
    if name is not None and (name not in NEW_NAMES or EXPECT_NEW_NAMES):
        assert name.split("(")[0] in " ".join(j["request"]["names"]), (it["issue"], j["request"]["names"])
        assert t.splitlines()[0].startswith("ioctl ") and name.split("(")[0] in t.splitlines()[0]
    if name is not None and names_for(req):
        assert name.split("(")[0] in names_for(req)[0] or name.split("(")[0] in " ".join(names_for(req))
    if first is not None:  # rr's own label for it is shown either way
        label = H.by_name(req, "master")["name"]
        assert label in t or (j["rr"]["rr_name"] or "") in t, (it["issue"], label)

    # rr's verdict, release by release
    checking = [p for p in H.releases if H.checks(req, p)]
    rr = j["rr"]
    assert rr["supported_since"] == (first if first not in (None, "master") else None), it["issue"]
    assert rr["master_only"] == (first == "master")
    if not checking:
        assert rr["would_stop"] is False and rr["stops_in"] == "none"
    else:
        assert rr["would_stop"] is stops(result)
        if checking == H.releases:
            assert rr["stops_in"] == "every release"
        elif checking[0] == H.releases[0]:
            assert rr["stops_in"] == "before %s" % H.releases[H.releases.index(checking[-1]) + 1]
        else:
            assert rr["stops_in"] == "%s to %s" % (checking[0], checking[-1])
    flat = " ".join(t.split())
    assert " ".join(rr["explanation"].split()) in flat or rr["explanation"].split(".")[0] in flat

    # advice
    ids = [s["rule_id"] for s in j["suggestions"]]
    texts = " ".join(s["text"] for s in j["suggestions"])
    if not checking or not stops(result):
        assert j["suggestions"] == []
    elif first == "master":
        assert "rr-master-only" in ids and "rr-no-release" not in ids and "rr-upgrade" not in ids
        assert "Build rr from source" in texts and "after 5.9.0" in texts
    elif first is None:
        assert "rr-no-release" in ids and "rr-upgrade" not in ids and "rr-master-only" not in ids
        assert "(as of %s)" % MASTER in texts
    else:
        assert "rr-upgrade" in ids and "rr-no-release" not in ids
        assert "Upgrade to rr %s or later" % first in texts
    if (req >> 8) & 0xFF == ord("d") and checking:
        assert "rr-open-refused" in ids and "/dev/dri/" in texts
    else:
        assert "rr-open-refused" not in ids
    if "Upgrade to rr" in flat or "Build rr from source" in flat or "No rr release handles" in flat:
        assert j["suggestions"], "text and JSON agree"

    # --rr-version changes the verdict
    if first not in (None, "master"):
        v = _json(out["dmabuf-why --json --rr-version %s --from-log '%s'" % (first, text)])["rr"]
        assert v["would_stop"] is False and v["handled_by_name"] is True and v["rr_version"] == first
        before = [p for p in H.releases if H.points.index(p) < H.points.index(first)]
        if before:
            v = _json(out["dmabuf-why --json --rr-version %s --from-log '%s'" % (before[-1], text)])["rr"]
            assert v["handled_by_name"] is False
            assert v["would_stop"] is (H.checks(req, before[-1]) and stops(result))
    if it.get("rr_version"):
        v = _json(out["dmabuf-why --json --rr-version %s --from-log '%s'" % (it["rr_version"], text)])["rr"]
        assert v["rr_version"] == it["rr_version"]
        assert v["would_stop"] is (H.checks(req, it["rr_version"]) and stops(result))


# ------------------------------------------------------------------------------------------------
# The other ways in: a file, standard input, rr's multi-line text, long numbers

def test_from_log_file_and_stdin(tmp_path):
    it = next(x for x in lines() if x["issue"] == 3068)  # rr's line wrapped inside "Unknown ioctl(\n0x..."
    f = tmp_path / "rr.log"
    f.write_text("rr: Saving execution to trace directory `/x'.\n[FATAL src/record_syscall.cc:6051:"
                 "rec_process_syscall_arch()]\n (task 1 (rec:1) at time 2)\n" + it["line"] + "\nTail of trace dump:\n")
    res = run_gdb(["load_plugin", "run_commands"], None, commands=[
        "dmabuf-why --json --from-log-file %s" % f, "dmabuf-why --from-log-file %s" % f,
        "dmabuf-why --from-log-file %s" % (tmp_path / "missing"),
        "dmabuf-why --json --from-log-file %s" % (tmp_path / "missing")])
    j = _json(res.section("c0"))
    assert j["request"]["value"] == 0x801C581F and j["rr"]["supported_since"] == "5.6.0"
    assert "FS_IOC_FSGETXATTR" in res.section("c1")
    err = res.section("c2").strip().splitlines()
    assert len(err) == 1 and "cannot read it" in err[0]
    assert "error" in _json(res.section("c3"))
    # standard input
    p = subprocess.run(["gdb", "-nx", "-q", "-batch", "-x", str(GDBINIT), "-ex", "dmabuf-why --json --from-log-file -"],
                       input=it["line"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                       env=gdb_env(), cwd=str(REPO), timeout=120)
    assert _json(p.stdout)["request"]["value"] == 0x801C581F, p.stdout


def test_from_log_edge_cases():
    big = "9" * 5000
    res = run_gdb(["load_plugin", "run_commands"], None, commands=[
        "dmabuf-why --from-log Unknown ioctl(0xc0086202)",  # no "Expected" part: no internal error
        "dmabuf-why --json --from-log Unknown ioctl(0xc0086202)",
        "dmabuf-why --from-log 'Unknown ioctl(%s)'" % big,
        "dmabuf-why --json --from-log 'Expected EINVAL for 'ioctl' but got result %s (errno SUCCESS); "
        "Unknown ioctl(0x5401)'" % big,
        "dmabuf-why --rr-version 5.%s --request 0xc0086202" % big,
        "dmabuf-why --from-log",
        "dmabuf-why --from-log 'Expected EINVAL for 'ioctl' but got result 0 (errno SUCCESS); Unknown "
        "ioctl(0xc0086202): type:0x62 nr:0x2 dir:0x3 size:8 addr:0x7ffd5e1c3b40' --json --rr-version 5.9.0",
    ])
    t = res.section("c0")
    assert "internal error" not in t and "DMA_BUF_IOCTL_EXPORT_SYNC_FILE" in t and "result not in the text" in t
    assert _json(res.section("c1"))["rr"]["supported_since"] == "5.9.0"
    for c in ("c2", "c4", "c5"):
        out = res.section(c).strip().splitlines()
        assert len(out) == 1 and out[0].startswith("dmabuf-why: ") and "internal" not in out[0], out
    assert "too long" in _json(res.section("c3"))["error"]["what"]
    j = _json(res.section("c6"))  # options after the closing quote still count
    assert j["rr"]["rr_version"] == "5.9.0" and j["rr"]["would_stop"] is False
    env = {"GDB_RR_DMABUF_RR_VERSION": "5." + big}
    res = run_gdb(["load_plugin", "run_commands"], None, env=env, commands=["dmabuf-why --request 0xc0086202"])
    out = res.section("c0").strip().splitlines()
    assert len(out) == 1 and "GDB_RR_DMABUF_RR_VERSION" in out[0] and "internal" not in out[0]
