"""Argument decoders on bytes (MemoryTarget): entry vs exit, unreadable pointers, flag names with unknown
bits, fd links. Offsets here are written out by hand from the uapi structs (test_ioctl_layout.py checks
the decoder tables against the compiled headers)."""
from __future__ import annotations

import struct

import pytest

from gdb_rr_dmabuf.ioctl.structs import LIST_LIMIT, decode_argument, decoded_requests
from gdb_rr_dmabuf.target_memory import MemoryTarget

A = 0x7FFD5E1C3B40  # argument address
LINKS = {3: "/dev/dri/renderD128", 5: "/memfd:lp_dma_buf (deleted)", 7: "anon_inode:sync_file",
         8: "/dmabuf:", 9: "anon_inode:sync_file"}


def tgt(data: bytes, extra=None, links=LINKS):
    regions = {A: data}
    regions.update(extra or {})
    return MemoryTarget(regions, links=links)


def fields(dec):
    return {f.name: f for f in dec.fields}


def test_no_decoder():
    assert decode_argument(0x5401, tgt(b"\0" * 8), A, True) is None
    assert decode_argument(0xC0086203, tgt(b"\0" * 8), A, True) is None  # wrong dir for IMPORT


def test_every_row_of_the_knowledge_table_has_a_decoder():
    want = {0x40086200, 0x40086201, 0x40046201, 0xC0086202, 0x40086203, 0xC0184800, 0x40187542, 0x40087543,
            0xC0303E03, 0xC0383E04, 0x40103E05, 0xC00C642D, 0xC00C642E, 0xC01064C1, 0xC01864C1, 0xC01064C2,
            0xC01864C2}
    assert want <= set(decoded_requests())


def test_export_sync_file_exit_entry_failure():
    t = tgt(struct.pack("<Ii", 1, 7))
    d = decode_argument(0xC0086202, t, A, at_exit=True)
    f = fields(d)
    assert d.struct == "dma_buf_export_sync_file" and d.size == 8 and d.error is None
    assert (f["flags"].value, f["flags"].names, f["flags"].role) == (1, ["DMA_BUF_SYNC_READ"], "in")
    assert (f["fd"].value, f["fd"].role, f["fd"].ctype) == (7, "out", "s32")
    assert f["fd"].note == "new fd 7 -> anon_inode:sync_file"

    e = fields(decode_argument(0xC0086202, t, A, at_exit=False))
    assert e["fd"].value is None and e["fd"].note == "not written yet (entry)"
    assert e["flags"].value == 1

    x = fields(decode_argument(0xC0086202, t, A, at_exit=True, result=-22))
    assert "EINVAL" in x["fd"].note and "new fd" not in x["fd"].note
    ok = fields(decode_argument(0xC0086202, t, A, at_exit=True, result=0))
    assert ok["fd"].note.startswith("new fd 7")


def test_sign_extended_request_and_unknown_link():
    d = decode_argument(0xFFFFFFFFC0086202, tgt(struct.pack("<Ii", 3, 42)), A, True)
    f = fields(d)
    assert f["fd"].note == "new fd 42"
    assert f["flags"].names == ["DMA_BUF_SYNC_READ", "DMA_BUF_SYNC_WRITE"]


def test_unreadable_pointer_gives_error_not_exception():
    d = decode_argument(0xC0086202, tgt(b"\0" * 8), 0x10, True)
    assert d.error.startswith("cannot read 8 bytes at 0x10")
    assert all(f.value is None for f in d.fields) and [f.name for f in d.fields] == ["flags", "fd"]
    # a struct that runs off the end of the mapping
    d = decode_argument(0xC0184800, tgt(b"\0" * 16), A, True)
    assert d.error and "24 bytes" in d.error


def test_import_sync_file_input_fd_link_at_entry():
    f = fields(decode_argument(0x40086203, tgt(struct.pack("<Ii", 2, 9)), A, at_exit=False))
    assert f["flags"].names == ["DMA_BUF_SYNC_WRITE"]
    assert f["fd"].role == "in" and f["fd"].note == "fd 9 -> anon_inode:sync_file"


