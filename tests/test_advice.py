"""The advice engine: every built-in rule fires on its frame list and stays silent on near misses.

Frame lists live in tests/data/advice/*.json; each says where it comes from ("recorded": a public
backtrace such as rr issue #3891's, our demo program stopped at its ioctl, or a lab stop on real,
stripped Mesa 25 (lab_*.json, written by tests/test_lab_stops.py with LAB_RECORD_ADVICE=1, with the rule
ids and "missing" lines the stop printed); "constructed": frame names taken from the projects' sources
as the knowledge file describes them).
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import re
import subprocess
from pathlib import Path
from typing import List

import pytest

from gdb_rr_dmabuf import advice
from gdb_rr_dmabuf.advice import Evidence, GoFrameEv, Suggestion, advise, load_rules
from gdb_rr_dmabuf.report import suggestion_json as to_json
from gdb_rr_dmabuf.errors import UserError

DATA = Path(__file__).resolve().parent / "data" / "advice"
EXPORT = 0xC0086202            # DMA_BUF_IOCTL_EXPORT_SYNC_FILE = _IOWR('b', 2, 8 bytes)
HEAP_ALLOC = 0xC0184800        # DMA_HEAP_IOCTL_ALLOC = _IOWR('H', 0, 24 bytes)


def _frames(d: dict) -> list:
    if "native_frames_from" in d:
        return _frames(json.loads((DATA / d["native_frames_from"]).read_text()))
    return [tuple(f) for f in d.get("native_frames", [])]


def ev_from(name: str, **changes) -> Evidence:
    d = json.loads((DATA / name).read_text())
    ev = Evidence(
        request=int(d["request"], 0) if d.get("request") else None,
        request_names=list(d.get("request_names", [])),
        result=d.get("result"),
        fd_links={int(k): v for k, v in d.get("fd_links", {}).items()},
        native_frames=_frames(d),
        go_frames=[GoFrameEv(**f) for f in d.get("go_frames", [])],
        go_caller=GoFrameEv(**d["go_caller"]) if d.get("go_caller") else None,
        executable=d.get("executable"),
        rr_version=d.get("rr_version"),
        rr_supported_since=d.get("rr_supported_since"),
        rr_support_known=d.get("rr_support_known", False),
        target_kind=d.get("target_kind"),
        proc_readable=d.get("proc_readable"),
    )
    return dataclasses.replace(ev, **changes)


def ids(sugs: List[Suggestion]) -> List[str]:
    return [s.rule_id for s in sugs]


def by_id(sugs: List[Suggestion], rid: str) -> Suggestion:
    for s in sugs:
        if s.rule_id == rid:
            return s
    raise AssertionError("%s not among %s" % (rid, ids(sugs)))


@pytest.fixture(autouse=True)
def _no_user_rules(monkeypatch):
    monkeypatch.delenv(advice.ENV_RULES, raising=False)


# ---------------------------------------------------------------------------------------------
# The built-in rules themselves

BUILTIN_IDS = ["go-gio-egl", "go-gio-vulkan", "go-fyne-glfw", "go-ebitengine-glfw", "go-gl-glfw",
               "go-gotk3-gtk3-glx", "gtk3-x11-glx", "mesa-llvmpipe-fence-probe", "mesa-lavapipe-enumerate", "mesa-vulkan-wsi-sync",
               "mesa-hw-driver-sync", "go-direct-ioctl", "go-cgo-ioctl", "rr-upgrade", "rr-master-only", "rr-no-release",
               "rr-open-refused"]


def test_builtin_rules_load_and_cite_sources():
    rules = load_rules()
    assert [r.id for r in rules] == BUILTIN_IDS
    for r in rules:
        assert r.source.strip() and r.title.strip() and r.action.strip(), r.id
        for c in r.commands:
            # rr already sets LIBGL_ALWAYS_SOFTWARE=1, and it is what selects llvmpipe.
            assert "LIBGL_ALWAYS_SOFTWARE" not in c, r.id
            assert c.startswith(("rr ", "go build ")), (r.id, c)
    by = {r.id: r for r in rules}
    assert by["mesa-llvmpipe-fence-probe"].request_numbers == [EXPORT]
    # GALLIUM_DRIVER is only offered by rules that cannot fire on a Vulkan stack.
    for r in rules:
        if any("GALLIUM_DRIVER" in c for c in r.commands) and not r.switches_to_gl:
            excluded = [p.text for p in r.exclude.get("native_functions", [])]
            assert "lvp_*" in excluded and "wsi_*" in excluded, r.id


# ---------------------------------------------------------------------------------------------
# Each rule fires on its frame list, in this order

@pytest.mark.parametrize("name, expected", [
    ("rr3891_llvmpipe.json", ["mesa-llvmpipe-fence-probe", "rr-upgrade"]),
    ("rr3899_go_memfd.json", ["mesa-llvmpipe-fence-probe", "rr-upgrade"]),
    ("gio_egl.json", ["go-gio-egl", "mesa-llvmpipe-fence-probe", "rr-upgrade"]),
    ("gio_vulkan.json", ["go-gio-vulkan", "mesa-lavapipe-enumerate", "rr-upgrade"]),
    ("fyne_glfw.json", ["go-fyne-glfw", "mesa-llvmpipe-fence-probe", "rr-upgrade"]),
    ("ebitengine_glfw.json", ["go-ebitengine-glfw", "mesa-llvmpipe-fence-probe", "rr-upgrade"]),
    ("lavapipe_enumerate.json", ["mesa-lavapipe-enumerate", "rr-upgrade"]),
    ("vulkan_wsi.json", ["mesa-vulkan-wsi-sync", "rr-upgrade"]),
    ("iris_export.json", ["mesa-hw-driver-sync"]),
    ("go_direct_syscall.json", ["go-direct-ioctl", "rr-upgrade"]),
    ("go_std_only.json", ["rr-upgrade"]),
    ("go_cgo_demo.json", ["go-cgo-ioctl", "rr-upgrade"]),
    ("lab_nwg-look_remote.json", ["go-gotk3-gtk3-glx", "mesa-llvmpipe-fence-probe", "rr-upgrade"]),
    ("lab_ymuse_native.json", ["go-gotk3-gtk3-glx", "mesa-llvmpipe-fence-probe", "rr-upgrade"]),
])
def test_rules_fire_in_rank_order(name, expected):
    sugs = advise(ev_from(name))
    assert ids(sugs) == expected
    scores = [s.score for s in sugs]
    assert scores == sorted(scores, reverse=True)


GTK = {"go-gotk3-gtk3-glx", "gtk3-x11-glx"}


def test_gtk3_rules_name_the_program_and_gtks_own_switch():
    """Debian's nwg-look at the lab's remote stop (tests/test_lab_gui.py): GTK 3 start-up through GLX."""
    ev = ev_from("lab_nwg-look_remote.json")
    top = advise(ev)[0]
    assert top.rule_id == "go-gotk3-gtk3-glx"
    assert "for main.main (github.com/nwg-piotr/nwg-look/main.go:355, through gotk3)" in top.title
    assert top.commands == ["rr record -v GDK_GL=disable /usr/bin/nwg-look",
                            "rr record -v GALLIUM_DRIVER=softpipe /usr/bin/nwg-look"]
    assert "gdk_x11_screen_init_gl" in top.source and "tests/test_lab_gui.py" in top.source
    # The probe belongs to the first GTK 3 client of the display (GDK caches its GL visuals on the root window):
    # the title says when it comes and when not; the source names GDK's cache (tests/test_lab_gui.py proves both).
    assert "as the first GTK 3 client on its X display (the root window has no GDK_VISUALS property yet)" in top.title
    assert "on a display where another GTK 3 program already ran, this start-up probe (and rr's abort here) does " \
        "not come" in top.title, top.title
    assert "get_cached_gl_visuals" in top.source and "save_cached_gl_visuals" in top.source
    assert top.missing.endswith("recognised from libGLX_mesa.so.0 + driCreateNewScreen3"), top.missing
    # The same stack without Go (a C GTK 3 program): the generic rule, with the same switches.
    c = advise(ev_from("lab_nwg-look_remote.json", go_frames=[], go_caller=None))
    assert ids(c)[:2] == ["gtk3-x11-glx", "mesa-llvmpipe-fence-probe"]
    assert c[0].commands == top.commands
    assert "as the first GTK 3 client there (the root window has no GDK_VISUALS property yet)" in c[0].title
    assert "get_cached_gl_visuals" in c[0].source, c[0].source
    # In module mode the program's own function is the innermost frame of the main module.
    mine = GoFrameEv("example.com/app/ui.Start", "example.com/app/ui", "example.com/app", None, "example.com/app/ui/ui.go", 12)
    fr = list(ev.go_frames)
    at = next(i for i, f in enumerate(fr) if f.package == "main")
    ev2 = dataclasses.replace(ev, go_frames=fr[:at] + [mine] + fr[at:], main_module="example.com/app")
    assert "for example.com/app/ui.Start (example.com/app/ui/ui.go:12, through gotk3)" in advise(ev2)[0].title


def test_gtk3_rules_stay_silent_on_near_misses():
    ev = ev_from("lab_nwg-look_remote.json")
    # No GDK on the stack: EGL from Go (the lab's eglgo), Vulkan (vkgo).
    for name in ("lab_eglgo_remote.json", "lab_vkgo_remote.json", "rr3899_go_memfd.json"):
        assert not GTK & set(ids(advise(ev_from(name)))), name
    # GDK, but EGL instead of GLX (GTK 3 on Wayland goes through EGL: GDK_GL=disable is not checked there).
    egl = ev.native_frames[:8] + [("eglInitialize", "/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0")] + ev.native_frames[8:]
    assert not GTK & set(ids(advise(dataclasses.replace(ev, native_frames=egl))))
    # GDK and GLX but no Mesa screen (another GL driver): silent.
    other = [(f, o) for f, o in ev.native_frames if f != "driCreateNewScreen3"]
    assert not GTK & set(ids(advise(dataclasses.replace(ev, native_frames=other))))


def test_rr3891_llvmpipe_stack():
    s = by_id(advise(ev_from("rr3891_llvmpipe.json")), "mesa-llvmpipe-fence-probe")
    assert s.commands == ["rr record -v GALLIUM_DRIVER=softpipe ./prog"]
    assert s.confidence == "high"
    assert "ioctl request 0xc0086202 (DMA_BUF_IOCTL_EXPORT_SYNC_FILE)" in s.evidence
    assert "native frame #2 llvmpipe_init_screen_fence_funcs" in s.evidence
    assert "DMA_BUF_IOCTL_EXPORT_SYNC_FILE" in s.title and "#3891" in s.source


def test_rr3899_memfd_alone_is_weaker_than_frames():
    memfd = by_id(advise(ev_from("rr3899_go_memfd.json")), "mesa-llvmpipe-fence-probe")
    frames = by_id(advise(ev_from("rr3891_llvmpipe.json")), "mesa-llvmpipe-fence-probe")
    assert memfd.evidence == ["ioctl request 0xc0086202 (DMA_BUF_IOCTL_EXPORT_SYNC_FILE)",
                              "memfd lp_dma_buf (fd 11 -> /memfd:lp_dma_buf (deleted))"]
    assert memfd.confidence == "medium" and frames.confidence == "high"
    assert memfd.score < frames.score
    only_fd = advise(ev_from("rr3899_go_memfd.json", request=None, request_names=[]))
    assert by_id(only_fd, "mesa-llvmpipe-fence-probe").confidence == "low"


def test_toolkit_rules_name_the_go_path():
    gio = advise(ev_from("gio_egl.json"))[0]
    assert gio.rule_id == "go-gio-egl" and gio.confidence == "high"
    assert gio.commands == ["rr record -v GALLIUM_DRIVER=softpipe /home/u/hello/hello"]
    assert "Go frame #2 gioui.org/internal/egl.eglInitialize (gioui.org/internal/egl/egl_unix.go:69)" \
        in gio.evidence
    fyne = advise(ev_from("fyne_glfw.json"))[0]
    assert fyne.rule_id == "go-fyne-glfw"
    assert any("fyne.io/fyne/v2/internal/driver/glfw.(*window).create.func1" in e for e in fyne.evidence)
    assert any(e.endswith("libgallium-24.3.1.so") for e in fyne.evidence)
    ebi = advise(ev_from("ebitengine_glfw.json"))[0]
    assert ebi.rule_id == "go-ebitengine-glfw"
    assert ebi.commands == ["rr record -v GALLIUM_DRIVER=softpipe ./game"]
    assert "EBITENGINE_GRAPHICS_LIBRARY" in ebi.action


def test_gio_vulkan_switches_to_egl_instead_of_hiding_lavapipe():
    s = advise(ev_from("gio_vulkan.json"))[0]
    assert s.rule_id == "go-gio-vulkan"
    assert s.commands == ["go build -tags nowayland -o ./hello . && rr record -v GALLIUM_DRIVER=softpipe ./hello"]


def test_lavapipe_gets_loader_filter_not_gallium():
    sugs = advise(ev_from("lavapipe_enumerate.json"))
    lvp = by_id(sugs, "mesa-lavapipe-enumerate")
    assert lvp.commands == ["rr record -v VK_LOADER_DRIVERS_DISABLE='*lvp*' ./vkcube"]
    assert "1.3.234" in lvp.action
    assert not any("GALLIUM_DRIVER" in c for s in sugs for c in s.commands)


def test_wsi_stack_gets_no_env_switch():
    sugs = advise(ev_from("vulkan_wsi.json"))
    wsi = by_id(sugs, "mesa-vulkan-wsi-sync")
    assert wsi.commands == [] and "5.9.0" in wsi.action
    assert "mesa-lavapipe-enumerate" not in ids(sugs)   # lvp objfile, but WSI frames
    assert not any("GALLIUM_DRIVER" in c or "VK_LOADER" in c for s in sugs for c in s.commands)


# ---------------------------------------------------------------------------------------------
# Near misses

def test_llvmpipe_frames_with_another_ioctl_are_not_the_fence_probe():
    ev = ev_from("rr3891_llvmpipe.json", request=HEAP_ALLOC, request_names=["DMA_HEAP_IOCTL_ALLOC"],
                 rr_supported_since=None, rr_support_known=True)
    sugs = advise(ev)
    assert ids(sugs) == ["rr-no-release"]
    assert sugs[0].title.startswith("No rr release handles DMA_HEAP_IOCTL_ALLOC by name (as of rr master ")
    # Same request known only by number: still scoped out.
    assert "mesa-llvmpipe-fence-probe" not in ids(advise(dataclasses.replace(ev, request_names=[])))


def test_no_release_claim_needs_a_lookup():
    ev = ev_from("rr3891_llvmpipe.json", request=HEAP_ALLOC, request_names=[], rr_supported_since=None,
                 rr_support_known=False)
    assert advise(ev) == []


def test_gio_egl_rule_silent_on_vulkan_natives():
    ev = ev_from("gio_egl.json", native_frames=_frames(json.loads((DATA / "lavapipe_enumerate.json").read_text())))
    assert "go-gio-egl" not in ids(advise(ev))


def test_go_gl_glfw_without_fyne():
    d = ev_from("fyne_glfw.json")
    plain = dataclasses.replace(d, go_frames=[f for f in d.go_frames if not f.package.startswith("fyne.io/")])
    sugs = advise(plain)
    assert ids(sugs)[0] == "go-gl-glfw" and "go-fyne-glfw" not in ids(sugs)
    assert "go-gl-glfw" not in ids(advise(d))           # Fyne stack: the Fyne rule, not the generic one


def test_std_library_stack_is_not_user_code():
    ev = ev_from("go_std_only.json")
    assert ev.go_caller is not None and ev.go_caller.function == "main.main"
    assert "go-direct-ioctl" not in ids(advise(ev))


def test_go_syscall_under_mesa_frames_is_not_go_code():
    ev = ev_from("go_direct_syscall.json", native_frames=[("__GI___ioctl", "/lib/libc.so.6"),
                                                          ("drmIoctl", "/lib/libdrm.so.2")])
    assert "go-direct-ioctl" not in ids(advise(ev))


@pytest.mark.parametrize("version, upgrade", [("5.8.0", True), ("5.9.0", False), ("5.10.0", False),
                                              ("rr version 5.9.1", False), ("4.5.0", True), (None, True)])
def test_rr_upgrade_only_when_it_helps(version, upgrade):
    sugs = advise(ev_from("rr3891_llvmpipe.json", rr_version=version))
    assert ("rr-upgrade" in ids(sugs)) == upgrade
    if upgrade:
        s = by_id(sugs, "rr-upgrade")
        assert s.confidence == ("high" if version else "medium")
        assert "rr 5.9.0 and later handle DMA_BUF_IOCTL_EXPORT_SYNC_FILE by name" in s.title


def test_unknown_request_still_fires_on_frames_without_request_evidence():
    sugs = advise(ev_from("gio_egl.json", request=None, request_names=[]))
    assert ids(sugs) == ["go-gio-egl", "mesa-llvmpipe-fence-probe"]   # no request: no rr advice
    assert not any(e.startswith("ioctl request") for e in sugs[0].evidence)


# ---------------------------------------------------------------------------------------------
# Rule 8: Go code making the ioctl itself

def test_go_direct_ioctl_names_package_function_location_module():
    s = advise(ev_from("go_direct_syscall.json"))[0]
    assert s.rule_id == "go-direct-ioctl" and s.confidence == "high"
    assert s.title == ("Go code makes the ioctl itself: example.com/gpufence.ExportSyncFile in package "
                       "example.com/gpufence (example.com/gpufence@v1.2.0) calls the raw syscall at "
                       "/home/u/go/pkg/mod/example.com/gpufence@v1.2.0/fence.go:42.")
    assert 'os.Getenv("RUNNING_UNDER_RR")' in s.action
    assert s.action.endswith("or upgrade rr to 5.9.0 or later, which handles DMA_BUF_IOCTL_EXPORT_SYNC_FILE.")
    assert 'os.Getenv("RUNNING_UNDER_RR") != ""' in s.snippet
    assert "example.com/gpufence.ExportSyncFile (/home/u/go/pkg/mod/example.com/gpufence@v1.2.0/fence.go:42)" \
        in s.snippet
    assert s.commands == ["rr record /home/u/demo/demo"]


def test_go_direct_ioctl_rr_clause_follows_rr_support():
    up_to_date = advise(ev_from("go_direct_syscall.json", rr_version="5.9.0"))[0]
    assert "upgrade" not in up_to_date.action and "rr-upgrade" not in ids(advise(ev_from(
        "go_direct_syscall.json", rr_version="5.9.0")))
    none = advise(ev_from("go_direct_syscall.json", request=HEAP_ALLOC, request_names=["DMA_HEAP_IOCTL_ALLOC"],
                          rr_supported_since=None, rr_support_known=True))
    assert ids(none) == ["go-direct-ioctl", "rr-no-release"]
    assert "no rr release handles DMA_HEAP_IOCTL_ALLOC yet" in none[0].action


def test_go_direct_ioctl_through_x_sys_unix():
    ev = ev_from("go_direct_syscall.json")
    frames = list(ev.go_frames)
    frames.insert(3, GoFrameEv("golang.org/x/sys/unix.ioctlPtr", "golang.org/x/sys/unix",
                               "golang.org/x/sys", "v0.28.0", "zsyscall_linux.go", None))
    s = advise(dataclasses.replace(ev, go_frames=frames))[0]
    assert s.rule_id == "go-direct-ioctl"
    assert "example.com/gpufence.ExportSyncFile" in s.title   # x/sys/unix is the syscall layer


@pytest.mark.parametrize("name, rule_id", [("go_direct_syscall.json", "go-direct-ioctl"),
                                           ("go_cgo_demo.json", "go-cgo-ioctl")])
def test_go_snippet_compiles(name, rule_id):
    s = advise(ev_from(name))[0]
    assert s.rule_id == rule_id and s.snippet
    lines = s.snippet.split("\n")
    helper_end = lines.index("") if "" in lines else 2
    src = "package main\n\nimport \"os\"\n\n" + "\n".join(lines[:helper_end]) + \
          "\n\nfunc exportSyncFile() {\n" + "\n".join(lines[helper_end:]) + "\n}\n\nfunc main() { exportSyncFile() }\n"
    with tempfile.TemporaryDirectory(prefix="advice-snippet-") as d:  # removed again, pass or fail
        tmp = Path(d)
        (tmp / "main.go").write_text(src)
        _go_vet(tmp, src)


def _go_vet(tmp: Path, src: str) -> None:
    from tests.support.toolchains import go_root
    goroot = go_root()
    env = dict(os.environ, GOROOT=str(goroot), GOTOOLCHAIN="local", GOPROXY="off", GO111MODULE="off",
               CGO_ENABLED="0", GOCACHE=str(Path(__file__).resolve().parents[1] / ".cache" / "gocache" / "advice"))
    p = subprocess.run([str(goroot / "bin" / "go"), "vet", "main.go"], cwd=str(tmp), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert p.returncode == 0, src + p.stdout


# ---------------------------------------------------------------------------------------------
# go-cgo-ioctl: C code compiled into the Go program (a package's cgo files) makes the ioctl

DEMO = "go_cgo_demo.json"
DEMO_EXE = "/home/u/dmademo/demo"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def _demo_data() -> dict:
    return json.loads((DATA / DEMO).read_text())


def test_go_cgo_ioctl_names_c_function_package_and_caller():
    sugs = advise(ev_from(DEMO))
    assert ids(sugs) == ["go-cgo-ioctl", "rr-upgrade"]
    s = sugs[0]
    assert s.confidence == "high"
    assert s.title == ("C code compiled into the program makes the ioctl itself (probe_fence_export), called "
                       "through C.gpu_export_sync_file (cgo, Go package example.com/dmademo/internal/gpu) by "
                       "example.com/dmademo/internal/gpu.ExportSyncFile at /home/u/dmademo/internal/gpu/gpu.go:39 "
                       "(example.com/dmademo@(devel)).")
    assert s.action.startswith("Guard the C.gpu_export_sync_file call in "
                               "example.com/dmademo/internal/gpu.ExportSyncFile with os.Getenv(\"RUNNING_UNDER_RR\"), "
                               "or check getenv(\"RUNNING_UNDER_RR\") (stdlib.h) in the C code that makes the call (probe_fence_export)")
    assert s.action.endswith("or upgrade rr to 5.9.0 or later, which handles DMA_BUF_IOCTL_EXPORT_SYNC_FILE.")
    assert s.commands == ["rr record /home/u/dmademo/demo"]
    assert "// In example.com/dmademo/internal/gpu.ExportSyncFile (/home/u/dmademo/internal/gpu/gpu.go:39), " \
           "before the call to C.gpu_export_sync_file:" in s.snippet
    assert "(probe_fence_export) issues DMA_BUF_IOCTL_EXPORT_SYNC_FILE (rr before 5.9.0 cannot record it)" in s.snippet
    assert s.evidence == [
        "ioctl request 0xc0086202 (DMA_BUF_IOCTL_EXPORT_SYNC_FILE)",
        "Go caller example.com/dmademo/internal/gpu.ExportSyncFile at /home/u/dmademo/internal/gpu/gpu.go:39 "
        "in example.com/dmademo@(devel)",
        "native frame #1 probe_fence_export in demo (C code in the executable)",
        "native frame #2 gpu_export_sync_file in demo (C code in the executable)",
        "native frame #3 _cgo_0cd9de91985e_Cfunc_gpu_export_sync_file in demo (C code in the executable)",
        "Go frame #1 example.com/dmademo/internal/gpu._Cfunc_gpu_export_sync_file (_cgo_gotypes.go:79): "
        "cgo wrapper of C.gpu_export_sync_file in package example.com/dmademo/internal/gpu"]
    # As specific as rule 8 on its own stack: it ranks above the rr-upgrade rule by the same margin or more.
    direct = advise(ev_from("go_direct_syscall.json"))
    assert s.score - sugs[1].score >= direct[0].score - direct[1].score


def test_go_cgo_ioctl_on_gdbs_whole_backtrace():
    """gdb's bt goes on past the cgo boundary (runtime.asmcgocall, ?? frames, crosscall1, start_thread):
    the C region ends at the first Go symbol, so the later libc/exe frames change nothing."""
    frames = [tuple(f) for f in _demo_data()["uncut_native_frames"]]
    assert frames[4] == ("runtime.asmcgocall", DEMO_EXE)
    s = advise(ev_from(DEMO, native_frames=frames))[0]
    assert s.rule_id == "go-cgo-ioctl" and s.title.startswith(
        "C code compiled into the program makes the ioctl itself (probe_fence_export),")
    # A foreign library after the Go boundary is outside the C region.
    later = frames[:5] + [("helper", "/usr/lib/libfoo.so.1")] + frames[5:]
    assert ids(advise(ev_from(DEMO, native_frames=later)))[0] == "go-cgo-ioctl"


def test_go_cgo_ioctl_gcc_clone_and_unnamed_c_function():
    ev = ev_from(DEMO)
    clone = [ev.native_frames[0], ("probe_fence_export.constprop.0", DEMO_EXE)] + ev.native_frames[2:]
    s = advise(dataclasses.replace(ev, native_frames=clone))[0]
    assert s.rule_id == "go-cgo-ioctl" and "itself (probe_fence_export.constprop.0), called" in s.title
    unnamed = [ev.native_frames[0], (None, DEMO_EXE)] + ev.native_frames[2:]
    s = advise(dataclasses.replace(ev, native_frames=unnamed))[0]
    assert "itself (an unnamed function in demo), called" in s.title


def test_go_cgo_ioctl_executable_comparison(tmp_path):
    # Bare name for the program (as gdb may give it): same base name.
    assert ids(advise(ev_from(DEMO, executable="demo")))[0] == "go-cgo-ioctl"
    # Same file through a symlink: real paths agree.
    real = tmp_path / "real-demo"
    real.write_bytes(b"\x7fELF")
    link = tmp_path / "demo-link"
    link.symlink_to(real)
    ev = ev_from(DEMO)
    frames = [(fn, str(real) if obj == DEMO_EXE else obj) for fn, obj in ev.native_frames]
    assert ids(advise(dataclasses.replace(ev, native_frames=frames, executable=str(link))))[0] == "go-cgo-ioctl"
    # Another program of the same base name elsewhere is not the executable.
    assert "go-cgo-ioctl" not in ids(advise(ev_from(DEMO, executable="/opt/other/demo")))
    # Unknown program, or frames without objfiles: cannot tell, so silent.
    assert "go-cgo-ioctl" not in ids(advise(ev_from(DEMO, executable=None)))
    nameless = [(fn, None) for fn, _ in ev.native_frames]
    assert "go-cgo-ioctl" not in ids(advise(dataclasses.replace(ev, native_frames=nameless)))


@pytest.mark.parametrize("frames", [
    # Mesa between the ioctl and the program's C code: the Mesa rules speak, not this one.
    [("__GI___ioctl", LIBC), ("drmIoctl", "/usr/lib/x86_64-linux-gnu/libdrm.so.2"),
     ("llvmpipe_init_screen_fence_funcs", "/usr/lib/x86_64-linux-gnu/libgallium-24.3.1.so"),
     ("gpu_export_sync_file", DEMO_EXE), ("_cgo_0cd9de91985e_Cfunc_gpu_export_sync_file", DEMO_EXE)],
    # Mesa-named frames linked into the executable itself.
    [("__GI___ioctl", LIBC), ("drmIoctl", DEMO_EXE), ("gpu_export_sync_file", DEMO_EXE)],
    # An EGL library on the way.
    [("__GI___ioctl", LIBC), ("probe_fence_export", DEMO_EXE),
     ("eglInitialize", "/usr/lib/x86_64-linux-gnu/libEGL.so.1"), ("gpu_export_sync_file", DEMO_EXE)],
    # The C frames are in a shared library other than libc (the cgo stub alone is in the program).
    [("__GI___ioctl", LIBC), ("probe_fence_export", "/usr/lib/libgpuprobe.so.1"),
     ("gpu_export_sync_file", "/usr/lib/libgpuprobe.so.1"), ("_cgo_0cd9de91985e_Cfunc_gpu_export_sync_file", DEMO_EXE)],
    # ... and with no frame in the program at all.
    [("__GI___ioctl", LIBC), ("probe_fence_export", "/usr/lib/libgpuprobe.so.1")],
    # Only libc frames.
    [("__GI___ioctl", LIBC)],
    [],
])
def test_go_cgo_ioctl_silent_when_the_c_code_is_not_the_programs(frames):
    assert "go-cgo-ioctl" not in ids(advise(ev_from(DEMO, native_frames=frames)))


def test_go_cgo_ioctl_through_rr_page_and_loader():
    ev = ev_from(DEMO)
    frames = [(None, "/usr/lib/rr/librrpage.so"), ("__GI___ioctl", LIBC), ("_dl_runtime_resolve_xsavec",
              "/lib64/ld-linux-x86-64.so.2")] + ev.native_frames[1:]
    s = advise(dataclasses.replace(ev, native_frames=frames))[0]
    assert s.rule_id == "go-cgo-ioctl" and "itself (probe_fence_export), called" in s.title


def test_go_cgo_ioctl_silent_on_std_cgo_wrappers():
    """The toolchain's own cgo (net's getaddrinfo, os/user) is not the user's C code, even with a user
    frame further out."""
    go = [GoFrameEv("runtime.cgocall", "runtime", None, None, "runtime/cgocall.go", None),
          GoFrameEv("net._Cfunc_getaddrinfo", "net", None, None, "_cgo_gotypes.go", None),
          GoFrameEv("net.cgoLookupHostIP.func1", "net", None, None, "net/cgo_unix.go", None),
          GoFrameEv("net.cgoLookupHostIP", "net", None, None, "net/cgo_unix.go", None),
          GoFrameEv("main.main", "main", "example.com/dmademo", "(devel)", "/home/u/dmademo/main.go", 12)]
    natives = [("__GI___ioctl", LIBC), ("getaddrinfo", LIBC), ("_cgo_26061493d47f_Cfunc_getaddrinfo", DEMO_EXE)]
    sugs = advise(ev_from(DEMO, go_frames=go, native_frames=natives))
    assert ids(sugs) == ["rr-upgrade"]
    # No cgo wrapper at all (a goroutine in plain Go code): silent too.
    plain = [f for f in ev_from(DEMO).go_frames if "_Cfunc_" not in f.function]
    assert "go-cgo-ioctl" not in ids(advise(ev_from(DEMO, go_frames=plain)))
    # User Go code inside the wrapper does not belong to this cgo call: silent.
    inside = [GoFrameEv("example.com/dmademo/render.cb", "example.com/dmademo/render")] + ev_from(DEMO).go_frames
    assert "go-cgo-ioctl" not in ids(advise(ev_from(DEMO, go_frames=inside)))


@pytest.mark.parametrize("version", ["5.9.0", "5.10.0"])
def test_go_cgo_ioctl_with_an_rr_that_handles_it(version):
    sugs = advise(ev_from(DEMO, rr_version=version))
    assert ids(sugs) == ["go-cgo-ioctl"]
    s = sugs[0]
    assert 'os.Getenv("RUNNING_UNDER_RR")' in s.action and 'getenv("RUNNING_UNDER_RR")' in s.action
    assert "upgrade" not in s.action and s.action.endswith("rebuild and record again.")
    assert "cannot record" not in s.snippet
    assert "// The C code (probe_fence_export) issues DMA_BUF_IOCTL_EXPORT_SYNC_FILE: take the path" in s.snippet


def test_go_cgo_ioctl_without_release_or_request():
    none = advise(ev_from(DEMO, request=HEAP_ALLOC, request_names=["DMA_HEAP_IOCTL_ALLOC"],
                          rr_supported_since=None, rr_support_known=True))
    assert ids(none) == ["go-cgo-ioctl", "rr-no-release"]
    assert "no rr release handles DMA_HEAP_IOCTL_ALLOC yet" in none[0].action
    assert "DMA_HEAP_IOCTL_ALLOC (no rr release records it yet)" in none[0].snippet
    unknown = advise(ev_from(DEMO, request=None, request_names=[]))
    assert ids(unknown) == ["go-cgo-ioctl"]
    assert not any(e.startswith("ioctl request") for e in unknown[0].evidence)


def test_direct_ioctl_rule_stays_off_cgo_stacks_and_vice_versa():
    assert "go-direct-ioctl" not in ids(advise(ev_from(DEMO)))
    assert "go-cgo-ioctl" not in ids(advise(ev_from("go_direct_syscall.json")))


# ---------------------------------------------------------------------------------------------
# Output helpers and guards

@pytest.mark.parametrize("exe, shown", [(None, "./prog"), ("hello", "./hello"), ("./hello", "./hello"),
                                        ("/opt/my app/run", "'/opt/my app/run'")])
def test_exe_placeholder(exe, shown):
    s = by_id(advise(ev_from("rr3891_llvmpipe.json", executable=exe)), "mesa-llvmpipe-fence-probe")
    assert s.commands == ["rr record -v GALLIUM_DRIVER=softpipe %s" % shown]


def test_to_json():
    sugs = advise(ev_from("go_direct_syscall.json"))
    d = json.loads(json.dumps([to_json(s) for s in sugs]))
    assert {"rule_id", "title", "action", "step", "commands", "source", "evidence", "confidence",
            "score", "snippet", "text"} <= set(d[0])  # the documented SUGGESTION fields
    assert "snippet" not in d[1] and d[1]["rule_id"] == "rr-upgrade"
    assert d[0]["score"] == round(sugs[0].score, 2)


# ---------------------------------------------------------------------------------------------
# User rules

USER_RULE = {
    "id": "my-qt-quick",
    "priority": 5,
    "title": "Qt Quick's scene graph is initialising OpenGL ({request_name}).",
    "action": "Use Qt Quick's software backend while recording.",
    "commands": ["rr record -v QT_QUICK_BACKEND=software {exe}"],
    "source": "https://doc.qt.io/qt-6/qtquick-visualcanvas-adaptations.html",
    "requests": ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"],
    "require_any": {"native_functions": ["re:^QSGRhi", "QQuickWindow*"], "objfiles": ["libQt6Quick.so*"]},
}


def _write(tmp_path, obj, name="rules.json") -> str:
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


def test_user_rule_fires_and_ranks_first(tmp_path):
    rules = load_rules(_write(tmp_path, {"rules": [USER_RULE]}))
    assert rules[0].id == "my-qt-quick" and rules[0].origin.endswith("rules.json")
    frames = [("drmIoctl", "/lib/libdrm.so.2"), ("llvmpipe_init_screen_fence_funcs", None),
              ("QSGRhiSupport::create", "/usr/lib/libQt6Quick.so.6")]
    ev = Evidence(request=EXPORT, request_names=["DMA_BUF_IOCTL_EXPORT_SYNC_FILE"], native_frames=frames,
                  executable="qml")
    sugs = advise(ev, rules)
    assert ids(sugs) == ["my-qt-quick", "mesa-llvmpipe-fence-probe"]
    assert sugs[0].commands == ["rr record -v QT_QUICK_BACKEND=software ./qml"]
    assert sugs[0].evidence == ["ioctl request 0xc0086202 (DMA_BUF_IOCTL_EXPORT_SYNC_FILE)",
                                "native frame #2 QSGRhiSupport::create in libQt6Quick.so.6",
                                "native frame #2 in /usr/lib/libQt6Quick.so.6"]
    assert "my-qt-quick" not in ids(advise(dataclasses.replace(ev, native_frames=frames[:2]), rules))


def test_user_file_from_environment_replaces_and_disables(tmp_path, monkeypatch):
    replaced = dict(USER_RULE, id="mesa-llvmpipe-fence-probe", priority=0,
                    require_any={"native_functions": ["llvmpipe_*"]})
    path = _write(tmp_path, [replaced, {"id": "rr-upgrade", "disabled": True}])
    monkeypatch.setenv(advice.ENV_RULES, path)
    sugs = advise(ev_from("rr3891_llvmpipe.json"))
    assert ids(sugs) == ["mesa-llvmpipe-fence-probe"]
    assert sugs[0].commands == ["rr record -v QT_QUICK_BACKEND=software ./prog"]


@pytest.mark.parametrize("content, problem", [
    ("{\"rules\": [", "not valid JSON"),
    ({"rule": []}, "no \"rules\" list"),
    ({"rules": [dict(USER_RULE, kind="magic")]}, "unknown kind 'magic'"),
    ({"rules": [dict(USER_RULE, commands=["rr record {program}"])]}, "unknown placeholder {program}"),
    ({"rules": [dict(USER_RULE, require_any={"native_functions": ["re:("]})]}, "bad regular expression"),
    ({"rules": [dict(USER_RULE, require_any={"stack": ["x"]})]}, "unknown evidence kind 'stack'"),
    ({"rules": [dict(USER_RULE, requests=["0xZZ"])]}, "is not a number"),
    ({"rules": [dict(USER_RULE, titel="typo")]}, "unknown key(s) titel"),
    ({"rules": [{k: v for k, v in USER_RULE.items() if k != "source"}]}, "'source' must be a non-empty"),
    ({"rules": [USER_RULE, USER_RULE]}, "appears twice"),
    ({"rules": [dict(USER_RULE, kind="go_cgo_ioctl", system_objfiles=["re:["])]}, "bad regular expression"),
    ({"rules": [dict(USER_RULE, kind="go_cgo_ioctl", system_objfiles="libc.so*")]}, "\"system_objfiles\" must be"),
])
def test_malformed_user_file_is_one_line_error(tmp_path, content, problem):
    path = _write(tmp_path, content)
    with pytest.raises(UserError) as ei:
        load_rules(path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith("advice rules file %s: " % path)
    assert problem in msg


def test_missing_user_file_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(advice.ENV_RULES, str(tmp_path / "nope.json"))
    with pytest.raises(UserError) as ei:
        advise(ev_from("rr3891_llvmpipe.json"))
    assert "cannot read it" in str(ei.value) and "unset " + advice.ENV_RULES in str(ei.value)


def test_commands_that_cannot_help_are_dropped(tmp_path):
    useless = dict(USER_RULE, id="bad-advice", commands=["rr record -v LIBGL_ALWAYS_SOFTWARE=1 {exe}"],
                   require_any={"native_functions": ["llvmpipe_*"]})
    gallium = dict(USER_RULE, id="gl-advice", commands=["rr record -v GALLIUM_DRIVER=softpipe {exe}",
                                                        "rr record -n {exe}"],
                   require_any={"native_functions": ["llvmpipe_*"]})
    rules = load_rules(_write(tmp_path, [useless, gallium]))
    gl = advise(ev_from("rr3891_llvmpipe.json"), rules)
    assert "bad-advice" not in ids(gl)
    assert by_id(gl, "gl-advice").commands == ["rr record -v GALLIUM_DRIVER=softpipe ./prog", "rr record -n ./prog"]
    vk = advise(ev_from("lavapipe_enumerate.json"), rules)
    assert by_id(vk, "gl-advice").commands == ["rr record -n ./vkcube"]


# ---------------------------------------------------------------------------------------------
# Stops recorded in the lab: real kernel, real stripped Mesa 25 (no llvmpipe_* names)

LAB_DATA = sorted(p.name for p in DATA.glob("lab_*.json"))


def test_lab_recordings_exist():
    names = set(LAB_DATA)
    for want in ("lab_eglgo_remote.json", "lab_egl_c_remote.json", "lab_vkgo_remote.json",
                 "lab_eglgo_native.json", "lab_vkgo_native.json", "lab_egl_c_core.json"):
        assert want in names, want


@pytest.mark.parametrize("name", LAB_DATA)
def test_lab_stop_gives_the_advice_it_printed(name):
    d = json.loads((DATA / name).read_text())
    assert d["origin"] == "recorded" and d["source"].startswith("lab stop, ")
    sugs = advise(ev_from(name))
    assert ids(sugs) == d["printed_rule_ids"]
    assert [s.missing for s in sugs] == d["printed_missing"]


@pytest.mark.parametrize("name", [n for n in LAB_DATA if "_egl" in n])
def test_stripped_mesa_egl_is_llvmpipe(name):
    d = json.loads((DATA / name).read_text())
    assert not any(f and f.startswith("llvmpipe_") for f, _ in _frames(d))   # Debian strips Mesa
    s = advise(ev_from(name))[0]
    assert s.rule_id == "mesa-llvmpipe-fence-probe"
    assert s.commands == ["rr record -v GALLIUM_DRIVER=softpipe %s" % d["executable"]]
    if d["proc_readable"]:
        assert s.missing == "" and s.confidence == "high"
        assert any(e.startswith("memfd lp_dma_buf") for e in s.evidence)
    else:
        assert s.confidence == "medium"
        assert s.missing.startswith("no llvmpipe_* frame names (stripped: 5 unnamed frames in libgallium-")
        assert "no /proc (%s" % ("remote target" if d["target_kind"] == "remote" else "core file") in s.missing
        assert re.search(r"recognised from libgallium-25\.0\.7-2\+deb13u1\.so \+ driCreateNewScreen3$", s.missing)
    # Without driCreateNewScreen3 (a broken unwind, say) and without /proc there is nothing to go on.
    frames = [(None if f == "driCreateNewScreen3" else f, o) for f, o in _frames(d)]
    bare = ev_from(name, native_frames=frames, fd_links={})
    assert "mesa-llvmpipe-fence-probe" not in ids(advise(bare))


@pytest.mark.parametrize("name", [n for n in LAB_DATA if "_vkgo" in n])
def test_stripped_lavapipe_gets_the_loader_filter_and_the_loss(name):
    d = json.loads((DATA / name).read_text())
    sugs = advise(ev_from(name))
    s = sugs[0]
    assert s.rule_id == "mesa-lavapipe-enumerate"
    assert s.commands == ["rr record -v VK_LOADER_DRIVERS_DISABLE='*lvp*' %s" % d["executable"]]
    assert "no Vulkan device is left" in s.action
    assert not any("GALLIUM_DRIVER" in c for x in sugs for c in x.commands)
    if not d["proc_readable"]:
        assert "recognised from libvulkan_lvp.so + vkEnumeratePhysicalDevices" in s.missing, s.missing


def test_lab_remote_egl_stop_without_the_request_is_silent():
    # The rule is scoped to EXPORT_SYNC_FILE: the same stripped frames under another ioctl say nothing.
    ev = ev_from("lab_egl_c_remote.json", request=HEAP_ALLOC, request_names=["DMA_HEAP_IOCTL_ALLOC"],
                 rr_supported_since=None)
    assert "mesa-llvmpipe-fence-probe" not in ids(advise(ev))
