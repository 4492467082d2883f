"""Argument decoders for the dma-buf family and its neighbours (layouts from the Linux uapi headers
linux/dma-buf.h, dma-heap.h, udmabuf.h, sync_file.h and drm/drm.h; tests/fixtures/c/ioctl_layout.c checks
every number, size and offset against the real headers).

decode_argument() reads the argument struct through a Target and returns one ArgDecode; it never raises
for unreadable memory (ArgDecode.error says what could not be read). Layouts are the same on x86-64 and
aarch64 (only fixed-size __u32/__s32/__u64/char fields).

Roles: 'in' = user -> kernel, 'out' = kernel -> user, 'inout' = both. At syscall entry an 'out' field
has no value yet (value None, note 'not written yet (entry)'); at exit (rr's emergency stop comes after
the kernel ran the call) it holds what the kernel wrote, if the call succeeded.

Fields of data behind a pointer or of inline arrays are named like 'list[0].memfd' or
'sync_fence_info[1].status'; their offset is counted from the start of the struct (inline list) or of
the pointed-to array (sync_fence_info), as the note says.
"""
from __future__ import annotations

import struct as _struct
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import UserError
from .ioc import ioc

LIST_LIMIT = 16  # at most this many list entries are read (UDMABUF_CREATE_LIST, SYNC_IOC_FILE_INFO)

DMA_BUF_NAME_LEN = 32


@dataclass
class Field:
    name: str
    offset: int
    ctype: str  # 'u32', 's32', 'u64', 'char[32]', 'ptr'
    role: str  # 'in' | 'out' | 'inout'
    value: Optional[Union[int, str]] = None  # None when not read (or output not yet written at entry)
    names: List[str] = field(default_factory=list)  # flag/enum names, e.g. ['DMA_BUF_SYNC_READ']
    note: Optional[str] = None  # e.g. 'new fd 7 -> anon_inode:sync_file', 'not written yet (entry)'


@dataclass
class ArgDecode:
    address: int
    struct: str
    size: int
    fields: List[Field]
    returns_fd: bool = False  # UDMABUF_CREATE(_LIST): the new fd is the syscall result
    error: Optional[str] = None  # e.g. 'cannot read 8 bytes at 0x10: ...' (never raised)

    def field(self, name: str) -> Optional[Field]:
        for f in self.fields:
            if f.name == name:
                return f
        return None


# --------------------------------------------------------------------------------------------------
# Flags

O_ACCMODE = 3
O_CLOEXEC = 0o2000000  # 0x80000, the same on x86-64 and aarch64 (asm-generic/fcntl.h)
DRM_CLOEXEC = O_CLOEXEC
DRM_RDWR = 2  # O_RDWR

DMA_BUF_SYNC_READ = 1
DMA_BUF_SYNC_WRITE = 2
DMA_BUF_SYNC_RW = 3
DMA_BUF_SYNC_START = 0
DMA_BUF_SYNC_END = 4
DMA_BUF_SYNC_VALID_FLAGS_MASK = 7
UDMABUF_FLAGS_CLOEXEC = 1
DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE = 1
DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_TIMELINE = 2  # linux 6.16
DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_EXPORT_SYNC_FILE = 1
DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_TIMELINE = 2  # linux 6.16


def _bits(value: int, table: Sequence[Tuple[int, str]]) -> List[str]:
    """Names of the set bits in table order, then the unknown remainder as hex."""
    out = []
    rest = value
    for bit, name in table:
        if value & bit == bit and bit:
            out.append(name)
            rest &= ~bit
    if rest:
        out.append("0x%x" % rest)
    return out


def flags_dma_buf_sync(v: int) -> List[str]:
    rw = v & DMA_BUF_SYNC_RW
    out = {1: ["DMA_BUF_SYNC_READ"], 2: ["DMA_BUF_SYNC_WRITE"], 3: ["DMA_BUF_SYNC_RW"]}.get(rw, [])
    out.append("DMA_BUF_SYNC_END" if v & DMA_BUF_SYNC_END else "DMA_BUF_SYNC_START")
    rest = v & ~DMA_BUF_SYNC_VALID_FLAGS_MASK
    if rest:
        out.append("0x%x" % rest)
    return out