@pytest.mark.parametrize("flags,names", [
    (0, ["DMA_BUF_SYNC_START"]),
    (1, ["DMA_BUF_SYNC_READ", "DMA_BUF_SYNC_START"]),
    (6, ["DMA_BUF_SYNC_WRITE", "DMA_BUF_SYNC_END"]),
    (7, ["DMA_BUF_SYNC_RW", "DMA_BUF_SYNC_END"]),
    (0x13, ["DMA_BUF_SYNC_RW", "DMA_BUF_SYNC_START", "0x10"]),
    (1 << 40 | 5, ["DMA_BUF_SYNC_READ", "DMA_BUF_SYNC_END", "0x10000000000"]),
])
def test_dma_buf_sync_flags(flags, names):
    f = fields(decode_argument(0x40086200, tgt(struct.pack("<Q", flags)), A, True))
    assert f["flags"].value == flags and f["flags"].names == names and f["flags"].ctype == "u64"


def test_export_flags_unknown_bits():
    f = fields(decode_argument(0xC0086202, tgt(struct.pack("<Ii", 0x81, 7)), A, True))
    assert f["flags"].names == ["DMA_BUF_SYNC_READ", "0x80"]


@pytest.mark.parametrize("req", [0x40086201, 0x40046201])
def test_set_name_reads_the_string(req):
    s = 0x555500001000
    d = decode_argument(req, tgt(b"", {s: b"lp_dma_buf\0garbage"}), s, False)
    assert d.fields[0].value == "lp_dma_buf" and d.fields[0].ctype == "char[32]" and d.error is None
    long = decode_argument(req, tgt(b"", {s: b"x" * 40}), s, False)
    assert long.fields[0].value == "x" * 32 and "NUL" in long.fields[0].note
    bad = decode_argument(req, tgt(b""), 0, False)
    assert bad.error and bad.fields[0].value is None


def test_dma_heap_alloc():
    raw = struct.pack("<QIIQ", 1 << 20, 11, 0x80002, 0)
    f = fields(decode_argument(0xC0184800, tgt(raw, links={11: "/dmabuf:"}), A, True))
    assert f["len"].value == 1 << 20
    assert f["fd"].value == 11 and f["fd"].note == "new fd 11 -> /dmabuf:"
    assert f["fd_flags"].names == ["O_RDWR", "O_CLOEXEC"]
    assert f["heap_flags"].names == []
    f = fields(decode_argument(0xC0184800, tgt(struct.pack("<QIIQ", 4096, 0, 0x40, 2)), A, False))
    assert f["fd"].value is None and f["fd_flags"].names == ["O_RDONLY", "0x40"] and f["heap_flags"].names == ["0x2"]


def test_udmabuf_create():
    d = decode_argument(0x40187542, tgt(struct.pack("<IIQQ", 5, 3, 0, 8192)), A, False)
    f = fields(d)
    assert d.returns_fd
    assert f["memfd"].note == "fd 5 -> /memfd:lp_dma_buf (deleted)"
    assert f["flags"].names == ["UDMABUF_FLAGS_CLOEXEC", "0x2"]
    assert (f["offset"].value, f["size"].value) == (0, 8192)


def test_udmabuf_create_list_bounded():
    items = b"".join(struct.pack("<IIQQ", 5, 0, i * 4096, 4096) for i in range(2))
    d = decode_argument(0x40087543, tgt(struct.pack("<II", 1, 2) + items), A, False)
    f = fields(d)
    assert d.returns_fd and f["count"].value == 2 and f["flags"].names == ["UDMABUF_FLAGS_CLOEXEC"]
    assert f["list[1].offset"].value == 4096 and f["list[1].offset"].offset == 8 + 24 + 8
    assert f["list[0].memfd"].note == "fd 5 -> /memfd:lp_dma_buf (deleted)"
    many = 1000
    items = b"".join(struct.pack("<IIQQ", 5, 0, 0, 4096) for i in range(LIST_LIMIT))
    d = decode_argument(0x40087543, tgt(struct.pack("<II", 0, many) + items), A, False)
    assert sum(1 for x in d.fields if x.name.endswith(".memfd")) == LIST_LIMIT
    assert "of %d" % many in fields(d)["count"].note
    # count says 2 but the list is not mapped
    d = decode_argument(0x40087543, tgt(struct.pack("<II", 0, 2)), A, False)
    assert d.error.startswith("list: cannot read 48 bytes")
    assert fields(d)["count"].value == 2


def test_sync_merge():
    raw = b"merged".ljust(32, b"\0") + struct.pack("<iiII", 9, 7, 0, 0)
    f = fields(decode_argument(0xC0303E03, tgt(raw), A, True))
    assert f["name"].value == "merged" and f["fd2"].note == "fd 9 -> anon_inode:sync_file"
    assert f["fence"].note == "new fd 7 -> anon_inode:sync_file" and f["fence"].role == "out"
    f = fields(decode_argument(0xC0303E03, tgt(raw), A, False))
    assert f["fence"].value is None


