"""The runtime layout table (go_runtime/layouts.py) checked against DWARF, for every supported Go
release on amd64 and arm64 (cross-built, not run), plus layout_for's version handling.

The DWARF reader here is deliberately separate from the code under test: it walks the runtime
compile unit's type DIEs with pyelftools and reports member offsets and type sizes.
"""
from __future__ import annotations

from typing import Dict, Tuple

import pytest

from gdb_rr_dmabuf.errors import UserError
from gdb_rr_dmabuf.go_runtime import layouts
from gdb_rr_dmabuf.go_runtime.layouts import (AGGREGATES, DWARF_RELEASES, FUNCIDS, G_STATUS, KNOWN, MODULEDATA,
                                              PCLNTAB_FORMATS, SOURCE_DERIVED, layout_for, layout_note,
                                              moduledata_rows, moduledata_word, parse_go_version,
                                              pclntab_format_of, release_key, status_name)
from tests.support.toolchains import SUPPORTED_GO, build_go

ARCH_ENV = {"x86-64": None, "aarch64": {"GOARCH": "arm64"}}
TYPES = {"g": "runtime.g", "m": "runtime.m", "gobuf": "runtime.gobuf", "stack": "runtime.stack"}
# What the pclntab reader reads (layouts.PCLNTAB_FORMATS, MODULEDATA), from the same DWARF.
PCLNTAB_TYPES = {"_func": "runtime._func", "inlinedCall": "runtime.inlinedCall", "moduledata": "runtime.moduledata"}

Struct = Tuple[int, Dict[str, Tuple[int, int]]]  # (byte size, member -> (offset, byte size))


def _type_size(die) -> int:
    seen = 0
    while "DW_AT_byte_size" not in die.attributes and seen < 16:
        if die.tag in ("DW_TAG_pointer_type", "DW_TAG_unspecified_type") or die.attributes.get(
                "DW_AT_name") and die.attributes["DW_AT_name"].value == b"unsafe.Pointer":
            return die.cu.header["address_size"]
        if "DW_AT_type" not in die.attributes:
            break
        die = die.get_DIE_from_attribute("DW_AT_type")  # typedefs, const, ...
        seen += 1
    attr = die.attributes.get("DW_AT_byte_size")
    return attr.value if attr is not None else -1


def dwarf_structs(path) -> Dict[str, Struct]:
    from elftools.elf.elffile import ELFFile

    want = set(TYPES.values()) | set(PCLNTAB_TYPES.values())
    found: Dict[str, Struct] = {}
    with open(str(path), "rb") as f:
        elf = ELFFile(f)
        assert elf.has_dwarf_info(), "%s has no DWARF" % path
        for cu in elf.get_dwarf_info().iter_CUs():
            for die in cu.get_top_DIE().iter_children():
                if die.tag != "DW_TAG_structure_type" or "DW_AT_name" not in die.attributes:
                    continue
                name = die.attributes["DW_AT_name"].value.decode()
                if name not in want or name in found:
                    continue
                members = {}
                for m in die.iter_children():
                    if m.tag == "DW_TAG_member":
                        members[m.attributes["DW_AT_name"].value.decode()] = (
                            m.attributes["DW_AT_data_member_location"].value,
                            _type_size(m.get_DIE_from_attribute("DW_AT_type")))
                found[name] = (die.attributes["DW_AT_byte_size"].value, members)
            if len(found) == len(want):
                break
    missing = want - set(found)
    assert not missing, "%s: DWARF has no %s" % (path, ", ".join(sorted(missing)))
    return found


@pytest.fixture(scope="module", params=[(v, a) for v in SUPPORTED_GO for a in ARCH_ENV],
                ids=lambda p: "go%s-%s" % p)
def probe(request):
    version, arch = request.param
    env = ARCH_ENV[arch]
    exe = build_go("layoutprobe", version, env=env, cgo=False if env else None)
    return version, arch, dwarf_structs(exe)


def _dwarf_field(structs, kind: str, name: str) -> Tuple[int, int]:
    """(offset, size) of a table field name in DWARF; raises KeyError when the field is missing."""
    size, members = structs[TYPES[kind]]
    if "." in name:
        outer, inner = name.split(".", 1)
        base, _ = members[outer]
        if outer == "stack":
            return base + structs["runtime.stack"][1][inner][0], structs["runtime.stack"][1][inner][1]
        raise KeyError(name)
    return members[name]


