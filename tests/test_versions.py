"""RRVersion and GoVersion (gdb_rr_dmabuf/versions.py), against what rr and Go themselves print and say.

Go: every toolchain here (.cache/go) gives three strings: its VERSION file, `go version`, and, built with a
GOEXPERIMENT, the version a binary carries (`go version EXE` reads it back). Their release family is Go's
own: the toolchain's src/internal/goversion/goversion.go `const Version = N` (the 1.N release). The devel
and experiment forms are made with the formats the toolchain's own source uses (cmd/dist/build.go,
cmd/link/internal/ld/main.go), and go/version's test tables (src/go/version/version_test.go) give Go's own
Lang and Compare answers.

rr: rr prints `rr version X.Y.Z` (src/main.cc print_version: fprintf(out, "rr version %s\\n", RR_VERSION));
the release tags are those of rr's git history in rr_ioctls.json and rr_lines.json; the reporters of real
logs (tests/data/rr_logs/index.json "reporter_says") name their release.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdb_rr_dmabuf import rrlog
from gdb_rr_dmabuf.go_runtime.binary import GoBinary
from gdb_rr_dmabuf.versions import GoVersion, RRVersion
from tests.support.toolchains import ALL_GO, SUPPORTED_GO, build_go, go_root

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "gdb_rr_dmabuf"
RR_LOGS = REPO / "tests" / "data" / "rr_logs"


# ------------------------------------------------------------------------------------------------ Go
def _goversion_const(root: Path) -> int:
    """N of `const Version = N` in the toolchain's internal/goversion (Go's own idea of its 1.N)."""
    src = (root / "src" / "internal" / "goversion" / "goversion.go").read_text()
    return int(re.search(r"(?m)^const Version = (\d+)", src).group(1))


def _go_env(root: Path) -> dict:
    env = dict(os.environ)
    env.update({"GOROOT": str(root), "GOTOOLCHAIN": "local", "GOFLAGS": "", "GOPROXY": "off"})
    return env


@pytest.mark.parametrize("version", SUPPORTED_GO)
def test_toolchain_version_strings(version):
    root = go_root(version)
    want = GoVersion(1, _goversion_const(root))
    file_line = (root / "VERSION").read_text().splitlines()[0]
    said = subprocess.run([str(root / "bin" / "go"), "version"], stdout=subprocess.PIPE, universal_newlines=True,
                          env=_go_env(root), timeout=120, check=True).stdout
    assert said.startswith("go version " + file_line + " "), said
    assert GoVersion.parse(file_line) == want
    assert GoVersion.parse(said) == want
    assert str(want) == "1.%d" % want.minor and GoVersion.parse(str(want)) == want
    # a development build of this tree, as its cmd/dist names one ('devel go1.N-' before 1.25,
    # 'go1.N-devel_' since), followed by the commit and its date
    dist = (root / "src" / "cmd" / "dist" / "build.go").read_text()
    fmt = re.search(r'version := fmt\.Sprintf\("([^"]*%s[^"]*)", m\[1\]\)', dist).group(1)
    devel = fmt % want.minor + "1234abcd Tue Nov 26 02:01:51 2024 +0000"
    assert GoVersion.parse(devel) == want, devel
    # an experiment, as its linker appends one to runtime.buildVersion (' X:' or, since 1.26, '-X:' when
    # the version has no '-')
    link = (root / "src" / "cmd" / "link" / "internal" / "ld" / "main.go").read_text()
    seps = [" "] + (["-"] if 'sep = "-"' in link else [])
    for sep in seps:
        assert GoVersion.parse(file_line + sep + "X:arenas") == want
        assert GoVersion.parse(devel + sep + "X:arenas,nocoverageredesign") == want


@pytest.mark.parametrize("version", [ALL_GO[0], ALL_GO[-1]])
def test_binary_built_with_an_experiment(version):
    """A real binary's runtime.buildVersion and build info with an experiment on ('go1.21.13 X:arenas',
    'go1.27.3-X:arenas'): what GoBinary reads is what `go version EXE` reads, and its family is Go's."""
    root = go_root(version)
    exe = build_go("layoutprobe", version, env={"GOEXPERIMENT": "arenas"})
    said = subprocess.run([str(root / "bin" / "go"), "version", str(exe)], stdout=subprocess.PIPE,
                          universal_newlines=True, env=_go_env(root), timeout=120, check=True).stdout
    carried = said.split(": ", 1)[1].strip()
    assert "X:arenas" in carried
    b = GoBinary.open(str(exe))
    assert b.go_version == carried and b.runtime_build_version() == carried
    assert GoVersion.parse(b.go_version) == GoVersion(1, _goversion_const(root))


