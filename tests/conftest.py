"""The suite's kinds, and the fixtures several test modules share.

Every test module has one kind, written in KIND_MODULES below (the one place: a module's own pytestmark holds no
kind; tests/test_kinds.py fails when a module is missing here or declares one). The kind becomes the test's
marker, so `pytest -m unit`, `-m gdb`, `-m fuzz`, `-m lab`, `-m "not lab"` select by it:

  unit  pure Python under test, no gdb: decoders on bytes, real binaries built here (Go, gcc, as), `check`'s
        engine on real programs, strace on the host
  gdb   drives real gdb, gdbserver or qemu-user on the host, or reads cores that real gdb wrote
        (tests/support/cores.py writes them when .cache/cores has none)
  fuzz  hypothesis over damaged inputs (tests/support/fuzz.py); the cores it damages are written by gdb
  lab   boots the lab VMs (tests/support/lab.py)

A test that carries a kind marker of its own keeps it instead of its module's (e.g. the tests of a unit
module that hand the stop to gdb are marked `gdb`). Markers are registered in pyproject.toml.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, Tuple

import pytest

from tests.support import install
from tests.support.toolchains import ALL_GO, build_variants

KIND_MODULES: Dict[str, Tuple[str, ...]] = {
    "unit": (
        "test_advice", "test_arch", "test_buildinfo", "test_check", "test_check_bench_smoke", "test_elf",
        "test_errnos", "test_fd_recovery", "test_fd_rr_page_aarch64", "test_go_binary", "test_goroutines_list_data", "test_ioctl_layout",
        "test_ioctl_names", "test_ioctl_structs", "test_kinds", "test_layouts", "test_pclntab", "test_render",
        "test_rr", "test_rr_stub", "test_rr_stub_memory", "test_rr_table", "test_stdlib", "test_strace",
        "test_syscall", "test_target", "test_versions",
    ),
    "gdb": (
        "test_benchmarks_smoke", "test_check_install", "test_core_analysis", "test_debian_go",
        "test_e2e_aarch64", "test_e2e_advice", "test_e2e_callers", "test_e2e_options", "test_e2e_why",
        "test_explain", "test_g0", "test_gdbinit", "test_go_old", "test_goroutines", "test_goroutines_list",
        "test_goroutines_list_aarch64", "test_goroutines_list_rrstub", "test_install",
        "test_python39",  # runs test_core_analysis (gdb's cores) under Python 3.9
        "test_render_gdb", "test_rr_lines", "test_rr_logs", "test_rr_stub_aarch64", "test_rr_stub_e2e",
        "test_rr_stub_page", "test_stop_restart", "test_systemstack",
    ),
    "fuzz": (
        "test_fuzz_binaries", "test_fuzz_cores", "test_fuzz_goroutines", "test_fuzz_text", "test_rr_logs_fuzz",
    ),
    "lab": (
        "test_lab_arm64_fd", "test_lab_check", "test_lab_gui", "test_lab_gui_arm64", "test_lab_goroutines_arm64",
        "test_lab_infra",
        "test_lab_loop", "test_lab_rr_page_arm64", "test_lab_stops", "test_rr_stub_lab",
    ),
}
KINDS: Tuple[str, ...] = tuple(KIND_MODULES)
KIND_OF: Dict[str, str] = {m: k for k, mods in KIND_MODULES.items() for m in mods}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects (the mark plugin's own modifyitems)
def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.get_closest_marker(k) is not None for k in KINDS):
            continue  # the test's own kind
        kind = KIND_OF.get(Path(str(item.path)).stem)
        if kind is not None:  # a module missing from KIND_MODULES fails tests/test_kinds.py
            item.add_marker(kind)


# ------------------------------------------------------------------------------------ shared fixtures

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """tools/install.sh --gdbinit run twice on a copy of the project's runtime files, in a temporary HOME:
    (src, home, env, first output, second output). Removed after the module."""
    tmp = tmp_path_factory.mktemp("install")
    yield install.install_twice(tmp)
    shutil.rmtree(str(tmp), ignore_errors=True)


# tests.support.toolchains.BUILD_VARIANTS without 'pie-external' (the unstripped twin test_pclntab.py needs)
INLINES_VARIANTS = ('default', 'stripped', 'pie', 'external', 'pie-external-stripped')


@pytest.fixture(scope="module", params=ALL_GO)
def inlines_builds(request):
    """The inlines fixture (tests/fixtures/go/inlines) built by one release of ALL_GO in INLINES_VARIANTS'
    link modes: (version, {variant: executable}) (tests/test_buildinfo.py, test_go_binary.py)."""
    version = request.param
    return version, build_variants("inlines", version, INLINES_VARIANTS)
