"""The Go build info blob (.go.buildinfo): Go version, main module, dependencies, build settings.

Format (Go's debug/buildinfo and runtime/debug): a 32-byte header that starts with the 14-byte magic
"\\xff Go buildinf:", then ptrSize (byte 14) and flags (byte 15). With flags bit 1 set (Go 1.18+) the
header is followed by two uvarint-length-prefixed strings: the Go version and the module info. Before
1.18, bytes 16.. hold two pointers to Go string headers (data pointer, length) for the same strings;
flags bit 0 gives the pointers' byte order. The module info text is framed by two 16-byte sentinels,
and its lines are "path\\t...", "mod\\tpath\\tversion\\tsum", "dep\\t...", "=>\\treplacement..." (after
the module it replaces) and "build\\tkey=value" (key and value Go-quoted when needed).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_ALIGN = 16
_FLAG_BIG_ENDIAN = 0x1
_FLAG_INLINE = 0x2
_MAX_STRING = 1 << 22  # a module list longer than 4 MiB is corruption, not a program
_MAX_VERSION = 256  # 'go1.23.4', 'devel go1.24-abcdef Tue Jan 2 ...': longer is corruption


@dataclass
class Module:
    path: str
    version: str
    sum: Optional[str] = None
    replace: Optional["Module"] = None


@dataclass
class BuildInfo:
    go_version: str
    path: str
    main: Optional[Module]
    deps: List[Module]
    settings: Dict[str, str] = field(default_factory=dict)

    def module_for_package(self, pkg: str) -> Optional[Module]:
        """The module providing an import path: the longest module path that is the package path or
        a prefix of it at a '/' boundary, among main and deps. 'main' maps to the main module.
        None for the standard library (and anything no module claims)."""
        if not pkg:
            return None
        if pkg == "main":
            return self.main
        best: Optional[Module] = None
        best_len = -1
        candidates: List[Module] = ([self.main] if self.main is not None else []) + list(self.deps)
        for m in candidates:
            mp = m.path
            if not mp:
                continue
            if (pkg == mp or pkg.startswith(mp + "/")) and len(mp) > best_len:
                best, best_len = m, len(mp)
        return best

    def setting(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self.settings.get(key, default)


DataReader = Union[bytes, bytearray, memoryview, Callable[[int, int], bytes]]


def read_buildinfo(data_reader: DataReader, addr: Optional[int] = None, size: Optional[int] = None,
                   read_ptr: Optional[Callable[[int], int]] = None) -> Optional[BuildInfo]:
    """Parse a Go build info blob. None when there is none or it is unreadable.

    data_reader is either the bytes of the region holding the blob (e.g. the .go.buildinfo section;
    the magic is searched at 16-byte alignment within it), or a function read(addr, n) -> bytes over
    link-time addresses together with addr/size of the region to search. The pre-1.18 pointer format
    needs the function form; read_ptr(addr) -> int may resolve pointers that dynamic relocations
    change (PIE)."""
    raw = read_raw_buildinfo(data_reader, addr, size, read_ptr)
    if raw is None:
        return None
    vers, mod = raw
    return parse_modinfo(vers, mod)


def read_raw_buildinfo(data_reader: DataReader, addr: Optional[int] = None, size: Optional[int] = None,
                       read_ptr: Optional[Callable[[int], int]] = None) -> Optional[Tuple[str, str]]:
    """(go version, module info text without sentinels) from a blob, or None."""
    if isinstance(data_reader, (bytes, bytearray, memoryview)):
        blob = bytes(data_reader)
        base = addr or 0
        reader: Optional[Callable[[int, int], bytes]] = None

        def read(a: int, n: int) -> bytes:
            off = a - base
            if off < 0 or off > len(blob):
                return b""
            return blob[off:off + n]
    else:
        reader = data_reader
        if addr is None:
            raise ValueError("read_buildinfo: addr is required with a reader function")
        region = size if size is not None else 1 << 16
        try:
            blob = bytes(reader(addr, region))
        except Exception:
            return None
        base = addr

        def read(a: int, n: int) -> bytes:
            off = a - base
            if 0 <= off and off + n <= len(blob):
                return blob[off:off + n]
            try:
                return bytes(reader(a, n))  # type: ignore[misc]
            except Exception:
                return b""

    start = _find_magic(blob)
    if start is None:
        return None
    header = blob[start:start + _HEADER_SIZE]
    if len(header) < _HEADER_SIZE:
        return None
    ptr_size = header[14]
    flags = header[15]
    if flags & _FLAG_INLINE:
        pos = base + start + _HEADER_SIZE
        vers, pos = _decode_string(read, pos)
        if vers is None:
            return None
        mod, _ = _decode_string(read, pos)
        if mod is None:
            mod = ""
    else:
        if ptr_size not in (4, 8):
            return None
        end = ">" if flags & _FLAG_BIG_ENDIAN else "<"
        fmt = end + ("Q" if ptr_size == 8 else "I")

        def ptr_at(a: int) -> Optional[int]:
            if read_ptr is not None:
                try:
                    return read_ptr(a)
                except Exception:
                    pass
            b = read(a, ptr_size)
            if len(b) < ptr_size:
                return None
            return struct.unpack(fmt, b)[0]

        def go_string(hdr_addr: Optional[int]) -> str:
            if hdr_addr is None:
                return ""
            data_ptr = ptr_at(hdr_addr)
            b = read(hdr_addr + ptr_size, ptr_size)
            if data_ptr is None or len(b) < ptr_size:
                return ""
            n = struct.unpack(fmt, b)[0]
            if n <= 0 or n > _MAX_STRING:
                return ""
            s = read(data_ptr, n)
            if len(s) < n:
                return ""
            return s.decode("utf-8", "replace")

        hdr_addr = base + start
        vers = go_string(struct.unpack_from(fmt, header, 16)[0] if read_ptr is None else ptr_at(hdr_addr + 16))
        mod = go_string(struct.unpack_from(fmt, header, 16 + ptr_size)[0] if read_ptr is None
                        else ptr_at(hdr_addr + 16 + ptr_size))
    if not vers or len(vers) > _MAX_VERSION:
        return None  # no version, or one no Go release writes: not build info
    if len(mod) >= 33 and mod[-17] == "\n":
        mod = mod[16:-16]  # strip the sentinels framing the module info
    else:
        mod = ""
    return vers, mod


def _find_magic(blob: bytes) -> Optional[int]:
    pos = blob.find(BUILDINFO_MAGIC)
    guard = 0
    while pos >= 0 and guard < 4096:
        if pos % _ALIGN == 0:
            return pos
        pos = blob.find(BUILDINFO_MAGIC, pos + 1)
        guard += 1
    return None


def _decode_string(read: Callable[[int, int], bytes], pos: int) -> Tuple[Optional[str], int]:
    head = read(pos, 10)
    n = 0
    shift = 0
    used = 0
    for i, b in enumerate(head):
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            used = i + 1
            break
    else:
        return None, pos
    if n > _MAX_STRING:
        return None, pos
    data = read(pos + used, n)
    if len(data) < n:
        return None, pos
    return data.decode("utf-8", "replace"), pos + used + n


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """BuildInfo from the module info text (the reverse of Go's BuildInfo.String, lenient: bad lines
    are skipped rather than failing the whole parse)."""
    bi = BuildInfo(go_version=go_version, path="", main=None, deps=[], settings={})
    last: Optional[Module] = None
    for line in text.split("\n"):
        if line.startswith("path\t"):
            bi.path = line[5:]
            last = None
        elif line.startswith("mod\t"):
            m = _module_line(line[4:].split("\t"))
            bi.main = m
            last = m
        elif line.startswith("dep\t"):
            m = _module_line(line[4:].split("\t"))
            if m is not None:
                bi.deps.append(m)
            last = m
        elif line.startswith("=>\t"):
            elem = line[3:].split("\t")
            if last is not None and len(elem) in (2, 3):
                last.replace = Module(path=elem[0], version=elem[1], sum=(elem[2] or None) if len(elem) == 3
                                      else None)
            last = None
        elif line.startswith("build\t"):
            kv = _setting(line[6:])
            if kv is not None:
                bi.settings[kv[0]] = kv[1]
        elif line.startswith("go\t") and not bi.go_version:
            bi.go_version = line[3:]
    return bi


def _module_line(elem: List[str]) -> Optional[Module]:
    if len(elem) not in (2, 3):
        return None
    return Module(path=elem[0], version=elem[1], sum=(elem[2] or None) if len(elem) == 3 else None)


def _setting(kv: str) -> Optional[Tuple[str, str]]:
    if not kv or kv[0] == "=":
        return None
    if kv[0] in "\"`":
        end = _quoted_end(kv)
        if end is None or end >= len(kv) or kv[end] != "=":
            return None
        key = go_unquote(kv[:end])
        raw = kv[end + 1:]
    else:
        key, sep, raw = kv.partition("=")
        if not sep:
            return None
    if key is None:
        return None
    if raw and raw[0] in "\"`":
        value = go_unquote(raw)
        if value is None:
            return None
    else:
        value = raw
    return key, value


def _quoted_end(s: str) -> Optional[int]:
    """Index just past the Go-quoted string at the start of s."""
    q = s[0]
    i = 1
    while i < len(s):
        c = s[i]
        if q == '"' and c == "\\":
            i += 2
            continue
        if c == q:
            return i + 1
        i += 1
    return None


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   "\\": "\\", "'": "'", '"': '"'}


def go_unquote(s: str) -> Optional[str]:
    """strconv.Unquote for "..." and `...` strings; None when malformed."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"`":
        return None
    body = s[1:-1]
    if s[0] == "`":
        return None if "`" in body else body.replace("\r", "")
    out: List[str] = []
    pending = bytearray()  # \x and octal escapes are bytes; decode runs of them as UTF-8

    def flush() -> None:
        if pending:
            out.append(pending.decode("utf-8", "replace"))
            pending.clear()

    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == '"':
            return None
        if c != "\\":
            flush()
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            return None
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            flush()
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e == "x":
            h = body[i + 2:i + 4]
            if len(h) != 2 or not _is_hex(h):
                return None
            pending.append(int(h, 16))
            i += 4
        elif e in "uU":
            k = 4 if e == "u" else 8
            h = body[i + 2:i + 2 + k]
            if len(h) != k or not _is_hex(h):
                return None
            flush()
            try:
                out.append(chr(int(h, 16)))
            except ValueError:
                return None
            i += 2 + k
        elif e in "01234567":
            o = body[i + 1:i + 4]
            if len(o) != 3 or any(ch not in "01234567" for ch in o) or int(o, 8) > 255:
                return None
            pending.append(int(o, 8))
            i += 4
        else:
            return None
    flush()
    return "".join(out)


def _is_hex(s: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF" for ch in s)


def make_blob(go_version: str, modinfo: str, ptr_size: int = 8) -> bytes:
    """A 1.18+ (inline varint) build info blob, with sentinels around the module info. For tests and
    for documenting the format; the sentinel bytes are the fixed 16-byte markers cmd/go writes."""
    start = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
    end = bytes.fromhex("f932433186182072008242104116d8f2")

    def uvarint(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out.append(b | 0x80)
            else:
                out.append(b)
                return bytes(out)

    mod = (start + modinfo.encode() + end) if modinfo else b""
    v = go_version.encode()
    header = BUILDINFO_MAGIC + bytes([ptr_size, _FLAG_INLINE]) + b"\0" * (_HEADER_SIZE - 16)
    return header + uvarint(len(v)) + v + uvarint(len(mod)) + mod
