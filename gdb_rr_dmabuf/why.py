"""dmabuf-why's analysis: from a stopped thread (or a number, or rr's log line) to a decoded ioctl,
rr's verdict and suggestions. Pure Python: the command only renders what this returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, List, Optional

from . import rr as rrfacts
from .errnos import describe_result
from .errors import NotInIoctl, UserError
from .notes import FD_LOST, without_kind
from .ioctl.ioc import Ioc, decode_ioc, parse_request
from .ioctl.names import names_for, narrow_by_link
from .ioctl.structs import ArgDecode, decode_argument, spec_for
from .syscall import PendingSyscall, pending_syscall
from .arch import SUPPORTED_ARCHES, arch_of
from .target import Target

if TYPE_CHECKING:  # for the annotations only: no import at run time
    from .fdrecover import FdRecovery
    from .rr import RrAssertion, RrVerdict
    from .rrlog import RrLog


@dataclass
class WhyReport:
    source: str                                   # 'thread' | 'request' | 'log'
    arch: str
    request: int
    names: List[str]
    all_names: List[str]                          # before narrowing by the fd's link
    ioc: Ioc
    syscall: Optional[PendingSyscall] = None
    fd: Optional[int] = None
    fd_link: Optional[str] = None
    fd_recovery: Optional[FdRecovery] = None      # on an aarch64 exit stop
    argument: Optional[ArgDecode] = None
    arg_address: Optional[int] = None
    arg_struct: Optional[str] = None              # the request's struct, also when it was not read
    result: Optional[int] = None                  # raw return: >= 0 value, < 0 -errno
    errno: Optional[str] = None
    verdict: Optional[RrVerdict] = None
    log: Optional[RrAssertion] = None             # when --from-log was given
    tid: Optional[int] = None
    executable: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    suggestions: List[Any] = field(default_factory=list)   # advice.Suggestion or plain strings
    rrlog: Optional[RrLog] = None                 # everything rr's log said (--from-log, explain)
    others: List["WhyReport"] = field(default_factory=list)  # the log's other "Unknown ioctl" assertions

    @property
    def name(self) -> str:
        if self.names:
            return " or ".join(self.names)
        return "unknown ioctl 0x%08x" % self.request


def analyse_thread(target: Target, at: Optional[str] = None) -> WhyReport:
    """The pending ioctl of the target's selected thread."""
    sc = pending_syscall(target, at)
    if not sc.is_ioctl:
        raise NotInIoctl("the thread is in %s (syscall %d), not ioctl" % (sc.name, sc.number),
                         "select the thread rr stopped (`info threads`, `thread N`) or use --request")
    fd = sc.args[0]
    request = (sc.args[1] or 0) & 0xFFFFFFFF
    arg = sc.args[2]
    rep = _base_report("thread", target.arch, request)
    rep.syscall = sc
    rep.tid = target.tid
    rep.executable = target.program or target.executable  # the path where it runs
    rep.notes.extend(sc.notes)
    if fd is None and arch_of(sc.arch).result_overwrites_arg0 and sc.state in ("exit", "interrupted"):
        from .fdrecover import recover_for
        rep.fd_recovery = recover_for(target, sc, rep.all_names)
        fd = rep.fd_recovery.number
        if fd is not None:  # the recovery's own note says where it came from: "lost" would contradict it
            rep.notes = without_kind(rep.notes, FD_LOST)
    if fd is not None:
        rep.fd = fd if fd < (1 << 31) else fd - (1 << 64)
        rep.fd_link = target.fd_link(rep.fd)
        rep.names = narrow_by_link(rep.all_names, rep.fd_link)
    rep.result = sc.result
    if sc.result is not None:
        rep.errno = describe_result(sc.result)[1]
    rep.verdict = rrfacts.rr_verdict(request, sc.result if sc.state == "exit" else None, fd_link=rep.fd_link,
                                     names=rep.names or None)
    rep.arg_address = arg
    if arg is not None:
        rep.argument = decode_argument(request, target, arg, at_exit=(sc.state == "exit"), arch=target.arch,
                                       result=sc.result)
    return rep