def test_every_offset_matches_dwarf(probe):
    version, arch, structs = probe
    minor = ".".join(version.split(".")[:2])
    assert (minor, arch) in KNOWN, "no layout for Go %s %s in layouts.KNOWN" % (minor, arch)
    lay = KNOWN[(minor, arch)]
    bad = []
    for kind in ("g", "m", "gobuf"):
        for name, off in getattr(lay, kind).items():
            where = "Go %s %s: %s.%s" % (version, arch, TYPES[kind], name)
            try:
                d_off, d_size = _dwarf_field(structs, kind, name)
            except KeyError:
                bad.append("%s: in the table (offset %d) but not in DWARF" % (where, off))
                continue
            if d_off != off:
                bad.append("%s: table offset %d, DWARF offset %d" % (where, off, d_off))
            if (kind, name) not in AGGREGATES and d_size != lay.width(kind, name):
                bad.append("%s: read as %d bytes, DWARF type is %d bytes" % (where, lay.width(kind, name), d_size))
    for key, tname in (("g", "runtime.g"), ("m", "runtime.m"), ("gobuf", "runtime.gobuf"),
                       ("stack", "runtime.stack")):
        if lay.sizes.get(key) != structs[tname][0]:
            bad.append("Go %s %s: sizeof(%s) table %s, DWARF %d" % (version, arch, tname, lay.sizes.get(key),
                                                                   structs[tname][0]))
    if lay.g.get("sched") is not None and structs["runtime.gobuf"][0] != lay.sizes.get("gobuf"):
        bad.append("Go %s %s: g.sched is not a gobuf of the table's size" % (version, arch))
    assert not bad, "runtime layout table is wrong:\n" + "\n".join(bad)


def test_fields_that_exist_in_dwarf_are_in_the_table(probe):
    """A field the table tracks for some release must be in every release whose DWARF has it, so a
    release that (re)gains a field we use is noticed (g.syscallbp appeared in 1.23)."""
    version, arch, structs = probe
    lay = KNOWN[(".".join(version.split(".")[:2]), arch)]
    bad = []
    for kind in ("g", "m", "gobuf"):
        tracked = set()
        for other in KNOWN.values():
            tracked |= set(getattr(other, kind))
        for name in sorted(tracked - set(getattr(lay, kind))):
            try:
                _dwarf_field(structs, kind, name)
            except KeyError:
                continue
            bad.append("Go %s %s: %s.%s exists in DWARF but not in the table" % (version, arch, TYPES[kind], name))
    assert not bad, "\n".join(bad)


def test_pclntab_records_match_dwarf(probe):
    """_func and inlinedCall of the format layouts.py gives the release: every field at DWARF's offset, the
    records of DWARF's size, and every named DWARF member in the table (a field a release adds is noticed)."""
    version, arch, structs = probe
    fmt = pclntab_format_of(version)
    bad = []
    for kind, table, size in (("_func", fmt.func, fmt.func_size),
                              ("inlinedCall", fmt.inlined_call, fmt.inlined_call_size)):
        d_size, members = structs[PCLNTAB_TYPES[kind]]
        spelled = fmt.spelled.get(kind, {})
        where = "Go %s %s: runtime.%s" % (version, arch, kind)
        if d_size != size:
            bad.append("%s: size %d in the table, %d in DWARF" % (where, size, d_size))
        for name, off in table.items():
            d = members.get(spelled.get(name, name))
            if d is None or d[0] != off:
                bad.append("%s.%s: offset %d in the table, DWARF %s" % (where, name, off, d and d[0]))
        ours = {spelled.get(n, n) for n in table}
        for name in sorted(set(members) - ours - {"_", "NotInHeap"}):
            bad.append("%s.%s: in DWARF, not in the table" % (where, name))
    assert not bad, "pclntab format table is wrong:\n" + "\n".join(bad)