def test_sync_file_info_exit_reads_bounded_array():
    arr = 0x600000
    info = b"dma_fence_array".ljust(32, b"\0") + struct.pack("<iIIIQ", 1, 0, 2, 0, arr)
    fences = b"".join(
        (b"tl%d" % i).ljust(32, b"\0") + b"drv".ljust(32, b"\0") + struct.pack("<iIQ", 1, 0, 1000 + i)
        for i in range(2))
    d = decode_argument(0xC0383E04, tgt(info, {arr: fences}), A, True)
    f = fields(d)
    assert f["name"].value == "dma_fence_array" and f["status"].value == 1 and f["num_fences"].value == 2
    assert f["sync_fence_info"].value == arr and f["sync_fence_info"].ctype == "ptr"
    assert f["sync_fence_info[1].obj_name"].value == "tl1"
    assert f["sync_fence_info[1].timestamp_ns"].value == 1001
    assert f["sync_fence_info[1].timestamp_ns"].offset == 80 + 72
    # entry: outputs not written, no array read
    e = decode_argument(0xC0383E04, tgt(info, {arr: fences}), A, False)
    ef = fields(e)
    assert ef["name"].value is None and ef["status"].value is None and not any("[" in x.name for x in e.fields)
    # exit, array pointer unmapped
    d = decode_argument(0xC0383E04, tgt(info), A, True)
    assert d.error.startswith("sync_fence_info: cannot read 160 bytes")
    # exit after a failure: no array read
    d = decode_argument(0xC0383E04, tgt(info, {arr: fences}), A, True, result=-22)
    assert not any("[" in x.name for x in d.fields)


def test_set_deadline():
    f = fields(decode_argument(0x40103E05, tgt(struct.pack("<QQ", 123456789, 0)), A, False))
    assert f["deadline_ns"].value == 123456789 and f["pad"].names == []


def test_drm_prime_pair():
    f = fields(decode_argument(0xC00C642D, tgt(struct.pack("<IIi", 1, 0x80002, 8)), A, True))
    assert f["flags"].names == ["DRM_CLOEXEC", "DRM_RDWR"] and f["fd"].note == "new fd 8 -> /dmabuf:"
    f = fields(decode_argument(0xC00C642D, tgt(struct.pack("<IIi", 1, 0x80003, -1)), A, True))
    assert f["flags"].names == ["DRM_CLOEXEC", "DRM_RDWR", "0x1"] and f["fd"].note is None
    f = fields(decode_argument(0xC00C642E, tgt(struct.pack("<IIi", 0, 0, 8)), A, False))
    assert f["handle"].role == "out" and f["handle"].value is None and f["fd"].note == "fd 8 -> /dmabuf:"


@pytest.mark.parametrize("size", [16, 24])
def test_syncobj_pairs_both_sizes(size):
    h2fd = 0xC00064C1 | (size << 16)
    fd2h = 0xC00064C2 | (size << 16)
    tail = struct.pack("<Q", 5) if size == 24 else b""
    d = decode_argument(h2fd, tgt(struct.pack("<IIiI", 4, 3, 7, 0) + tail), A, True)
    f = fields(d)
    assert d.size == size
    assert f["flags"].names == ["DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_EXPORT_SYNC_FILE",
                                "DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_TIMELINE"]
    assert f["fd"].note == "new fd 7 -> anon_inode:sync_file"
    assert ("point" in f) == (size == 24)
    # FD_TO_HANDLE: handle is an input with IMPORT_SYNC_FILE, an output without
    f = fields(decode_argument(fd2h, tgt(struct.pack("<IIiI", 4, 1, 9, 0) + tail), A, False))
    assert f["handle"].role == "in" and f["handle"].value == 4
    assert f["fd"].note == "fd 9 -> anon_inode:sync_file"
    f = fields(decode_argument(fd2h, tgt(struct.pack("<IIiI", 4, 0, 9, 0) + tail), A, False))
    assert f["handle"].role == "out" and f["handle"].value is None
    f = fields(decode_argument(fd2h, tgt(struct.pack("<IIiI", 4, 0, 9, 0) + tail), A, True))
    assert f["handle"].value == 4


def test_unknown_address():
    d = decode_argument(0xC0086202, tgt(b""), None, True)
    assert d.error == "the argument address is not known" and [f.value for f in d.fields] == [None, None]
