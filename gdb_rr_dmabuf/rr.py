"""What rr does with an ioctl, and since which release (source: github.com/rr-debugger/rr,
src/record_syscall.cc prepare_ioctl / rec_process_syscall_arch / extra_expected_errno_info, src/log.h HEX,
src/kernel_metadata.cc errno_name, src/preload/preload_interface.h; checked against master of RR_MASTER_CHECKED).

rr's rule for an ioctl it does not handle by name: a request without the _IOC_READ bit is "presumed
ignorable" and runs unrecorded, except types 0x54 ('T'), 0x89 and 0x8B, which get expect_errno = EINVAL.
Every other request gets expect_errno = EINVAL; the kernel runs it and at syscall exit rr accepts -EINVAL
and -ENOTTY. Any other result, success included, fails the assertion

  Expected EINVAL for 'ioctl' but got result R (errno E); Unknown ioctl(0xREQ): type:0xT nr:0xN dir:0xD size:S addr:0xA

and rr stops for the emergency debugger, after the call has run.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .errnos import describe_result, errno_number
from .errors import UserError
from .ioctl.ioc import IOC_READ, decode_ioc, mask_size

RR_MASTER_CHECKED = "2026-08"

EXPECTED_ERRNOS = ["EINVAL", "ENOTTY"]
IRREGULAR_TYPES = (0x54, 0x89, 0x8B)  # 'T' (TIO*), SIO*, wireless SIO*: expect EINVAL even without _IOC_READ

# The rr page (src/preload/preload_interface.h RR_PAGE_ADDR; rr_page.S): syscalls made through rr's
# syscall buffer path stop with the pc just after the `syscall`/`svc #0` of the traced entry.
RR_PAGE_ADDR = 0x70000000
RR_PAGE_SIZE = {"x86-64": 0x1000, "aarch64": 0x10000}
RR_PAGE_SYSCALL_PC = {"x86-64": 0x70000002, "aarch64": 0x70000004}
LIBRRPAGE_SINCE = (5, 5, 0)  # since 5.5.0 the page is librrpage.so with symbols and unwind info


def in_rr_page(pc: int, arch: str = "x86-64") -> bool:
    return RR_PAGE_ADDR <= int(pc) < RR_PAGE_ADDR + RR_PAGE_SIZE.get(arch, 0x1000)


@dataclass
class RrSupport:
    name: str
    masked: int  # request with the size bits cleared: rr matches IOCTL_MASK_SIZE(request)
    since: Optional[Tuple[int, int, int]]  # first release, None if only on master
    how: str
    source: str
    exact: bool = False  # rr compares the whole request (else IOCTL_MASK_SIZE: any size matches)


# Requests of the dma-buf family and neighbours that rr handles by name (everything else in that family
# goes through the generic rule above; checked against master of RR_MASTER_CHECKED).
SUPPORT: List[RrSupport] = [
    RrSupport("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", mask_size(0xC0086202), (5, 9, 0),
              "records the argument struct as in/out",
              "rr commit db5faf83 of 2024-12-29, rr issue #3891"),
    RrSupport("0xc020462a (Nvidia driver)", 0xC020462A, (5, 6, 0), "returns -ENOTTY without running it",
              "rr commit 3de05815 of 2022-01-14", exact=True),
    RrSupport("RDMA_VERBS_IOCTL 0xc0181b01", 0xC0181B01, None, "returns -ENOTTY without running it",
              "rr commit f6c6ad30 of 2025-03-28, after 5.9.0", exact=True),
]

# Requests whose rr handling we checked (rr master RR_MASTER_CHECKED): the decoded dma-buf family.
# For these "not in SUPPORT" means rr handles them only by the generic rule.
_CHECKED_FAMILY = {
    0x40086200: "DMA_BUF_IOCTL_SYNC", 0x40086201: "DMA_BUF_SET_NAME_B", 0x40046201: "DMA_BUF_SET_NAME_A",
    0xC0086202: "DMA_BUF_IOCTL_EXPORT_SYNC_FILE", 0x40086203: "DMA_BUF_IOCTL_IMPORT_SYNC_FILE",
    0xC0184800: "DMA_HEAP_IOCTL_ALLOC", 0x40187542: "UDMABUF_CREATE", 0x40087543: "UDMABUF_CREATE_LIST",
    0xC0303E03: "SYNC_IOC_MERGE", 0xC0383E04: "SYNC_IOC_FILE_INFO", 0x40103E05: "SYNC_IOC_SET_DEADLINE",
    0xC00C642D: "DRM_IOCTL_PRIME_HANDLE_TO_FD", 0xC00C642E: "DRM_IOCTL_PRIME_FD_TO_HANDLE",
    0xC01064C1: "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD", 0xC01864C1: "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD",
    0xC01064C2: "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE", 0xC01864C2: "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE",
}


def _support(request: int) -> Optional[RrSupport]:
    r = int(request) & 0xFFFFFFFF
    for s in SUPPORT:
        if (s.masked == r) if s.exact else (s.masked == mask_size(r)):
            return s
    return None


def _vstr(v: Optional[Tuple[int, int, int]]) -> Optional[str]:
    return None if v is None else "%d.%d.%d" % v


def handles(request: int, rr_version: Tuple[int, int, int]) -> bool:
    """True when that rr release handles the request by name (records it or emulates it), so it never
    stops on it. A request rr merely passes as "presumed ignorable" is not handled by name: see
    rr_verdict().ignorable."""
    s = _support(request)
    return bool(s and s.since is not None and tuple(rr_version) >= s.since)


@dataclass
class RrVerdict:
    expected: List[str]  # what rr accepts for an unknown ioctl it lets through: ['EINVAL', 'ENOTTY']
    ignorable: bool  # no _IOC_READ bit and type not in (0x54, 0x89, 0x8B): rr passes it
    supported_since: Optional[str]  # '5.9.0' for EXPORT_SYNC_FILE, None if no release handles it by name
    would_stop: Optional[bool]  # True (success/other errno), False (EINVAL/ENOTTY or ignorable), None (unknown)
    explanation: str  # one or two true sentences


def _label(request: int) -> str:
    r = int(request) & 0xFFFFFFFF
    return _CHECKED_FAMILY.get(r) or "0x%08x" % r


def rr_verdict(request: int, result: Optional[int], rr_version: Optional[Tuple[int, int, int]] = None) -> RrVerdict:
    """What rr does with this ioctl given its raw result (negative errno), for an rr release that does not
    handle it by name; with rr_version, for that release."""
    r = int(request) & 0xFFFFFFFF
    d = decode_ioc(r)
    sup = _support(r)
    since = _vstr(sup.since) if sup else None
    label = _label(r)
    irregular = d.type in IRREGULAR_TYPES
    ignorable = not (d.dir & IOC_READ) and not irregular
    checked = r in _CHECKED_FAMILY or sup is not None
    cond = "" if checked else " (unless it handles the request by name)"

    if rr_version is not None and handles(r, rr_version):
        return RrVerdict(list(EXPECTED_ERRNOS), ignorable, since, False,
                         "rr %s handles %s by name (it %s, since %s), so it does not stop on it."
                         % (_vstr(tuple(rr_version)), label, sup.how, since))

    if ignorable:
        text = ("%s has no _IOC_READ bit, so rr%s presumes it ignorable and lets it run unrecorded: "
                "it does not cause an \"Unknown ioctl\" stop." % (label, cond))
        return RrVerdict(list(EXPECTED_ERRNOS), True, since, False, text)

    if d.dir & IOC_READ:
        why = "%s has the _IOC_READ bit" % label
    else:
        why = "%s has no _IOC_READ bit but type 0x%02x, which rr treats as irregular" % (label, d.type)
    if rr_version is not None:
        who = "rr %s" % _vstr(tuple(rr_version))
    elif sup is not None and since:
        who = "an rr release before %s" % since
    elif checked:
        who = "rr"
    else:
        who = "rr" + cond
    stop = _would_stop(result)
    if stop is None:
        outcome = "it stops unless the call fails with EINVAL or ENOTTY"
    elif stop:
        val, name = describe_result(result)
        outcome = "this result (%s) makes it stop" % (name or val)
    else:
        val, name = describe_result(result)
        outcome = "it accepts this result (%s) and goes on" % name
    first = "%s, so %s expects EINVAL (ENOTTY is accepted too); %s." % (why, who, outcome)
    if sup is not None and since:
        second = " rr %s and later handle it by name: rr %s (%s)." % (since, sup.how, sup.source)
    elif sup is not None:
        second = " No rr release handles it by name; rr master %s (%s)." % (sup.how, sup.source)
    elif checked:
        second = " No rr release handles it by name (checked against rr master %s)." % RR_MASTER_CHECKED
    else:
        second = ""
    return RrVerdict(list(EXPECTED_ERRNOS), False, since, stop, (first + second).strip())


def _would_stop(result: Optional[int]) -> Optional[bool]:
    if result is None:
        return None
    val, _name = describe_result(result)
    return val not in (-errno_number("EINVAL"), -errno_number("ENOTTY"))


# --------------------------------------------------------------------------------------------------
# rr's assertion text

@dataclass
class RrAssertion:
    syscall: str
    result: Optional[int]  # None when only the "Unknown ioctl(...)" part was given
    errno: Optional[str]  # as rr printed it ('EBADF', 'errno(-7)' for a positive result); None for SUCCESS
    request: int
    type: Optional[int]
    nr: Optional[int]
    dir: Optional[int]
    size: Optional[int]
    addr: Optional[int]
    expected: Optional[str] = None  # rr's expect_errno ('EINVAL')


# rr prints numbers through HEX(): a void* in an ostream, so 0 shows as "0", others as "0x..".
_HEXNUM = r"(0x[0-9a-fA-F]+|0|\d+)"
_EXPECTED = re.compile(r"Expected\s+(\w+)\s+for\s+'(\w+)'\s+but\s+got\s+result\s+(-?\d+)\s+"
                       r"\(errno\s+(errno\(-?\d+\)|\w+)\)")
_UNKNOWN = re.compile(r"Unknown\s+ioctl\(\s*" + _HEXNUM + r"\s*\)"
                      r"(?::\s*type:\s*" + _HEXNUM + r"\s+nr:\s*" + _HEXNUM + r"\s+dir:\s*" + _HEXNUM
                      + r"\s+size:\s*(\d+)(?:\s+addr:\s*" + _HEXNUM + r")?)?", re.I)


def _num(s: Optional[str]) -> Optional[int]:
    if s is None:
        return None
    return int(s, 16) if s.lower().startswith("0x") else int(s, 10)


def parse_assertion(text: str) -> RrAssertion:
    """Parse rr's emergency-stop message (log prefixes and surrounding lines are fine; a bare
    "Unknown ioctl(0x...)" too). UserError when no ioctl assertion is in the text."""
    text = text or ""
    m = _UNKNOWN.search(text)
    e = None
    if m is not None:  # the "Expected ..." part that belongs to it comes right before it
        for e in _EXPECTED.finditer(text, 0, m.start()):
            pass
    else:
        e = _EXPECTED.search(text)
    if m is None:
        if e is not None and e.group(2) != "ioctl":
            raise UserError("rr's assertion is about '%s', not ioctl" % e.group(2),
                            "dmabuf-why explains rr's \"Unknown ioctl\" stops only")
        raise UserError("no \"Unknown ioctl(0x...)\" in the text",
                        "paste rr's line: Expected EINVAL for 'ioctl' but got result ...; Unknown ioctl(0x...): ...")
    request = _num(m.group(1)) & 0xFFFFFFFF
    result = errno = expected = None
    syscall = "ioctl"
    if e is not None:
        expected, syscall, result = e.group(1), e.group(2), int(e.group(3))
        errno = None if e.group(4) == "SUCCESS" else e.group(4)
    return RrAssertion(syscall=syscall, result=result, errno=errno, request=request,
                       type=_num(m.group(2)), nr=_num(m.group(3)), dir=_num(m.group(4)), size=_num(m.group(5)),
                       addr=_num(m.group(6)), expected=expected)


_VERSION = re.compile(r"(?:rr\s+version\s+)?v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_rr_version(text: str) -> Optional[Tuple[int, int, int]]:
    """'rr version 5.8.0' or '5.8.0' (also '5.9.0-12-gdeadbeef', '5.9') -> (5, 8, 0); None if no version."""
    s = (text or "").strip()
    m = re.search(r"rr\s+version\s+v?(\d+)\.(\d+)(?:\.(\d+))?", s) or _VERSION.match(s)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