def test_moduledata_words_match_dwarf(probe):
    version, arch, structs = probe
    row = MODULEDATA[release_key(MODULEDATA, version)]
    _size, members = structs[PCLNTAB_TYPES["moduledata"]]
    got = {name: members[name][0] // 8 for name in row if name in members and members[name][0] % 8 == 0}
    assert got == row, "Go %s %s: runtime.moduledata word indices" % (version, arch)


def test_release_rows_hold_until_the_next_row():
    assert [release_key(FUNCIDS, v) for v in ("go1.17", "go1.21.13", "go1.22.0", "go1.24.11", "go1.25.5",
                                              "go1.99")] == ["1.18", "1.18", "1.22", "1.22", "1.25", "1.25"]
    assert release_key(FUNCIDS, None) is None and release_key(FUNCIDS, "gccgo") is None
    assert [pclntab_format_of(v).go for v in ("go1.18.1", "go1.19.8", "go1.20.1", "go1.27.3")] == [
        "1.18", "1.18", "1.20", "1.20"]
    assert sorted(f.go for f in PCLNTAB_FORMATS.values()) == ["1.18", "1.20"]
    assert {moduledata_word(n) for n in ("pcHeader", "funcnametab", "minpc", "text")} == {0, 1, 20, 22}
    with pytest.raises(KeyError):
        moduledata_word("gofunc")  # moves with the release


@pytest.mark.parametrize("go,magic,gofunc", [
    # A known release: its own row; unknown: each row of the pclntab's format, newest first (a 1.18 format
    # is 1.18/1.19's whatever the version says).
    ("go1.19.8", 0xFFFFFFF0, [38]), (None, 0xFFFFFFF0, [38]), ("go1.27.3", 0xFFFFFFF0, [38]),
    ("go1.20.14", 0xFFFFFFF1, [40]), ("go1.26.6", 0xFFFFFFF1, [40]), ("go1.27.3", 0xFFFFFFF1, [43]),
    ("go1.30", 0xFFFFFFF1, [43]), ("go1.19.8", 0xFFFFFFF1, [40]), (None, 0xFFFFFFF1, [43, 40]),
    ("go1.23.4", 0x12345678, []),
])
def test_moduledata_rows(go, magic, gofunc):
    assert [row["gofunc"] for row in moduledata_rows(magic, go)] == gofunc
    assert all(row["rodata"] == row["gofunc"] - 1 for row in moduledata_rows(magic, go))


def test_the_fields_goroutines_py_needs_are_everywhere():
    need_g = {"stack.lo", "stack.hi", "stackguard0", "m", "sched", "syscallsp", "syscallpc", "atomicstatus",
              "goid", "gopc", "startpc", "waitreason", "lockedm"}
    need_m = {"g0", "curg", "gsignal", "procid", "id", "ncgo", "incgo"}
    need_b = {"sp", "pc", "g", "lr", "bp"}
    for key, lay in KNOWN.items():
        minor = int(key[0].split(".")[1])
        assert need_g <= set(lay.g), (key, need_g - set(lay.g))
        assert need_m <= set(lay.m), (key, need_m - set(lay.m))
        assert need_b <= set(lay.gobuf), (key, need_b - set(lay.gobuf))
        assert ("syscallbp" in lay.g) == (minor >= 23), key
        assert ("ret" in lay.gobuf) == (minor <= 24), key
        assert ("parentGoid" in lay.g) == (minor >= 21), key  # "created by ... in goroutine N" is 1.21's


def test_every_release_is_dwarf_checked_or_marked_source_derived():
    assert sorted(DWARF_RELEASES.values()) == sorted(SUPPORTED_GO)
    assert {go for go, _ in KNOWN} == set(DWARF_RELEASES) | set(SOURCE_DERIVED)
    assert not set(DWARF_RELEASES) & set(SOURCE_DERIVED)
    for go in SOURCE_DERIVED:
        note = layout_note(KNOWN[(go, "x86-64")])
        assert note and go in note and "not checked against DWARF" in note
    for go in DWARF_RELEASES:
        assert layout_note(KNOWN[(go, "x86-64")]) is None


def test_source_derived_rows_agree_with_their_dwarf_checked_neighbour():
    """1.18 and 1.20 are 1.19's layout (checked) for every field they name, except m.isextra (1.20 only)."""
    ref = KNOWN[("1.19", "x86-64")]
    for go in ("1.18", "1.20"):
        lay = KNOWN[(go, "x86-64")]
        for kind in ("g", "m", "gobuf"):
            for name, off in getattr(lay, kind).items():
                if (go, kind, name) == ("1.20", "m", "isextra"):
                    assert off == ref.m["incgo"] + 1
                    continue
                assert getattr(ref, kind)[name] == off, (go, kind, name)


def test_go119_gopc_is_not_where_121_keeps_it():
    # The bug this table fixes: with 1.21's offsets, 1.19's g.gopc (296) is read at 280 (g.sigcode1).
    assert layout_for("go1.19.8", "x86-64")[0].g["gopc"] == 296
    assert layout_for("go1.21.13", "x86-64")[0].g["gopc"] == 280
    assert "parentGoid" not in layout_for("go1.19.8", "aarch64")[0].g


# layout_for -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,minor", [
    ("go1.23.4", 23), ("go1.21", 21), ("go1.24rc1", 24), ("devel go1.25-1234abcd Tue Jan 1", 25),
    ("1.22.10", 22), ("go1.27.3 X:nocoverageredesign", 27)])