def _go_test_table(name: str) -> list:
    """The rows of a go/version test table ({"a", "b"} or {"a", "b", n}) of the newest toolchain."""
    src = (go_root(SUPPORTED_GO[-1]) / "src" / "go" / "version" / "version_test.go").read_text()
    body = src[src.index("var %s = " % name):]
    body = body[:body.index("\n}\n")]
    return [(m.group(1), m.group(2), m.group(3)) for m in
            re.finditer(r'\{"([^"]*)", "([^"]*)"(?:, (-?\d+))?\}', body)]


def test_go_lang_table():
    """go/version.Lang: the family of 'go1.2rc3', 'go1.2.3', 'go1.999testmod' is go1.2 / go1.999."""
    rows = [(a, b) for a, b, _ in _go_test_table("langTests") if re.fullmatch(r"go1\.\d+", b)]
    assert len(rows) >= 4
    for text, lang in rows:
        assert GoVersion.parse(text) == GoVersion.parse(lang) == GoVersion(1, int(lang[4:])), text


def test_go_compare_table():
    """go/version.Compare across families ('go1.5' < 'go1.10': numbers, not text) agrees with the order."""
    rows = [(a, b, int(n)) for a, b, n in _go_test_table("compareTests")]
    checked = 0
    for a, b, cmp in rows:
        va, vb = GoVersion.parse(a), GoVersion.parse(b)
        if va is None or vb is None or va == vb or not a.startswith("go1.") or not b.startswith("go1."):
            continue
        assert (va > vb) - (va < vb) == cmp, (a, b)
        checked += 1
    assert checked >= 3


def test_go_table_keys():
    """The per-release tables' keys are families: they parse to themselves."""
    from gdb_rr_dmabuf.go_runtime.layouts import KNOWN, MODULEDATA, PCLNTAB_FORMATS
    from gdb_rr_dmabuf.go_runtime.pclntab import FUNCID_TABLES
    waits = json.loads((PKG / "go_runtime" / "waitreasons.json").read_text())["releases"]
    formats = [f.go for f in PCLNTAB_FORMATS.values()]
    for key in list({go for go, _ in KNOWN}) + list(FUNCID_TABLES) + list(waits) + list(MODULEDATA) + formats:
        assert str(GoVersion.parse(key)) == key


@pytest.mark.parametrize("text,want", [
    # what both former parsers (layouts.parse_go_version, pclntab.go_minor) read alike
    ("go1.23.4", 23), ("go1.21rc2", 21), ("devel go1.27-abcdef Tue", 27), ("go1.22.10", 22), ("1.21.13", 21),
    ("go1.27.3-X:arenas", 27), ("go1.2345", 2345), ("go1.x go1.22", 22),
    # what only one of them read (the union): leading blanks and long strings (parse_go_version) ...
    ("  1.23.4", 23), ("x" * 300 + " go1.22", 22),
    # ... and a minor of more than 6 digits, no release (go_minor: None)
    ("go1.1234567", None),
    (None, None), ("", None), ("gccgo", None), ("go2", None), ("go1", None), ("weird", None),
    ("devel +b7a03f8 Fri Nov 26 2021", None), ("1.", None), ("go1.", None),
])
def test_go_parse(text, want):
    assert GoVersion.parse(text) == (None if want is None else GoVersion(1, want))


def test_go_parse_is_bounded():
    assert GoVersion.parse("go1." + "9" * 100000) is None
    assert GoVersion.parse("go1" * 100000) is None


@settings(max_examples=200, deadline=None)
@given(minor=st.integers(0, 999999), patch=st.integers(0, 999999),
       tail=st.sampled_from(["", "rc1", "beta2", " X:arenas", "-X:arenas", "-devel_abc Tue", ".%d"]))
def test_go_roundtrip(minor, patch, tail):
    v = GoVersion.parse("go1.%d%s" % (minor, tail.replace("%d", str(patch))))
    assert v == GoVersion(1, minor) == (1, minor) and GoVersion.parse(str(v)) == v