def flags_dma_buf_rw(v: int) -> List[str]:
    return _bits(v, ((DMA_BUF_SYNC_READ, "DMA_BUF_SYNC_READ"), (DMA_BUF_SYNC_WRITE, "DMA_BUF_SYNC_WRITE")))


def flags_open(v: int) -> List[str]:
    acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}[v & O_ACCMODE]
    return [acc] + _bits(v & ~O_ACCMODE, ((O_CLOEXEC, "O_CLOEXEC"),))


def flags_drm_prime(v: int) -> List[str]:
    return _bits(v, ((DRM_CLOEXEC, "DRM_CLOEXEC"), (DRM_RDWR, "DRM_RDWR")))


def flags_udmabuf(v: int) -> List[str]:
    return _bits(v, ((UDMABUF_FLAGS_CLOEXEC, "UDMABUF_FLAGS_CLOEXEC"),))


def flags_syncobj_h2fd(v: int) -> List[str]:
    return _bits(v, ((DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_EXPORT_SYNC_FILE, "DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_EXPORT_SYNC_FILE"),
                     (DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_TIMELINE, "DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_TIMELINE")))


def flags_syncobj_fd2h(v: int) -> List[str]:
    return _bits(v, ((DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE, "DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE"),
                     (DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_TIMELINE, "DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_TIMELINE")))


def flags_none(v: int) -> List[str]:
    """Fields where no flag is defined (the kernel wants 0)."""
    return ["0x%x" % v] if v else []


# --------------------------------------------------------------------------------------------------
# Layouts

@dataclass
class FieldSpec:
    name: str
    offset: int
    ctype: str
    role: str
    flags: Optional[Callable[[int], List[str]]] = None
    fd: bool = False  # the field holds a file descriptor


@dataclass
class StructSpec:
    request_name: str
    request: int
    struct: str
    size: int
    fields: List[FieldSpec]
    returns_fd: bool = False
    kind: str = "struct"  # 'struct' | 'string' (arg points at a NUL-terminated name)


F = FieldSpec
_DMA_BUF_EXPORT = [F("flags", 0, "u32", "in", flags_dma_buf_rw), F("fd", 4, "s32", "out", fd=True)]
_DMA_BUF_IMPORT = [F("flags", 0, "u32", "in", flags_dma_buf_rw), F("fd", 4, "s32", "in", fd=True)]
_PRIME_H2FD = [F("handle", 0, "u32", "in"), F("flags", 4, "u32", "in", flags_drm_prime), F("fd", 8, "s32", "out", fd=True)]
_PRIME_FD2H = [F("handle", 0, "u32", "out"), F("flags", 4, "u32", "in", flags_drm_prime), F("fd", 8, "s32", "in", fd=True)]
_SYNCOBJ_H2FD = [F("handle", 0, "u32", "in"), F("flags", 4, "u32", "in", flags_syncobj_h2fd),
                 F("fd", 8, "s32", "out", fd=True), F("pad", 12, "u32", "in", flags_none)]
# handle is an input when IMPORT_SYNC_FILE is set (the syncobj to import into), else an output.
_SYNCOBJ_FD2H = [F("handle", 0, "u32", "inout"), F("flags", 4, "u32", "in", flags_syncobj_fd2h),
                 F("fd", 8, "s32", "in", fd=True), F("pad", 12, "u32", "in", flags_none)]
_POINT = F("point", 16, "u64", "in")

