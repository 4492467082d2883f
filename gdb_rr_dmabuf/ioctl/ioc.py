"""The _IOC encoding of ioctl request numbers (Linux asm-generic/ioctl.h, used by x86-64 and aarch64):
nr bits 0-7, type bits 8-15, size bits 16-29, dir bits 30-31 (0 none, 1 write = user->kernel,
2 read = kernel->user, 3 both)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UserError

IOC_NONE = 0
IOC_WRITE = 1
IOC_READ = 2

NRBITS, TYPEBITS, SIZEBITS, DIRBITS = 8, 8, 14, 2
NRSHIFT = 0
TYPESHIFT = NRSHIFT + NRBITS
SIZESHIFT = TYPESHIFT + TYPEBITS
DIRSHIFT = SIZESHIFT + SIZEBITS

DIR_NAMES = {0: "none", IOC_WRITE: "write", IOC_READ: "read", IOC_READ | IOC_WRITE: "read/write"}


@dataclass
class Ioc:
    value: int
    dir: int
    dir_name: str  # 'none' | 'write' | 'read' | 'read/write' (write = user->kernel)
    type: int
    type_char: str  # printable character like 'b', else '\\x..'
    nr: int
    size: int


def ioc(dir: int, type: int, nr: int, size: int) -> int:
    """Build a request number like the kernel's _IOC()."""
    if isinstance(type, str):
        type = ord(type)
    return ((dir & 3) << DIRSHIFT) | ((size & 0x3FFF) << SIZESHIFT) | ((type & 0xFF) << TYPESHIFT) | (nr & 0xFF)


def type_char(t: int) -> str:
    return chr(t) if 0x21 <= t <= 0x7E else "\\x%02x" % t


def decode_ioc(value: int) -> Ioc:
    """Split a request number into its _IOC fields. The value is taken mod 2**32, so a sign-extended
    64-bit register (0xffffffffc0086202) gives the same result as the int the program passed."""
    v = int(value) & 0xFFFFFFFF
    d = (v >> DIRSHIFT) & 3
    t = (v >> TYPESHIFT) & 0xFF
    return Ioc(value=v, dir=d, dir_name=DIR_NAMES[d], type=t, type_char=type_char(t),
               nr=(v >> NRSHIFT) & 0xFF, size=(v >> SIZESHIFT) & 0x3FFF)


def mask_size(value: int) -> int:
    """The request without its size bits (what rr's IOCTL_MASK_SIZE compares)."""
    return (int(value) & 0xFFFFFFFF) & ~(0x3FFF << SIZESHIFT)


_NUMBER = re.compile(r"^[+-]?(0x[0-9a-f]+|0o?[0-7]+|[0-9]+)$", re.I)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_TEXT = 128


def _shown(s: str, limit: int = 60) -> str:
    """User text for an error line: repr (no raw newline), cut to about `limit` characters."""
    r = repr(s)
    return r if len(r) <= limit else r[:limit - 4] + "...'"


def parse_request(text: str, arch: str = "x86-64") -> int:
    """An ioctl request from user text: '0xc0086202', '3221775874', '-1073192446' (an int as printed
    signed), or a known name such as 'DMA_BUF_IOCTL_EXPORT_SYNC_FILE'. Returns the value mod 2**32."""
    s = (text or "").strip()
    if not s:
        raise UserError("no ioctl request given", "give a number like 0xc0086202 or a name like DMA_BUF_IOCTL_SYNC")
    if len(s) > _MAX_TEXT:
        # Nothing this long is a request (a 64-bit number has at most 20 decimal digits, the longest
        # name ~50 characters); refusing it also keeps int() under Python's 4300-digit limit.
        raise UserError("ioctl request text of %d characters is too long (%s)" % (len(s), _shown(s)),
                        "give a number like 0xc0086202 or 3221775874, or a name like DMA_BUF_IOCTL_SYNC")
    if _NUMBER.match(s):
        neg = s.startswith("-")
        body = s.lstrip("+-")
        if body.lower().startswith("0x"):
            n = int(body, 16)
        elif body.lower().startswith("0o"):
            n = int(body[2:], 8)
        else:
            n = int(body, 10)  # decimal; a leading 0 is not octal here (rr and strace print hex)
        if neg:
            n = -n
        if not -(1 << 31) <= n < (1 << 64):
            raise UserError("ioctl request %s does not fit in 32 bits" % s, "give the 32-bit request number")
        if n >= (1 << 32) and ((n >> 32) != 0xFFFFFFFF or not n & 0x80000000):  # only a sign extension
            raise UserError("ioctl request %s does not fit in 32 bits" % s, "give the 32-bit request number")
        return n & 0xFFFFFFFF
    if _NAME.match(s):
        from .names import value_of
        v = value_of(s, arch)
        if v is None:
            v = value_of(s.upper(), arch)
        if v is None:
            raise UserError("unknown ioctl name %s for %s" % (s, arch),
                            "give the request number (e.g. 0xc0086202) or a name from the Linux uapi headers")
        return v
    raise UserError("cannot read ioctl request %s" % _shown(s),
                    "give a number like 0xc0086202 or 3221775874, or a name like DMA_BUF_IOCTL_SYNC")