# ------------------------------------------------------------------------------------------------ rr
def _rr_tags() -> list:
    tags = json.loads((PKG / "rr_ioctls.json").read_text())["rr"]["releases"]
    tags += json.loads((PKG / "rr_lines.json").read_text())["rr"]["releases"]
    return sorted(set(tags), key=lambda t: [int(x) for x in t.split(".")])


def test_rr_release_tags():
    """Every release tag of rr's history: `rr --version`'s line for it reads back as the tag; tags order
    as rr numbered them."""
    tags = _rr_tags()
    assert len(tags) >= 30 and "5.9.0" in tags
    for tag in tags:
        v = RRVersion.from_tag(tag)
        assert v is not None and str(v) == tag
        assert RRVersion.parse("rr version %s\n" % tag) == v == RRVersion.parse(tag)
        assert RRVersion.parse("v" + tag) == v
    vs = [RRVersion.from_tag(t) for t in tags]
    assert vs == sorted(vs) and len(set(vs)) == len(vs)
    for listed in (json.loads((PKG / "rr_ioctls.json").read_text())["rr"]["releases"],
                   json.loads((PKG / "rr_lines.json").read_text())["rr"]["releases"]):
        assert [RRVersion.from_tag(t) for t in listed] == sorted(RRVersion.from_tag(t) for t in listed)


def test_rr_release_of_real_logs():
    """Reporters who named their rr release, where the log's line pins one release: the release the
    verdict uses is that one, as an RRVersion."""
    index = json.loads((RR_LOGS / "index.json").read_text())["logs"]
    checked = 0
    for e in index:
        said = RRVersion.parse((e.get("reporter_says") or {}).get("release"))
        if said is None:
            continue
        rel = rrlog.parse((RR_LOGS / e["file"]).read_text()).release
        if rel is None or len(rel.releases) != 1:
            continue
        assert isinstance(rel.version, RRVersion) and rel.version == said, (e["file"], rel)
        assert rel.text == "rr %s" % (said,)  # a NamedTuple is a tuple: never `"%s" % version`
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("text,want", [
    ("rr version 5.8.0", (5, 8, 0)), ("rr version 5.8.0\n", (5, 8, 0)), ("5.8.0", (5, 8, 0)),
    ("5.9", (5, 9, 0)), ("v5.9.1", (5, 9, 1)), ("  5.9.0  ", (5, 9, 0)), ("5.10.0", (5, 10, 0)),
    ("rr version 5.9.0-23-gdb5faf83", (5, 9, 0)), ("rr version v5.9.1", (5, 9, 1)),
    ("$ rr --version\nrr version 5.7.0\n", (5, 7, 0)),
    # text before the number is read only as rr's own "rr version" line
    ("release 5.9.0", None), ("x5.9.0", None), ("banana", None), ("", None), (None, None), ("5", None),
    ("5.", None), ("5." + "1" * 5000, None), ("1234567.1.1", None),
])
def test_rr_parse(text, want):
    v = RRVersion.parse(text)
    assert v == (None if want is None else RRVersion(*want))
    if v is not None:
        assert str(v) == "%d.%d.%d" % want


def test_rr_order_and_plain_tuples():
    assert RRVersion.parse("5.10.0") > RRVersion.parse("5.9.0") > RRVersion.parse("rr version 5.8")
    assert RRVersion(5, 9, 0) == (5, 9, 0) and RRVersion(5, 9, 0) >= (5, 9, 0) and RRVersion(5, 8, 0) < (5, 9, 0)
    assert RRVersion.of((5, 8, 0)) == RRVersion(5, 8, 0) and isinstance(RRVersion.of((5, 8, 0)), RRVersion)
    assert RRVersion.from_tag("master") is None and RRVersion.from_tag("5.9") is None
    assert RRVersion(5, 9, 0) < (1 << 30,)  # rr.MASTER_KEY sorts after every release


@settings(max_examples=200, deadline=None)
@given(v=st.tuples(st.integers(0, 999999), st.integers(0, 999999), st.integers(0, 999999)),
       w=st.tuples(st.integers(0, 999999), st.integers(0, 999999), st.integers(0, 999999)))
def test_rr_roundtrip_and_order(v, w):
    a, b = RRVersion.parse("rr version %d.%d.%d" % v), RRVersion.parse("%d.%d.%d" % w)
    assert a == v and b == w and RRVersion.parse(str(a)) == a
    assert (a < b) == (v < w)

