"""The one analysis both commands share: the ioctl (when the thread is in one), the native frames, the
Go frames and modules (when the target is Go), the process's fd links, and the rr release. The advice
rules run on what this collects, so dmabuf-why and go-callers end with the same suggestions. The Evidence
dataclasses live here (the advice imports them from here; this module imports the advice only when it runs it)."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .errors import NotGoProgram, UserError
from .target import Target
from .versions import RRVersion
from . import wording

ENV_RR_VERSION = "GDB_RR_DMABUF_RR_VERSION"


# --------------------------------------------------------------------------------------------------
# The evidence of one stop, as the advice rules read it

@dataclass
class GoFrameEv:
    function: str
    package: str
    module: Optional[str] = None
    version: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None


@dataclass
class Evidence:
    request: Optional[int] = None                  # ioctl request number
    request_names: List[str] = field(default_factory=list)
    result: Optional[int] = None                   # raw syscall return (negative errno) if known
    fd_link: Optional[str] = None                  # /proc link of the ioctl's fd
    fd_links: Dict[int, str] = field(default_factory=dict)  # all fds
    native_frames: List[Tuple[Optional[str], Optional[str]]] = field(default_factory=list)  # innermost first
    go_frames: List[GoFrameEv] = field(default_factory=list)  # innermost first
    go_caller: Optional[GoFrameEv] = None          # nearest non-runtime/std/cgo frame
    executable: Optional[str] = None
    rr_version: Optional[str] = None               # '5.8.0' when known
    rr_supported_since: Optional[str] = None       # first rr release handling the request, or None
    # True when rr_supported_since was looked up in rr.py's table, so that None there means
    # "no release handles it" (and not merely "not looked up").
    rr_support_known: bool = False
    rr_master_only: bool = False                   # only rr master (after the last release) handles it by name
    rr_open_policy: Optional[str] = None           # rr refuses opens of the device the request is for (rr.py)
    target_kind: Optional[str] = None              # 'live', 'remote', 'core', 'memory', 'log' or None (no process)
    proc_readable: Optional[bool] = None           # was the process's /proc read? None: not known
    main_module: Optional[str] = None              # the Go program's main module path (build info), if known
    executable_args: List[str] = field(default_factory=list)   # the program's arguments (rr's command line)
    # Evidence read from rr's log (rrlog.evidence_items): (kind, label, text) of the advice's evidence kinds,
    # matched by the rules like the same kind at a live stop (a memfd the trace dump shows mapped, an fd an
    # ioctl shows).
    log_items: List[Tuple[str, str, str]] = field(default_factory=list)


def rr_handles(ev: Evidence) -> Optional[bool]:
    """Does the user's rr release handle the request by name? None when either version is unknown. A request
    only rr master handles is not handled by any release (a master build calls itself the last release)."""
    have = RRVersion.parse(ev.rr_version)
    if ev.rr_master_only and have is not None:
        return False
    since = RRVersion.parse(ev.rr_supported_since)
    if have is None or since is None:
        return None
    return have >= since


def rr_version_from_environment() -> Tuple[Optional[str], str]:
    """(version, where it came from): $GDB_RR_DMABUF_RR_VERSION, else `rr --version` when rr is on PATH."""
    v = os.environ.get(ENV_RR_VERSION)
    if v:
        got = _version(v)
        if got is None:
            raise UserError("$%s is %r, not an rr version" % (ENV_RR_VERSION, v if len(v) <= 40 else v[:40] + "..."),
                            "set it to the release, e.g. 5.8.0, or unset it")
        return got, ENV_RR_VERSION
    rr = shutil.which("rr")
    if not rr:
        return None, ""
    if rr not in _RR_ON_PATH:  # one `rr --version` per gdb session, not one per command
        try:
            out = subprocess.run([rr, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 universal_newlines=True, timeout=3).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        _RR_ON_PATH[rr] = _version(out)
    v = _RR_ON_PATH[rr]
    return (v, "rr --version (%s)" % rr) if v else (None, "")


_RR_ON_PATH: Dict[str, Optional[str]] = {}


def _version(text: str) -> Optional[str]:
    """'rr version 5.8.0', '5.8', 'v5.9.1' -> '5.8.0' / '5.8.0' / '5.9.1' (RRVersion.parse)."""
    v = RRVersion.parse(text)
    return str(v) if v else None


def collect(target: Optional[Target], why_rep=None, callers_rep=None, rr_version: Optional[str] = None) -> Evidence:
    ev = Evidence()
    if why_rep is not None:
        ev.request = why_rep.request
        ev.request_names = list(why_rep.names)
        rr_name = getattr(why_rep.verdict, "rr_name", None)
        if not ev.request_names and rr_name and not rr_name.startswith("0x"):
            ev.request_names = [rr_name.split(" (")[0]]  # rr's own label when the name tables have none
        ev.result = why_rep.result
        ev.fd_link = why_rep.fd_link
        v = why_rep.verdict
        if v is not None:
            ev.rr_supported_since = v.supported_since
            ev.rr_support_known = True
            ev.rr_master_only = bool(getattr(v, "master_only", False))
            ev.rr_open_policy = getattr(v, "open_policy", None)
        ev.executable = why_rep.executable
        log = getattr(why_rep, "rrlog", None)
        if log is not None and target is None:  # rr's log: what its trace dump shows, its command line
            from .rrlog import evidence_items
            ev.log_items = evidence_items(log)
            ev.executable_args = list(log.arguments)
            ev.target_kind = "log"
            ev.proc_readable = False
    if target is not None:
        ev.executable = ev.executable or target.program or target.executable
        ev.fd_links = target.fd_links()
        ev.target_kind = target.kind
        ev.proc_readable = bool(ev.fd_links) or ev.fd_link is not None
    if callers_rep is not None:
        ev.native_frames = [(f.function, f.objfile) for f in callers_rep.native]
        ev.go_frames = [_go_ev(f) for f in callers_rep.go]
        if callers_rep.caller is not None:
            ev.go_caller = _go_ev(callers_rep.caller)
        ev.main_module = callers_rep.main_module
    elif target is not None:
        ev.native_frames = [(f.function, f.objfile) for f in target.native_frames(limit=64)]
    ev.rr_version = rr_version
    return ev


def _go_ev(f) -> GoFrameEv:
    return GoFrameEv(function=f.function or "", package=f.package or "", module=f.module or ("std" if f.std else None),
                     version=f.version, file=f.file, line=f.line)


def analyse(target: Optional[Target], *, want_why: bool, want_callers: bool, at: Optional[str] = None,
            depth: Optional[int] = None, rr_version: Optional[str] = None, rules_file: Optional[str] = None
            ) -> Tuple[Any, Any, List[Any], List[str]]:
    """Run the analyses that apply to the target. The one the command is about is given by want_*: its
    errors propagate; the other one is best effort (its failure becomes a note).
    Returns (why_report, callers_report, suggestions, notes)."""
    from . import callers, why
    notes: List[str] = []
    why_rep = callers_rep = None
    if target is not None:
        if want_why:
            why_rep = why.analyse_thread(target, at)
        else:
            try:
                why_rep = why.analyse_thread(target, at)
            except UserError:
                why_rep = None  # not stopped in an ioctl: go-callers still answers
        try:
            kw = {"depth": depth} if depth else {}
            callers_rep = callers.analyse_callers(target, **kw)
        except UserError as e:
            if want_callers:
                raise
            if not isinstance(e, NotGoProgram):
                notes.append("go-callers: %s" % e.what)
    rr_version, source = resolve_rr_version(rr_version)
    if rr_version and source:
        notes.append(wording.rr_source_note(rr_version, source))
    if why_rep is not None:
        reverdict(why_rep, rr_version)
    ev = collect(target, why_rep, callers_rep, rr_version)
    from .advice import advise, load_rules
    suggestions = advise(ev, load_rules(rules_file))
    if why_rep is not None and why_rep.verdict is not None and why_rep.verdict.would_stop is False:
        if getattr(why_rep.verdict, "handled_by_name", None):
            # That rr release handles it by name (no upgrade advice fires); the program's own fix still holds.
            notes.append(_passes_note("handled", why_rep))
        else:
            # Advice is about the call that stopped rr; this one would not have.
            suggestions = []
            notes.append(_passes_note("not_what_stopped", why_rep))
    return why_rep, callers_rep, suggestions, notes


def _passes_note(kind: str, why_rep) -> str:
    """wording.passes_note for a report whose verdict lets the call through."""
    return wording.passes_note(kind, why_rep.verdict, why_rep.result, why_rep.errno)


def resolve_rr_version(arg: Optional[str]) -> Tuple[Optional[str], str]:
    """(X.Y.Z or None, where it came from) from --rr-version, else the environment (see
    rr_version_from_environment). UserError when --rr-version is not a version."""
    if arg is None:
        return rr_version_from_environment()
    v = _version(arg)
    if v is None:
        raise UserError("--rr-version %s: not an rr version" % (arg if len(arg) <= 40 else arg[:40] + "..."),
                        "give the release as X.Y.Z, e.g. --rr-version 5.8.0 (`rr --version` prints it)")
    return v, "--rr-version"


def reverdict(why_rep, rr_version: Optional[str]) -> None:
    """rr's verdict for that rr release (the report's verdict was made without one)."""
    from .rr import rr_verdict
    if why_rep.verdict is None:
        return
    sc = why_rep.syscall
    result = why_rep.result if (sc is None or sc.state == "exit") else None
    why_rep.verdict = rr_verdict(why_rep.request, result, RRVersion.parse(rr_version) if rr_version else None,
                                 fd_link=why_rep.fd_link, names=why_rep.names or None,
                                 ethtool_cmd=getattr(why_rep.log, "ethtool_cmd", None))


def advise_report(why_rep, rr_version: Optional[str] = None, rules_file: Optional[str] = None) -> List[Any]:
    """Suggestions for a report with no process (--request, --from-log alone). Without --rr-version, the rr
    release inferred from rr's log (rrlog.Release) decides the verdict, before the environment's."""
    inferred = getattr(getattr(why_rep, "rrlog", None), "release", None)
    if rr_version is None and inferred is not None and inferred.version is not None:
        rr_version, source = str(RRVersion.of(inferred.version)), "rr's log, inferred from %s: %s" % (
            inferred.source, inferred.text)
    else:
        rr_version, source = resolve_rr_version(rr_version)
        if rr_version and source:
            why_rep.notes.append(wording.rr_source_note(rr_version, source))
    for other in getattr(why_rep, "others", None) or []:  # the log's other "Unknown ioctl" assertions
        other.suggestions = advise_report(other, rr_version if source == "--rr-version" else None, rules_file)
    reverdict(why_rep, rr_version)
    ev = collect(None, why_rep, None, rr_version)
    if why_rep.verdict is not None and why_rep.verdict.would_stop is False:
        if getattr(why_rep, "rrlog", None) is not None and why_rep.log is not None and why_rep.source == "log":
            # rr's own log shows the abort: the build that printed it is not the release the table describes
            why_rep.notes.append(_passes_note("log_differs", why_rep))
            return []
        why_rep.notes.append(_passes_note("no_advice", why_rep))
        return []
    from .advice import advise, load_rules
    return advise(ev, load_rules(rules_file))