SPECS: List[StructSpec] = [
    StructSpec("DMA_BUF_IOCTL_SYNC", ioc(1, "b", 0, 8), "dma_buf_sync", 8,
               [F("flags", 0, "u64", "in", flags_dma_buf_sync)]),
    StructSpec("DMA_BUF_SET_NAME_B", ioc(1, "b", 1, 8), "char name[DMA_BUF_NAME_LEN]", DMA_BUF_NAME_LEN,
               [F("name", 0, "char[32]", "in")], kind="string"),
    StructSpec("DMA_BUF_SET_NAME_A", ioc(1, "b", 1, 4), "char name[DMA_BUF_NAME_LEN]", DMA_BUF_NAME_LEN,
               [F("name", 0, "char[32]", "in")], kind="string"),
    StructSpec("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", ioc(3, "b", 2, 8), "dma_buf_export_sync_file", 8, _DMA_BUF_EXPORT),
    StructSpec("DMA_BUF_IOCTL_IMPORT_SYNC_FILE", ioc(1, "b", 3, 8), "dma_buf_import_sync_file", 8, _DMA_BUF_IMPORT),
    StructSpec("DMA_HEAP_IOCTL_ALLOC", ioc(3, "H", 0, 24), "dma_heap_allocation_data", 24,
               [F("len", 0, "u64", "in"), F("fd", 8, "u32", "out", fd=True), F("fd_flags", 12, "u32", "in", flags_open),
                F("heap_flags", 16, "u64", "in", flags_none)]),
    StructSpec("UDMABUF_CREATE", ioc(1, "u", 0x42, 24), "udmabuf_create", 24,
               [F("memfd", 0, "u32", "in", fd=True), F("flags", 4, "u32", "in", flags_udmabuf),
                F("offset", 8, "u64", "in"), F("size", 16, "u64", "in")], returns_fd=True),
    StructSpec("UDMABUF_CREATE_LIST", ioc(1, "u", 0x43, 8), "udmabuf_create_list", 8,
               [F("flags", 0, "u32", "in", flags_udmabuf), F("count", 4, "u32", "in")], returns_fd=True),
    StructSpec("SYNC_IOC_MERGE", ioc(3, ">", 3, 48), "sync_merge_data", 48,
               [F("name", 0, "char[32]", "in"), F("fd2", 32, "s32", "in", fd=True), F("fence", 36, "s32", "out", fd=True),
                F("flags", 40, "u32", "in", flags_none), F("pad", 44, "u32", "in", flags_none)]),
    StructSpec("SYNC_IOC_FILE_INFO", ioc(3, ">", 4, 56), "sync_file_info", 56,
               [F("name", 0, "char[32]", "out"), F("status", 32, "s32", "out"), F("flags", 36, "u32", "in", flags_none),
                F("num_fences", 40, "u32", "inout"), F("pad", 44, "u32", "in", flags_none),
                F("sync_fence_info", 48, "ptr", "in")]),
    StructSpec("SYNC_IOC_SET_DEADLINE", ioc(1, ">", 5, 16), "sync_set_deadline", 16,
               [F("deadline_ns", 0, "u64", "in"), F("pad", 8, "u64", "in", flags_none)]),
    StructSpec("DRM_IOCTL_PRIME_HANDLE_TO_FD", ioc(3, "d", 0x2D, 12), "drm_prime_handle", 12, _PRIME_H2FD),
    StructSpec("DRM_IOCTL_PRIME_FD_TO_HANDLE", ioc(3, "d", 0x2E, 12), "drm_prime_handle", 12, _PRIME_FD2H),
    StructSpec("DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD", ioc(3, "d", 0xC1, 16), "drm_syncobj_handle", 16, _SYNCOBJ_H2FD),
    StructSpec("DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE", ioc(3, "d", 0xC2, 16), "drm_syncobj_handle", 16, _SYNCOBJ_FD2H),
    StructSpec("DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD", ioc(3, "d", 0xC1, 24), "drm_syncobj_handle (linux 6.16+, with point)",
               24, _SYNCOBJ_H2FD + [_POINT]),
    StructSpec("DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE", ioc(3, "d", 0xC2, 24), "drm_syncobj_handle (linux 6.16+, with point)",
               24, _SYNCOBJ_FD2H + [_POINT]),
]
del F

# udmabuf_create_item (inline after udmabuf_create_list) and sync_fence_info (behind a pointer)
UDMABUF_ITEM = ("udmabuf_create_item", 24, [("memfd", 0, "u32"), ("__pad", 4, "u32"), ("offset", 8, "u64"),
                                            ("size", 16, "u64")])
SYNC_FENCE_INFO = ("sync_fence_info", 80, [("obj_name", 0, "char[32]"), ("driver_name", 32, "char[32]"),
                                           ("status", 64, "s32"), ("flags", 68, "u32"), ("timestamp_ns", 72, "u64")])

_BY_REQUEST: Dict[int, StructSpec] = {s.request: s for s in SPECS}


def spec_for(request: int) -> Optional[StructSpec]:
    return _BY_REQUEST.get(int(request) & 0xFFFFFFFF)


