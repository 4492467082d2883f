"""The decoder tables against the real uapi headers: tests/fixtures/c/ioctl_layout.c, compiled here,
prints every request number, struct size, field offset and flag value the decoders use."""
from __future__ import annotations

import subprocess

import pytest

from gdb_rr_dmabuf.ioctl import decode_ioc, names_for, value_of
from gdb_rr_dmabuf.ioctl import structs
from tests.support.toolchains import build_c


@pytest.fixture(scope="module")
def layout():
    exe = build_c("ioctl_layout.c")
    out = subprocess.run([str(exe)], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    req, sizes, fields, consts, local = {}, {}, {}, {}, set()
    for line in out.splitlines():
        parts = line.split()
        if parts[-1] == "local":
            local.add(tuple(parts[:-1]))
            parts = parts[:-1]
        kind = parts[0]
        if kind == "request":
            req[parts[1]] = int(parts[2], 16)
        elif kind == "struct":
            sizes[parts[1]] = int(parts[2])
        elif kind == "field":
            fields.setdefault(parts[1], {})[parts[2]] = int(parts[3])
        elif kind == "const":
            consts[parts[1]] = int(parts[2])
    assert len(req) >= 19 and len(sizes) >= 14
    return req, sizes, fields, consts, local


def test_every_decoder_request_number_matches_the_headers(layout):
    req = layout[0]
    for spec in structs.SPECS:
        name = spec.request_name
        if spec.size == 24 and name.startswith("DRM_IOCTL_SYNCOBJ"):
            name += "_V2"
        assert spec.request == req[name], (name, hex(spec.request), hex(req[name]))
        assert decode_ioc(spec.request).size == (spec.size if spec.kind == "struct" else decode_ioc(req[name]).size)


def test_struct_sizes_and_offsets_match_the_headers(layout):
    _req, sizes, fields, _c, _l = layout
    ours = structs.struct_layouts()
    for sname, (size, offs) in ours.items():
        assert sizes[sname] == size, sname
        for fname, off in offs.items():
            if sname == "drm_syncobj_handle_v2" and fname != "point":
                assert fields["drm_syncobj_handle"][fname] == off  # unchanged prefix of the 6.16 struct
                continue
            assert fields[sname][fname] == off, (sname, fname)
    # every field the header has is decoded (udmabuf_create_list.list is decoded as list[i].*)
    for sname, offs in fields.items():
        if sname in ours:
            missing = set(offs) - set(ours[sname][1]) - {"list"}
            assert not missing, (sname, missing)


def test_flag_values_match_the_headers(layout):
    consts = layout[3]
    for name, value in consts.items():
        assert getattr(structs, name) == value, name


def test_name_table_agrees_with_the_headers(layout):
    req = layout[0]
    for name, value in req.items():
        if name.endswith("_V2"):
            assert name[:-3] in names_for(value)
            continue
        assert name in names_for(value), name
        assert value_of(name) == value, name
    assert sorted(names_for(req["DMA_BUF_IOCTL_IMPORT_SYNC_FILE"])) == [
        "BINDER_SET_IDLE_TIMEOUT", "DMA_BUF_IOCTL_IMPORT_SYNC_FILE"]


def test_local_mirrors_are_only_the_newer_layouts(layout):
    local = layout[4]
    names = {t[1] for t in local}
    assert names <= {"SYNC_IOC_SET_DEADLINE", "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD_V2", "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE_V2",
                     "sync_set_deadline", "drm_syncobj_handle_v2"}