def analyse_request(text: str, arch: str = "x86-64") -> WhyReport:
    """A request number (or name) alone: no process needed."""
    request = parse_request(text, arch)
    rep = _base_report("request", arch, request)
    rep.verdict = rrfacts.rr_verdict(request, None, names=rep.names or None)
    return rep


def analyse_log(text: str, target: Optional[Target] = None) -> WhyReport:
    """rr's log (its whole output, or only the assertion line): the first "Unknown ioctl" assertion as the
    report, the log's other distinct ones in .others, and what else the log holds in .rrlog; with a live
    target also the argument at the logged address."""
    from . import rrlog
    log = rrlog.parse(text or "")
    asserts = []
    seen = set()
    for a in log.ioctl_assertions:
        k = (a.ioctl.request, a.ioctl.result, a.ioctl.errno, a.message)
        if k not in seen:
            seen.add(k)
            asserts.append(a)
    if not asserts:
        err = rrlog.no_ioctl_error(log) if log.assertions else None
        if err is not None:
            raise err
        try:  # a bare "Unknown ioctl(0x...)" or rr's message without "-> Assertion" (rr.py's own rules)
            if len(text or "") > rrfacts.MAX_LOG_CHARS:
                raise UserError("no \"Unknown ioctl(0x...)\" assertion in rr's log (%d characters)" % len(text),
                                "give rr's output with its [FATAL ...] header and assertion")
            la = rrfacts.parse_assertion(text)
        except UserError:
            err = rrlog.no_ioctl_error(log)
            if err is not None:
                raise err
            raise
        asserts = [rrlog.Assertion(None, "", "", ioctl=la)]
    reps = [_log_report(log, a, target) for a in asserts]
    rep = reps[0]
    rep.notes.extend(rrlog.notes(log, asserts[0]))
    rep.others = reps[1:]
    return rep


def _log_report(log, a, target: Optional[Target]) -> WhyReport:
    from . import rrlog
    la = a.ioctl
    arch = "x86-64"
    if target is not None and target.arch in SUPPORTED_ARCHES:
        arch = target.arch
    elif log.arch in SUPPORTED_ARCHES:
        arch = log.arch
    rep = _base_report("log", arch, la.request)
    rep.log = la
    rep.rrlog = log
    rep.result = la.result
    rep.errno = la.errno if la.errno not in (None, "SUCCESS") else None
    rep.verdict = rrfacts.rr_verdict(la.request, la.result, names=rep.names or None, ethtool_cmd=la.ethtool_cmd)
    rep.arg_address = la.addr
    if la.ethtool_cmd is not None:
        rep.notes.append("rr's log names SIOCETHTOOL's sub-command %d (\"unknown ETHTOOL command\")" % la.ethtool_cmd)
    if target is not None:
        rep.tid = target.tid
        rep.executable = target.program or target.executable  # the path where it runs
        if la.addr is not None:
            rep.argument = decode_argument(la.request, target, la.addr, at_exit=True, arch=arch, result=la.result)
    else:
        rep.tid = a.task
        rep.executable = log.executable
        fc = rrlog.failing_call(log, a)
        if fc is not None and fc.fd is not None:
            rep.fd = fc.fd
    if la.size is not None and la.ethtool_cmd is None and la.size != rep.ioc.size:
        rep.notes.append("rr's log says size %d but the request encodes %d" % (la.size, rep.ioc.size))
    return rep


def _base_report(source: str, arch: str, request: int) -> WhyReport:
    names = names_for(request, arch)
    spec = spec_for(request)
    return WhyReport(source=source, arch=arch, request=request, names=list(names), all_names=list(names),
                     ioc=decode_ioc(request), arg_struct=spec.struct if spec is not None else None)


# The --json object is built in report.py (one place for every command's JSON); the name stays here.
from .report import why_json as report_json  # noqa: E402,F401