def test_parse_go_version(text, minor):
    assert parse_go_version(text) == (1, minor)


@pytest.mark.parametrize("text", [None, "", "gccgo", "go2"])
def test_parse_go_version_unreadable(text):
    assert parse_go_version(text) is None


def test_layout_for_exact_release_has_no_warning():
    for v in SUPPORTED_GO + ["1.18.10", "1.20.14"]:
        for arch, alias in (("x86-64", "amd64"), ("aarch64", "arm64")):
            lay, warn = layout_for("go" + v, arch)
            assert warn is None
            assert (lay.go, lay.arch) == (".".join(v.split(".")[:2]), arch)
            assert layout_for("go" + v, alias)[0] is lay


def test_layout_for_goid_offset_by_release():
    # Ground truth from DWARF (see test_every_offset_matches_dwarf), spelled out for readability.
    assert layout_for("go1.21.13", "x86-64")[0].g["goid"] == 152
    assert layout_for("go1.23.4", "x86-64")[0].g["goid"] == 160
    assert layout_for("go1.25.5", "aarch64")[0].g["goid"] == 152
    assert layout_for("go1.23.4", "x86-64")[0].sched("sp") == 56
    assert layout_for("go1.25.5", "x86-64")[0].sched("bp") == 96


def test_layout_for_older_release_uses_oldest_with_one_warning():
    lay, warn = layout_for("go1.17.13", "x86-64")
    assert lay.go == "1.18"
    assert warn and "1.17" in warn and "older" in warn and "1.18" in warn
    assert "\n" not in warn and warn.count(";") == 1


def test_layout_for_newer_release_uses_newest_with_warning():
    lay, warn = layout_for("go1.31.0", "aarch64")
    assert (lay.go, lay.arch) == ("1.27", "aarch64")
    assert warn and "1.31" in warn and "newer" in warn and "1.27" in warn


def test_layout_for_unknown_version_warns():
    lay, warn = layout_for(None, "x86-64")
    assert lay.go == "1.27" and warn and "unknown" in warn
    lay2, warn2 = layout_for("not a version", "x86-64")
    assert lay2 is lay and warn2 == warn


def test_layout_for_unsupported_arch_is_a_user_error():
    with pytest.raises(UserError) as e:
        layout_for("go1.23.4", "riscv64")
    assert "riscv64" in str(e.value)


def test_layouts_are_frozen_and_hashable():
    lay = KNOWN[("1.23", "x86-64")]
    with pytest.raises(Exception):
        lay.go = "1.99"  # type: ignore[misc]
    assert {lay: 1}[KNOWN[("1.23", "x86-64")]] == 1
    assert len(set(KNOWN.values())) == len(KNOWN)


def test_status_names():
    assert G_STATUS[2] == "running" and G_STATUS[3] == "syscall" and G_STATUS[4] == "waiting"
    assert status_name(3) == "syscall"
    assert status_name(0x1003) == "scan+syscall"
    assert status_name(0x2002).startswith("?")
    assert status_name(12).startswith("?")
    assert layouts.G_SCAN == 0x1000