def decoded_requests() -> List[int]:
    return sorted(_BY_REQUEST)


# --------------------------------------------------------------------------------------------------
# Reading

_FMT = {"u32": "<I", "s32": "<i", "u64": "<Q", "ptr": "<Q"}


def _value(raw: bytes, off: int, ctype: str) -> Union[int, str]:
    if ctype.startswith("char["):
        n = int(ctype[5:-1])
        s = raw[off:off + n]
        nul = s.find(b"\0")
        return (s if nul < 0 else s[:nul]).decode("utf-8", errors="backslashreplace")
    return _struct.unpack_from(_FMT[ctype], raw, off)[0]


def _errno_text(result: Optional[int]) -> Optional[str]:
    if result is None:
        return None
    from ..errnos import MAX_ERRNO, describe_result
    val, name = describe_result(result)
    if not -MAX_ERRNO <= val < 0:
        return None
    return name or "errno %d" % -val


def _fd_note(target, fd: int, new: bool) -> Optional[str]:
    if not isinstance(fd, int) or fd < 0 or fd > 0x7FFFFFFF:
        return None
    try:
        link = target.fd_link(fd)
    except Exception:  # a Target that cannot tell; decoders never raise for this
        link = None
    head = ("new fd %d" if new else "fd %d") % fd
    return head + (" -> " + link if link else "")


def _read(target, addr: int, size: int) -> Tuple[Optional[bytes], Optional[str]]:
    try:
        return target.read(addr, size), None
    except UserError as e:
        return None, str(e)
    except Exception as e:  # a broken backend must not take the command down
        return None, "cannot read %d bytes at 0x%x: %s" % (size, addr, e)


def decode_argument(request: int, target, addr: int, at_exit: bool, arch: str = "x86-64",
                    result: Optional[int] = None) -> Optional[ArgDecode]:
    """Decode the argument of `request` at `addr`; None when there is no decoder for the request.

    at_exit: the kernel has run the call (rr's emergency stop); output fields are read and fds that the
    call created get their /proc link in `note`. result: the raw syscall return, when known; a failed
    call's output fields are marked as not valid.
    """
    spec = spec_for(request)
    if spec is None:
        return None
    if addr is None:
        return ArgDecode(address=0, struct=spec.struct, size=spec.size, returns_fd=spec.returns_fd,
                         fields=[Field(f.name, f.offset, f.ctype, f.role) for f in spec.fields],
                         error="the argument address is not known")
    addr = int(addr) & 0xFFFFFFFFFFFFFFFF
    failed = _errno_text(result) if at_exit else None
    if spec.kind == "string":
        return _decode_name(spec, target, addr)

    raw, err = _read(target, addr, spec.size)
    out = ArgDecode(address=addr, struct=spec.struct, size=spec.size, fields=[], returns_fd=spec.returns_fd,
                    error=err)
    values: Dict[str, Union[int, str, None]] = {}
    for fs in spec.fields:
        f = Field(fs.name, fs.offset, fs.ctype, fs.role)
        out.fields.append(f)
        if raw is None:
            continue
        if fs.role == "out" and not at_exit:
            f.note = "not written yet (entry)"
            continue
        f.value = _value(raw, fs.offset, fs.ctype)
        values[fs.name] = f.value
        if fs.flags is not None and isinstance(f.value, int):
            f.names = fs.flags(f.value)
        if fs.role == "out" and failed:
            f.note = "the call failed (%s): not a valid output" % failed
        elif fs.fd and isinstance(f.value, int):
            if fs.role == "out":
                f.note = _fd_note(target, f.value, new=True) if at_exit else None
            else:
                f.note = _fd_note(target, f.value, new=False)
    if raw is None:
        return out
    _post(spec, out, values, target, addr, at_exit, failed)
    return out


def _decode_name(spec: StructSpec, target, addr: int) -> ArgDecode:
    f = Field("name", 0, "char[%d]" % DMA_BUF_NAME_LEN, "in")
    out = ArgDecode(address=addr, struct=spec.struct, size=spec.size, fields=[f])
    try:
        raw = target.read_cstring(addr, DMA_BUF_NAME_LEN)
    except UserError as e:
        out.error = str(e)
        return out
    except Exception as e:
        out.error = "cannot read the name at 0x%x: %s" % (addr, e)
        return out
    f.value = raw.decode("utf-8", errors="backslashreplace")
    if len(raw) >= DMA_BUF_NAME_LEN:
        f.note = "no NUL in the first %d bytes (DMA_BUF_NAME_LEN): the kernel rejects the name" % DMA_BUF_NAME_LEN
    return out


def _post(spec: StructSpec, out: ArgDecode, values: Dict, target, addr: int, at_exit: bool,
          failed: Optional[str]) -> None:
    name = spec.request_name
    if name == "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE":
        h = out.field("handle")
        flags = values.get("flags")
        if h is not None and isinstance(flags, int):
            if flags & DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE:
                h.role = "in"
                h.note = "the syncobj the sync_file is imported into"
            else:
                h.role = "out"
                if not at_exit:
                    h.value = None
                    h.note = "not written yet (entry)"
                elif failed:
                    h.note = "the call failed (%s): not a valid output" % failed
    elif name == "UDMABUF_CREATE_LIST":
        _udmabuf_list(out, values, target, addr)
    elif name == "SYNC_IOC_FILE_INFO":
        _fence_infos(out, values, target, at_exit, failed)


def _udmabuf_list(out: ArgDecode, values: Dict, target, addr: int) -> None:
    count = values.get("count")
    if not isinstance(count, int) or count <= 0:
        return
    shown = min(count, LIST_LIMIT)
    cnt = out.field("count")
    if count > shown and cnt is not None:
        cnt.note = "showing the first %d of %d items" % (shown, count)
    item_name, item_size, item_fields = UDMABUF_ITEM
    base = addr + 8
    raw, err = _read(target, base, shown * item_size)
    if raw is None:
        out.error = "list: " + (err or "cannot read")
        return
    out.size = 8 + shown * item_size
    for i in range(shown):
        for fname, off, ctype in item_fields:
            v = _value(raw, i * item_size + off, ctype)
            f = Field("list[%d].%s" % (i, fname), 8 + i * item_size + off, ctype, "in", v)
            if fname == "memfd" and isinstance(v, int):
                f.note = _fd_note(target, v, new=False)
            elif fname == "__pad":
                f.names = flags_none(v)
            out.fields.append(f)


def _fence_infos(out: ArgDecode, values: Dict, target, at_exit: bool, failed: Optional[str]) -> None:
    ptr = values.get("sync_fence_info")
    n = values.get("num_fences")
    nf = out.field("num_fences")
    if not at_exit:
        if nf is not None and isinstance(n, int):
            nf.note = ("0: the kernel only returns the count" if n == 0
                       else "room for %d entries in sync_fence_info" % n)
        return
    if failed or not isinstance(ptr, int) or not isinstance(n, int) or ptr == 0 or n == 0:
        return
    shown = min(n, LIST_LIMIT)
    item_name, item_size, item_fields = SYNC_FENCE_INFO
    raw, err = _read(target, ptr, shown * item_size)
    if nf is not None:
        nf.note = ("fence count; the array is filled only if the caller passed a non-zero num_fences"
                   + ("; showing %d of %d" % (shown, n) if n > shown else ""))
    if raw is None:
        out.error = "sync_fence_info: " + (err or "cannot read")
        return
    for i in range(shown):
        for fname, off, ctype in item_fields:
            v = _value(raw, i * item_size + off, ctype)
            f = Field("sync_fence_info[%d].%s" % (i, fname), i * item_size + off, ctype, "out", v)
            if i == 0 and fname == "obj_name":
                f.note = "offset from sync_fence_info (0x%x)" % ptr
            out.fields.append(f)


def struct_layouts() -> Dict[str, Tuple[int, Dict[str, int]]]:
    """struct name -> (size, {field: offset}) of every layout the decoders use (for the layout test)."""
    out: Dict[str, Tuple[int, Dict[str, int]]] = {}
    for s in SPECS:
        if s.kind != "struct":
            continue
        key = s.struct.split(" (")[0] + ("_v2" if "6.16" in s.struct else "")
        out[key] = (s.size, {f.name: f.offset for f in s.fields})
    for name, size, fields in (UDMABUF_ITEM, SYNC_FENCE_INFO):
        out[name] = (size, {f: o for f, o, _c in fields})
    return out
