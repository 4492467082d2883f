"""Advice: from the evidence of one stop to ranked, sourced suggestions.

The rules are data. The built-in ones live in ``advice_rules.json`` next to this module; a user adds,
replaces or disables rules with a JSON file of the same shape, given as ``load_rules(path)`` or in the
environment variable ``GDB_RR_DMABUF_RULES``.

Rules file
----------
``{"rules": [RULE, ...]}`` (a bare list of rules is accepted too). A RULE is an object with:

``id``        unique name. A user rule with the id of a built-in rule replaces it;
              ``{"id": "...", "disabled": true}`` removes it.
``title``     what is happening, one sentence.          (placeholders allowed, see below)
``action``    what to do, one sentence.                 (placeholders allowed)
``step``      optional: the action as one short imperative line, no alternatives (placeholders
              allowed); the text output numbers these, with the rest under ``--verbose``.
``commands``  list of exact shell commands.             (placeholders allowed)
``source``    where the facts come from: repository path, commit, issue.
``snippet``   optional code to paste (Go rules).        (placeholders allowed)
``kind``      ``"pattern"`` (default), ``"go_direct_ioctl"``, ``"go_cgo_ioctl"``, ``"rr_upgrade"``,
              ``"rr_master_only"``, ``"rr_unsupported"`` or ``"rr_open_refused"`` (see "Rule kinds" below).
``priority``  number added to the score (default 0); more specific rules get more.
``requests``  ioctl requests the rule is about: numbers, ``"0x..."`` strings or names such as
              ``"DMA_BUF_IOCTL_EXPORT_SYNC_FILE"``. When the stop's request is known and is not one of
              them, the rule stays silent.
``require_all`` {KIND: [PATTERN, ...]}: every listed kind must match at least one pattern.
``require_any`` {KIND: [PATTERN, ...]}: at least one listed kind must match.
``require_one_of`` [{KIND: [PATTERN, ...]}, ...]: alternatives; at least one must hold, and one holds when
              every kind it lists matches (e.g. a named llvmpipe frame, or a libgallium objfile together
              with the exported driCreateNewScreen3: what a stripped Mesa still shows).
``strong``    {KIND: [PATTERN, ...]}: the evidence that names the path for certain (frame names of
              unstripped code, /proc facts). When the rule fires without any of it, its confidence is at
              most medium and the suggestion's ``missing`` line says, in one line, what was not there and
              why (stripped frames, no /proc on a remote target or a core file) and what it was
              recognised from instead.
``match``     {KIND: [PATTERN, ...]}: supporting evidence; it raises the score and the confidence.
``exclude``   {KIND: [PATTERN, ...]}: any match silences the rule (near misses).
``skip_packages`` (go_direct_ioctl only) Go packages that form the syscall layer.
``system_objfiles`` (go_cgo_ioctl only) shared objects that may sit between the ioctl and the program's
              own C code (libc, the dynamic loader, rr's preload and page); default: those.
``switches_to_gl`` true when the rule's commands first move the program off its Vulkan path (for
              example a rebuild with other build tags), so a GALLIUM_DRIVER command in them can help.

A ``pattern`` rule with none of ``require_all``, ``require_any`` and ``require_one_of`` needs at least one ``match`` hit
outside ``requests``. KINDs and what their patterns are matched against:

``native_functions`` native frame function names          ``objfiles``    shared object (basename or path)
``go_functions``     full Go function names (pkg.Func)     ``go_packages`` Go package paths
``go_modules``       Go module paths                       ``fd_links``    /proc/<pid>/fd link texts
``memfd_names``      memfd names (``/memfd:NAME (deleted)`` -> ``NAME``)

A PATTERN is a shell glob matched against the whole text (``fnmatch``, case-sensitive), or a regular
expression searched in it when written ``"re:..."``.

Placeholders: ``{exe}`` (the program, shell-quoted; ``./prog`` when unknown), ``{args}`` (its arguments from
rr's command line in a log, each shell-quoted after a space; empty when unknown), ``{request_name}``,
``{request_hex}``, ``{rr_since}``, ``{rr_version}``, ``{rr_version_phrase}``, ``{rr_phrase}``,
``{rr_upgrade_clause}``, ``{rr_reason}`` (`` (rr before X cannot record it)``, `` (no rr release
records it yet)`` or empty when neither is known to be true), ``{rr_master}`` (``rr master DATE COMMIT``, the
newest rr checked), ``{rr_last_release}`` (the newest rr release checked), ``{rr_open_policy}`` (rr_open_refused
only: the sentence about the device rr refuses to open), for Go callers ``{caller_function}``,
``{caller_package}``, ``{caller_file}``, ``{caller_line}``, ``{caller_where}``, ``{caller_module}``, and
for go_cgo_ioctl ``{c_function}`` (the C function that made the call), ``{cgo_function}`` (``C.name``,
the cgo call) and ``{cgo_package}`` (the Go package of that cgo call); in every kind, ``{program_function}``
and ``{program_where}``: the program's own function nearest the call (the innermost Go frame in package main
or in the main module, ``Evidence.main_module``), else the Go caller. Placeholders a rule's kind does
not fill read ``?``. Write ``{{``/``}}`` for literal braces.

Rule kinds
----------
``pattern``          fires on its patterns (above).
``go_direct_ioctl``  Go code makes the syscall itself (syscall, golang.org/x/sys/unix): its patterns find
                     the syscall layer (``require_all``/``match`` on go_functions), ``skip_packages`` skips
                     it, and the first frame outside it must be in a non-standard package (the caller).
``go_cgo_ioctl``     C code compiled into the Go program (a package's cgo files) makes the ioctl. Fires
                     when the native frames from the ioctl up to the first Go frame (a native frame whose
                     name is a Go symbol, e.g. ``runtime.asmcgocall``, ends them) each lie in the
                     executable (``Evidence.executable``: same path, real path or file, or the same base
                     name when either is a bare name) or in a ``system_objfiles`` library, at least one lies in the executable, and the innermost
                     Go cgo wrapper (``pkg._Cfunc_name``) is in a non-standard package with only standard
                     frames (``runtime.cgocall``) inside it. The C function is the innermost native frame
                     in the executable; the caller is the first non-wrapper, non-standard Go frame outside
                     the wrapper. ``exclude`` keeps it off Mesa/libdrm/EGL/GLX/Vulkan stacks.
``rr_upgrade``       the request is known, a release handles it by name (rr_ioctls.json, from rr's history) and
                     the user's rr is not known to.
``rr_master_only``   the request is known and only rr master after the last release handles it by name.
``rr_unsupported``   the request is known and neither a release nor rr master handles it by name.
``rr_open_refused``  the request is for a device rr refuses to open (DRM on /dev/dri/*, NVIDIA's 'F' ioctls on
                     /dev/nvidiactl; rr.refused_open), or the fd's link is such a device.

Whatever the rules say, ``advise`` never prints a command that cannot help: none that sets
LIBGL_ALWAYS_SOFTWARE (rr already sets it, and it is what selects llvmpipe), and no GALLIUM_DRIVER
command when the stack shows a Vulkan path (lavapipe and the Vulkan WSI ignore it).
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import stat
import string
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .errors import UserError
from .go_runtime.stdlib import STD_ROOTS as _GO_STD_ROOTS
from .go_runtime.stdlib import is_std_package

ENV_RULES = "GDB_RR_DMABUF_RULES"
BUILTIN_RULES_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "advice_rules.json")

KINDS = ("native_functions", "objfiles", "go_functions", "go_packages", "go_modules", "fd_links",
         "memfd_names")
# How much one kind of matching evidence counts towards a rule's score.
WEIGHTS = {"native_functions": 3.0, "go_functions": 3.0, "go_packages": 2.0, "go_modules": 1.0,
           "objfiles": 1.0, "fd_links": 1.0, "memfd_names": 1.0, "requests": 2.0, "go_caller": 3.0,
           "rr_version": 2.0}
FRAME_KINDS = ("native_functions", "go_functions", "go_caller")
RULE_KINDS = ("pattern", "go_direct_ioctl", "go_cgo_ioctl", "rr_upgrade", "rr_master_only", "rr_unsupported",
              "rr_open_refused")
CALLER_PLACEHOLDERS = ("caller_function", "caller_package", "caller_file", "caller_line", "caller_where",
                       "caller_module")
CGO_PLACEHOLDERS = ("c_function", "cgo_function", "cgo_package")
PROGRAM_PLACEHOLDERS = ("program_function", "program_where")
RR_PLACEHOLDERS = ("rr_since", "rr_version", "rr_version_phrase", "rr_phrase", "rr_upgrade_clause", "rr_reason",
                   "rr_master", "rr_last_release", "rr_open_policy")
PLACEHOLDERS = ("exe", "args", "request_name", "request_hex") + RR_PLACEHOLDERS + CALLER_PLACEHOLDERS + CGO_PLACEHOLDERS + \
    PROGRAM_PLACEHOLDERS
_RULE_KEYS = {"id", "title", "action", "step", "commands", "source", "snippet", "kind", "priority", "requests",
              "require_all", "require_any", "match", "exclude", "skip_packages", "disabled", "notes",
              "switches_to_gl", "system_objfiles", "require_one_of", "strong"}
_MAX_EVIDENCE_PER_KIND = 3
MAX_RULES_FILE = 4 << 20  # bytes: a rules file is hand-written; more is a wrong file
_MAX_PATTERN = 4096

# Top-level directories of the Go standard library (a package path whose first element has no dot
# and is one of these belongs to the toolchain, not to the user).


# A command that sets LIBGL_ALWAYS_SOFTWARE can never help: rr sets it already.
_NEVER_COMMAND = re.compile(r"\bLIBGL_ALWAYS_SOFTWARE\b")
_GALLIUM_COMMAND = re.compile(r"\bGALLIUM_DRIVER\b")
# Evidence that the stop is on a Vulkan path, where GALLIUM_DRIVER is ignored.
_VULKAN_NATIVE = ("lvp_*", "wsi_*", "vk[A-Z]*")
_VULKAN_OBJFILES = ("libvulkan*",)
_VULKAN_GO = ("gioui.org/internal/vk.*",)
# Shared objects that may lie between an ioctl and the program's own C code (go_cgo_ioctl default):
# glibc and musl, their dynamic loaders, and rr's syscall page and preload library.
DEFAULT_SYSTEM_OBJFILES = ("libc.so*", "libc-*.so", "libpthread.so*", "libpthread-*.so", "ld-linux*",
                           "ld-*.so", "libc.musl*", "ld-musl*", "librrpage.so", "librrpreload.so")
# Prefixes of the Go functions cgo generates (cmd/cgo: _Cfunc_ calls C, _C2func_ also returns errno).
_CGO_CALL_PREFIXES = ("_Cfunc_", "_C2func_")
_CGO_GENERATED_PREFIXES = ("_Cfunc_", "_C2func_", "_cgo_", "_Cgo_", "_cgoexp_")


# --------------------------------------------------------------------------------------------------
# Evidence and results

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
    # Evidence read from rr's log (rrlog.evidence_items): (kind, label, text) of the KINDS above, matched by the
    # rules like the same kind at a live stop (a memfd the trace dump shows mapped, an fd an ioctl shows).
    log_items: List[Tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Suggestion:
    rule_id: str
    title: str
    action: str
    commands: List[str]
    source: str
    evidence: List[str]
    confidence: str          # 'high' | 'medium' | 'low'
    score: float
    snippet: str = ""        # code to paste, when the rule has one
    step: str = ""           # the action as one short line (the rule's "step"), when the rule has one
    missing: str = ""        # one line: the rule's strong evidence that was not there, and what it went on


# --------------------------------------------------------------------------------------------------
# Rules

class Pattern:
    """A glob (whole-text match) or, written 're:...', a regular expression (searched)."""

    __slots__ = ("text", "_re")

    def __init__(self, text: str):
        self.text = text
        if text.startswith("re:"):
            self._re = re.compile(text[3:])
        else:
            self._re = re.compile(fnmatch.translate(text))

    def matches(self, value: str) -> bool:
        if self.text.startswith("re:"):
            return self._re.search(value) is not None
        return self._re.match(value) is not None

    def __repr__(self) -> str:
        return "Pattern(%r)" % self.text


@dataclass
class Rule:
    id: str
    title: str
    action: str
    commands: List[str]
    source: str
    kind: str = "pattern"
    priority: float = 0.0
    snippet: str = ""
    step: str = ""
    request_numbers: List[int] = field(default_factory=list)
    request_names: List[str] = field(default_factory=list)
    require_all: Dict[str, List[Pattern]] = field(default_factory=dict)
    require_any: Dict[str, List[Pattern]] = field(default_factory=dict)
    require_one_of: List[Dict[str, List[Pattern]]] = field(default_factory=list)
    strong: Dict[str, List[Pattern]] = field(default_factory=dict)
    match: Dict[str, List[Pattern]] = field(default_factory=dict)
    exclude: Dict[str, List[Pattern]] = field(default_factory=dict)
    skip_packages: List[Pattern] = field(default_factory=list)
    system_objfiles: List[Pattern] = field(default_factory=list)
    switches_to_gl: bool = False
    origin: str = "built-in"

    @property
    def has_requests(self) -> bool:
        return bool(self.request_numbers or self.request_names)


class _RuleError(Exception):
    pass


def _parse_patterns(rule_id: str, key: str, value: Any) -> Dict[str, List[Pattern]]:
    if not isinstance(value, dict):
        raise _RuleError("rule %r: %r must be an object of {kind: [patterns]}" % (rule_id, key))
    out: Dict[str, List[Pattern]] = {}
    for kind, pats in value.items():
        if kind not in KINDS:
            raise _RuleError("rule %r: unknown evidence kind %r in %r (known: %s)"
                             % (rule_id, kind, key, ", ".join(KINDS)))
        if isinstance(pats, str):
            pats = [pats]
        if not isinstance(pats, list) or not all(isinstance(p, str) and p for p in pats):
            raise _RuleError("rule %r: %s.%s must be a list of non-empty strings" % (rule_id, key, kind))
        out[kind] = _parse_plain_patterns(rule_id, "%s.%s" % (key, kind), pats)
    return out


def _parse_plain_patterns(rule_id: str, key: str, pats: Iterable[str]) -> List[Pattern]:
    out = []
    for p in pats:
        if len(p) > _MAX_PATTERN:
            raise _RuleError("rule %s: a pattern in %s is longer than %d characters" % (_short(rule_id), key, _MAX_PATTERN))
        try:
            out.append(Pattern(p))
        except re.error as e:
            raise _RuleError("rule %s: bad regular expression in %s: %s" % (_short(rule_id), key, e))
        except (RecursionError, OverflowError, ValueError, MemoryError):
            raise _RuleError("rule %s: regular expression in %s is too complex (nested too deeply or too large)"
                             % (_short(rule_id), key))
    return out


def _short(value: Any, limit: int = 80) -> str:
    """repr of a value from a rules file for an error line: one line, at most about `limit` characters."""
    r = repr(value)
    return r if len(r) <= limit else r[:limit - 3] + "..."


def _check_template(rule_id: str, key: str, text: str) -> None:
    """Placeholders must be bare known names: no !conversion, no :format spec (`{exe:%}`, `{exe!z}` or
    `{exe:99999999}` would fail or blow up at format time), no attribute or index access."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text) if f is not None]
    except ValueError as e:
        raise _RuleError("rule %s: bad placeholder syntax in %s: %s" % (_short(rule_id), key, e))
    for n, spec, conv in fields:
        if n not in PLACEHOLDERS:
            raise _RuleError("rule %s: unknown placeholder {%s} in %s (known: %s)"
                             % (_short(rule_id), _short(n, 40)[1:-1], key, ", ".join(PLACEHOLDERS)))
        if spec or conv is not None:
            raise _RuleError("rule %s: placeholder {%s%s%s} in %s: placeholders take no !conversion or :format"
                             % (_short(rule_id), n, "!" + conv if conv is not None else "",
                                ":" + _short(spec, 20)[1:-1] if spec else "", key))


def _parse_request(rule_id: str, r: Any) -> Tuple[Optional[int], Optional[str]]:
    if isinstance(r, bool):
        raise _RuleError("rule %r: request %r is not a number or a name" % (rule_id, r))
    if isinstance(r, int):
        return r & 0xFFFFFFFF, None
    if isinstance(r, str) and r and len(r) <= 64:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", r):
            return int(r, 16) & 0xFFFFFFFF, None
        if re.fullmatch(r"[0-9]+", r):
            return int(r, 10) & 0xFFFFFFFF, None
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", r):
            return None, r
    raise _RuleError("rule %r: request %r is not a number, a 0x string or an ioctl name" % (rule_id, r))


def rule_from_dict(d: Any, origin: str = "built-in") -> Rule:
    """Build one Rule from its JSON object; raises _RuleError with a one-line reason."""
    if not isinstance(d, dict):
        raise _RuleError("a rule must be a JSON object, got %s" % type(d).__name__)
    rid = d.get("id")
    if not isinstance(rid, str) or not rid:
        raise _RuleError("a rule has no \"id\" string")
    unknown = sorted(set(d) - _RULE_KEYS)
    if unknown:
        raise _RuleError("rule %r: unknown key(s) %s" % (rid, ", ".join(k if k.isprintable() and len(k) <= 40 else _short(k, 40) for k in unknown[:8])))
    for key in ("title", "action", "source"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise _RuleError("rule %r: %r must be a non-empty string" % (rid, key))
    commands = d.get("commands", [])
    if not isinstance(commands, list) or not all(isinstance(c, str) and c.strip() for c in commands):
        raise _RuleError("rule %r: \"commands\" must be a list of non-empty strings" % rid)
    snippet = d.get("snippet", "")
    if not isinstance(snippet, str):
        raise _RuleError("rule %r: \"snippet\" must be a string" % rid)
    step = d.get("step", "")
    if not isinstance(step, str) or "\n" in step:
        raise _RuleError("rule %r: \"step\" must be a one-line string" % rid)
    for key, text in [("title", d["title"]), ("action", d["action"]), ("snippet", snippet), ("step", step)] + \
            [("commands", c) for c in commands]:
        _check_template(rid, key, text)
    kind = d.get("kind", "pattern")
    if kind not in RULE_KINDS:
        raise _RuleError("rule %r: unknown kind %r (known: %s)" % (rid, kind, ", ".join(RULE_KINDS)))
    prio = d.get("priority", 0)
    if isinstance(prio, bool) or not isinstance(prio, (int, float)) or not -1e9 <= prio <= 1e9:
        raise _RuleError("rule %r: \"priority\" must be a number (at most 1e9 in size)" % rid)
    reqs = d.get("requests", [])
    if not isinstance(reqs, list):
        raise _RuleError("rule %r: \"requests\" must be a list" % rid)
    numbers: List[int] = []
    names: List[str] = []
    for r in reqs:
        n, name = _parse_request(rid, r)
        if n is not None:
            numbers.append(n)
        if name is not None:
            names.append(name)
    skip = d.get("skip_packages", [])
    if not isinstance(skip, list) or not all(isinstance(p, str) and p for p in skip):
        raise _RuleError("rule %r: \"skip_packages\" must be a list of strings" % rid)
    sysobj = d.get("system_objfiles", [])
    if not isinstance(sysobj, list) or not all(isinstance(p, str) and p for p in sysobj):
        raise _RuleError("rule %r: \"system_objfiles\" must be a list of strings" % rid)
    one_of = d.get("require_one_of", [])
    if not isinstance(one_of, list) or not all(isinstance(a, dict) and a for a in one_of):
        raise _RuleError("rule %r: \"require_one_of\" must be a list of {kind: [patterns]} objects" % rid)
    if not isinstance(d.get("switches_to_gl", False), bool):
        raise _RuleError("rule %r: \"switches_to_gl\" must be true or false" % rid)
    rule = Rule(id=rid, title=d["title"], action=d["action"], commands=list(commands), source=d["source"],
                kind=kind, priority=float(prio), snippet=snippet, step=step, request_numbers=numbers,
                request_names=names,
                require_all=_parse_patterns(rid, "require_all", d.get("require_all", {})),
                require_any=_parse_patterns(rid, "require_any", d.get("require_any", {})),
                require_one_of=[_parse_patterns(rid, "require_one_of", a) for a in one_of],
                strong=_parse_patterns(rid, "strong", d.get("strong", {})),
                match=_parse_patterns(rid, "match", d.get("match", {})),
                exclude=_parse_patterns(rid, "exclude", d.get("exclude", {})),
                skip_packages=_parse_plain_patterns(rid, "skip_packages", skip),
                system_objfiles=_parse_plain_patterns(rid, "system_objfiles", sysobj or DEFAULT_SYSTEM_OBJFILES),
                switches_to_gl=bool(d.get("switches_to_gl", False)), origin=origin)
    if kind in ("pattern", "go_direct_ioctl") and not (rule.require_all or rule.require_any or rule.require_one_of
                                                       or rule.match):
        raise _RuleError("rule %r: it recognises nothing (give require_all, require_any, require_one_of or match)"
                         % rid)
    return rule


def _rules_from_json(text: str, origin: str) -> List[Tuple[dict, Rule]]:
    try:
        data = json.loads(text)
    except RecursionError:
        raise _RuleError("not valid JSON for rules: nested too deeply")
    except ValueError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "digits" in msg and "limit" in msg:  # Python's int size limit (4300 digits)
            msg = "a number with more than %d digits" % getattr(sys, "get_int_max_str_digits", lambda: 4300)()
        raise _RuleError("not valid JSON: %s" % msg)
    if isinstance(data, dict):
        if "rules" not in data:
            raise _RuleError("no \"rules\" list at the top level")
        data = data["rules"]
    if not isinstance(data, list):
        raise _RuleError("\"rules\" must be a list")
    out = []
    seen = set()
    for i, d in enumerate(data):
        if isinstance(d, dict) and d.get("disabled") is True and isinstance(d.get("id"), str):
            out.append((d, None))
            continue
        try:
            r = rule_from_dict(d, origin)
        except _RuleError as e:
            raise _RuleError("rule #%d: %s" % (i + 1, e))
        if r.id in seen:
            raise _RuleError("rule id %r appears twice" % r.id)
        seen.add(r.id)
        out.append((d, r))
    return out


_builtin_cache: Optional[List[Rule]] = None


def builtin_rules() -> List[Rule]:
    global _builtin_cache
    if _builtin_cache is None:
        with open(BUILTIN_RULES_PATH, encoding="utf-8") as f:
            text = f.read()
        try:
            pairs = _rules_from_json(text, "built-in")
        except _RuleError as e:  # a bug in the shipped file, not the user's fault
            raise UserError("built-in advice rules %s: %s" % (BUILTIN_RULES_PATH, e),
                            "reinstall gdb-rr-dmabuf")
        _builtin_cache = [r for _, r in pairs if r is not None]
    return list(_builtin_cache)


def load_rules(user_file: Optional[str] = None) -> List[Rule]:
    """Built-in rules plus the user's file (argument, else $GDB_RR_DMABUF_RULES), in order.

    User rules come first (so they win ties); one with a built-in id replaces that rule, and
    ``{"id": ..., "disabled": true}`` drops it. A malformed file raises UserError naming it.
    """
    rules = builtin_rules()
    path = user_file if user_file is not None else os.environ.get(ENV_RULES) or None
    if not path:
        return rules
    todo = "fix the file" + ("" if user_file is not None else " or unset " + ENV_RULES)
    shown = path if path.isprintable() and len(path) <= 256 else _short(path, 256)
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise UserError("advice rules file %s: cannot read it (%s)" % (shown, getattr(e, "strerror", None) or e), todo)
    if not stat.S_ISREG(st.st_mode):
        raise UserError("advice rules file %s: not a regular file" % shown, "give a JSON file")
    if st.st_size > MAX_RULES_FILE:
        raise UserError("advice rules file %s: %d bytes, more than the %d a rules file may have"
                        % (shown, st.st_size, MAX_RULES_FILE), todo)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RULES_FILE + 1)
    except OSError as e:
        raise UserError("advice rules file %s: cannot read it (%s)" % (shown, e.strerror or e), todo)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError("advice rules file %s: not UTF-8 text (byte 0x%02x at offset %d)"
                        % (shown, raw[e.start], e.start), "save it as UTF-8 JSON")
    try:
        pairs = _rules_from_json(text, path)
    except _RuleError as e:
        msg = str(e)
        if len(msg) > 400:
            msg = msg[:397] + "..."
        raise UserError("advice rules file %s: %s" % (shown, msg), todo)
    drop = {d["id"] for d, r in pairs}
    user = [r for _, r in pairs if r is not None]
    return user + [r for r in rules if r.id not in drop]


# --------------------------------------------------------------------------------------------------
# Evidence as text items per kind

def go_full_name(fr: GoFrameEv) -> str:
    fn = fr.function or ""
    pkg = fr.package or ""
    if not pkg or fn.startswith(pkg + "."):
        return fn
    return pkg + "." + fn


def go_package_of(full_name: str) -> str:
    """Package path of a full Go function name ('a.b/c/d.(*T).M' -> 'a.b/c/d')."""
    slash = full_name.rfind("/")
    dot = full_name.find(".", slash + 1)
    return full_name[:dot] if dot > 0 else full_name


def _frame_package(fr: GoFrameEv) -> str:
    return fr.package or go_package_of(fr.function or "")


def memfd_name(link: str) -> Optional[str]:
    m = re.match(r"^/memfd:(.*?)(?: \(deleted\))?$", link or "")
    return m.group(1) if m else None


def _where(fr: GoFrameEv) -> str:
    if fr.file:
        return "%s:%s" % (fr.file, fr.line) if fr.line else fr.file
    return "unknown location"


def _module_text(fr: GoFrameEv) -> str:
    if fr.module:
        return fr.module + ("@" + fr.version if fr.version else "")
    return "module unknown"


class _Items:
    """Per kind: list of (label, text) pairs the patterns are matched against."""

    def __init__(self, ev: Evidence):
        self.by_kind: Dict[str, List[Tuple[str, str]]] = {k: [] for k in KINDS}
        seen_obj = set()
        for i, (fn, obj) in enumerate(ev.native_frames or []):
            base = os.path.basename(obj) if obj else None
            if fn:
                self.by_kind["native_functions"].append(
                    ("native frame #%d %s%s" % (i, fn, " in " + base if base else ""), fn))
            if obj and obj not in seen_obj:
                seen_obj.add(obj)
                self.by_kind["objfiles"].append(("native frame #%d in %s" % (i, obj), obj))
        seen_pkg = set()
        seen_mod = set()
        for i, fr in enumerate(ev.go_frames or []):
            full = go_full_name(fr)
            loc = " (%s)" % _where(fr) if fr.file else ""
            if full:
                self.by_kind["go_functions"].append(("Go frame #%d %s%s" % (i, full, loc), full))
            pkg = _frame_package(fr)
            if pkg and pkg not in seen_pkg:
                seen_pkg.add(pkg)
                self.by_kind["go_packages"].append(("Go package %s" % pkg, pkg))
            if fr.module and fr.module not in seen_mod:
                seen_mod.add(fr.module)
                self.by_kind["go_modules"].append(("Go module %s" % _module_text(fr), fr.module))
        links: List[Tuple[str, str]] = []
        if ev.fd_link:
            links.append(("ioctl fd -> %s" % ev.fd_link, ev.fd_link))
        for fd in sorted(ev.fd_links or {}):
            links.append(("fd %d -> %s" % (fd, ev.fd_links[fd]), ev.fd_links[fd]))
        self.by_kind["fd_links"] = links
        for kind, label, text in ev.log_items or []:
            if kind in self.by_kind and kind != "memfd_names":
                self.by_kind[kind].append((label, text))
        seen_memfd = set()
        for kind, label, text in ev.log_items or []:
            if kind == "memfd_names" and text not in seen_memfd:
                seen_memfd.add(text)
                self.by_kind["memfd_names"].append((label, text))
        for label, link in links:
            name = memfd_name(link)
            if name is not None and name not in seen_memfd:
                seen_memfd.add(name)
                self.by_kind["memfd_names"].append(("memfd %s (%s)" % (name, label), name))

    def hits(self, kind: str, patterns: List[Pattern]) -> List[str]:
        return [label for label, _ in self.hit_pairs(kind, patterns)]

    def hit_pairs(self, kind: str, patterns: List[Pattern]) -> List[Tuple[str, str]]:
        """(label, short text) of each item matching: the text is the function, memfd or link name, or
        an objfile's base name."""
        out = []
        for label, text in self.by_kind.get(kind, []):
            cands = [text]
            if kind == "objfiles":
                cands.append(os.path.basename(text))
            if any(p.matches(c) for p in patterns for c in cands):
                out.append((label, cands[-1]))
        return out


def _request_known(ev: Evidence) -> bool:
    return ev.request is not None or bool(ev.request_names)


def _request_matches(rule: Rule, ev: Evidence) -> bool:
    if ev.request is not None and (ev.request & 0xFFFFFFFF) in rule.request_numbers:
        return True
    return any(n in rule.request_names for n in ev.request_names or [])


def _request_label(ev: Evidence) -> str:
    parts = []
    if ev.request is not None:
        parts.append("0x%x" % (ev.request & 0xFFFFFFFF))
    if ev.request_names:
        parts.append("(%s)" % ", ".join(ev.request_names) if parts else ", ".join(ev.request_names))
    return "ioctl request " + " ".join(parts)


def _version_tuple(v: Optional[str]) -> Optional[Tuple[int, ...]]:
    if not v:
        return None
    m = re.search(r"(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?(?!\d)", v)
    if not m:
        return None
    return tuple(int(x) for x in (m.group(1), m.group(2), m.group(3) or "0"))


def _rr_facts(what: str) -> str:
    """'master' -> 'rr master 2026-08-17 5c202cd8', 'last_release' -> '5.9.0' (rr.py's table)."""
    from .rr import table
    t = table()
    return t.master_label if what == "master" else t.last_release


def rr_handles(ev: Evidence) -> Optional[bool]:
    """Does the user's rr release handle the request by name? None when either version is unknown. A request
    only rr master handles is not handled by any release (a master build calls itself the last release)."""
    have = _version_tuple(ev.rr_version)
    if ev.rr_master_only and have is not None:
        return False
    since = _version_tuple(ev.rr_supported_since)
    if have is None or since is None:
        return None
    return have >= since


def is_vulkan_path(ev: Evidence, items: Optional["_Items"] = None) -> bool:
    """Does the stack show a Vulkan path (lavapipe, the WSI, the loader, Gio's vk package)?"""
    items = items or _Items(ev)
    return bool(items.hits("native_functions", [Pattern(p) for p in _VULKAN_NATIVE])
                or items.hits("objfiles", [Pattern(p) for p in _VULKAN_OBJFILES])
                or items.hits("go_functions", [Pattern(p) for p in _VULKAN_GO]))


# --------------------------------------------------------------------------------------------------
# Evaluation

class _SafeDict(dict):
    def __missing__(self, key):  # validated at load time; keep output sane anyway
        return "{" + key + "}"


def _exe(ev: Evidence) -> str:
    exe = ev.executable
    if not exe:
        return "./prog"
    if "/" not in exe:
        exe = "./" + exe
    return shlex.quote(exe)


def _variables(ev: Evidence, caller: Optional[GoFrameEv],
               extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    req_hex = "0x%x" % (ev.request & 0xFFFFFFFF) if ev.request is not None else "the ioctl"
    req_name = ev.request_names[0] if ev.request_names else req_hex
    since = ev.rr_supported_since or ""
    handles = rr_handles(ev)
    if ev.rr_version:
        vphrase = "this rr is %s" % ev.rr_version
        if handles is False:
            vphrase += ", which does not"
        elif handles is True:
            vphrase += ", which does"
    else:
        vphrase = "the version of the rr in use is not known (check with rr --version)"
    rr_phrase = ""
    clause = ""
    reason = ""
    if since and handles is not True:
        rr_phrase = " before %s" % since
        clause = ", or upgrade rr to %s or later, which handles %s" % (since, req_name)
        reason = " (rr before %s cannot record it)" % since
    elif ev.rr_master_only:
        rr_phrase = " (no release yet)"
        clause = (", or build rr from source: only rr master after %s handles %s"
                  % (_rr_facts("last_release"), req_name))
        reason = " (no rr release records it yet; rr master does)"
    elif not since and ev.rr_support_known:
        rr_phrase = " (no release yet)"
        clause = " (no rr release handles %s yet, so the guard is the way)" % req_name
        reason = " (no rr release records it yet)"
    v = {"exe": _exe(ev), "args": "".join(" " + shlex.quote(a) for a in ev.executable_args or []),
         "request_name": req_name, "request_hex": req_hex,
         "rr_since": since or ("master" if ev.rr_master_only else "?"),
         "rr_version": ev.rr_version or "unknown", "rr_version_phrase": vphrase, "rr_phrase": rr_phrase,
         "rr_upgrade_clause": clause, "rr_reason": reason, "rr_master": _rr_facts("master"),
         "rr_last_release": _rr_facts("last_release"), "rr_open_policy": ev.rr_open_policy or "?"}
    if caller is not None:
        v.update({"caller_function": go_full_name(caller), "caller_package": _frame_package(caller),
                  "caller_file": caller.file or "unknown file",
                  "caller_line": str(caller.line) if caller.line else "?",
                  "caller_where": _where(caller), "caller_module": _module_text(caller)})
    else:
        v.update({k: "?" for k in CALLER_PLACEHOLDERS})
    v.update({k: "?" for k in CGO_PLACEHOLDERS})
    own = program_frame(ev) or caller or ev.go_caller
    v.update({"program_function": go_full_name(own), "program_where": _where(own)} if own is not None
             else {k: "?" for k in PROGRAM_PLACEHOLDERS})
    v.update(extra or {})
    return v


def program_frame(ev: Evidence) -> Optional[GoFrameEv]:
    """The program's own function nearest the call: the innermost Go frame in package main or in the main
    module (Debian's GOPATH builds record no module: package main is what is left of the program there)."""
    for fr in ev.go_frames or []:
        pkg = _frame_package(fr)
        if pkg == "main" or (ev.main_module and fr.module == ev.main_module):
            return fr
    return None


def _confidence(kinds: Iterable[str]) -> str:
    ks = set(kinds)
    frames = ks & set(FRAME_KINDS)
    if len(ks) >= 3 and frames or (frames and "requests" in ks):
        return "high"
    if frames or len(ks) >= 2:
        return "medium"
    return "low"


def direct_go_caller(ev: Evidence, rule: Rule) -> Optional[GoFrameEv]:
    """The Go frame just outside the syscall layer, above the innermost syscall frame, or None."""
    frames = ev.go_frames or []
    start = None
    sys_pats = rule.require_all.get("go_functions", []) + rule.match.get("go_functions", [])
    for i, fr in enumerate(frames):
        if any(p.matches(go_full_name(fr)) for p in sys_pats):
            start = i
            break
    if start is None:
        return None
    for fr in frames[start:]:
        pkg = _frame_package(fr)
        if any(p.matches(pkg) for p in rule.skip_packages):
            continue
        return fr
    return None


def _go_short_name(full: str) -> str:
    """'a.b/c.(*T).M' -> '(*T).M', 'pkg._Cfunc_f' -> '_Cfunc_f'."""
    pkg = go_package_of(full)
    return full[len(pkg) + 1:] if full.startswith(pkg + ".") else full


def is_cgo_generated(fr: GoFrameEv) -> bool:
    """A Go function that cgo generates (the _Cfunc_ wrapper of a C.name call and its kin)."""
    return _go_short_name(go_full_name(fr)).startswith(_CGO_GENERATED_PREFIXES)


def same_file(a: Optional[str], b: Optional[str]) -> bool:
    """Do two paths name the same executable? Same text, same real path, the same file on this machine,
    or (when either is a bare name) the same base name."""
    if not a or not b:
        return False
    if a == b:
        return True
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        if os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b):
            return True
    except (OSError, ValueError):
        pass
    if "/" not in a or "/" not in b:
        return os.path.basename(a) == os.path.basename(b)
    return False


_GO_PKG_PATH = re.compile(r"[A-Za-z0-9_.~-]+(?:/[A-Za-z0-9_.~-]+)*")
# GCC's names for clones of a C function ('f.constprop.0', 'f.isra.0', 'f.part.0', 'f.cold').
_GCC_CLONE = re.compile(r"\.(?:(?:constprop|isra|part|lto_priv|localalias|clone)\.\d+|cold|hot)$")


def _native_is_go(name: Optional[str], go_names: set, go_pkgs: set) -> bool:
    """Is this native frame's function a Go symbol (where gdb's stack crosses into Go)?"""
    if not name:
        return False
    if name in go_names:
        return True
    if _GCC_CLONE.search(name):
        return False
    pkg = go_package_of(name)
    if pkg == name or not _GO_PKG_PATH.fullmatch(pkg):
        return False                              # no package qualifier: a C name
    if pkg in go_pkgs:
        return True
    first = pkg.split("/", 1)[0]
    return first in _GO_STD_ROOTS or ("/" in pkg and "." in first)


@dataclass
class CgoCall:
    """What go_cgo_ioctl found: the C code in the executable and the Go side of the cgo call."""
    c_frame: int                                  # index of the innermost native frame in the executable
    c_function: str
    exe_frames: List[int]                         # native frames in the executable (innermost first)
    wrapper_index: int
    wrapper: GoFrameEv
    caller: GoFrameEv


def cgo_call(ev: Evidence, system_objfiles: Optional[List[Pattern]] = None) -> Optional[CgoCall]:
    """The cgo call behind the ioctl, when C code compiled into the executable made it, else None."""
    if system_objfiles is None:
        system_objfiles = [Pattern(p) for p in DEFAULT_SYSTEM_OBJFILES]
    go = ev.go_frames or []
    # The Go side: the innermost cgo call wrapper, with only standard frames (runtime.cgocall) inside.
    wi = None
    for i, fr in enumerate(go):
        if _go_short_name(go_full_name(fr)).startswith(_CGO_CALL_PREFIXES):
            wi = i
            break
        if not is_std_package(_frame_package(fr), fr.module):
            return None
    if wi is None:
        return None
    wrapper = go[wi]
    if is_std_package(_frame_package(wrapper), wrapper.module):
        return None                               # e.g. net._Cfunc_getaddrinfo: the toolchain's own cgo
    caller = None
    for fr in go[wi + 1:]:
        if not is_cgo_generated(fr) and not is_std_package(_frame_package(fr), fr.module):
            caller = fr
            break
    if caller is None:
        return None
    # The native side: every frame up to the first Go symbol lies in libc & co. or in the executable.
    if not ev.executable:
        return None
    go_names = {go_full_name(f) for f in go}
    go_pkgs = {_frame_package(f) for f in go}
    exe_frames: List[int] = []
    for i, (fn, obj) in enumerate(ev.native_frames or []):
        if _native_is_go(fn, go_names, go_pkgs):
            break
        if not obj:
            return None                           # cannot tell where it lies
        if same_file(obj, ev.executable):
            exe_frames.append(i)
        elif not any(p.matches(obj) or p.matches(os.path.basename(obj)) for p in system_objfiles):
            return None                           # C code in another shared library
    if not exe_frames:
        return None
    c_fn = ev.native_frames[exe_frames[0]][0]
    return CgoCall(c_frame=exe_frames[0],
                   c_function=c_fn or "an unnamed function in %s" % os.path.basename(ev.executable),
                   exe_frames=exe_frames, wrapper_index=wi, wrapper=wrapper, caller=caller)


def _cgo_function(wrapper: GoFrameEv) -> str:
    short = _go_short_name(go_full_name(wrapper))
    for p in _CGO_CALL_PREFIXES:
        if short.startswith(p):
            return "C." + short[len(p):]
    return short


def _finish(rule: Rule, ev: Evidence, kinds: Dict[str, List[str]], caller: Optional[GoFrameEv] = None,
            confidence: Optional[str] = None, extra: Optional[Dict[str, str]] = None) -> Suggestion:
    v = _SafeDict(_variables(ev, caller, extra))
    evidence: List[str] = []
    for k in ("requests", "go_caller") + KINDS + ("rr_version",):
        labels = kinds.get(k)
        if not labels:
            continue
        evidence.extend(labels[:_MAX_EVIDENCE_PER_KIND])
        if len(labels) > _MAX_EVIDENCE_PER_KIND:
            evidence.append("... and %d more %s" % (len(labels) - _MAX_EVIDENCE_PER_KIND,
                                                    k.replace("_", " ")))
    score = rule.priority + sum(WEIGHTS.get(k, 1.0) for k, labels in kinds.items() if labels)
    # A little extra for more frames of the same path, capped so kinds dominate.
    score += 0.1 * min(8, sum(len(l) for k, l in kinds.items() if k in FRAME_KINDS))
    return Suggestion(rule_id=rule.id, title=rule.title.format_map(v), action=rule.action.format_map(v),
                      commands=[c.format_map(v) for c in rule.commands], source=rule.source,
                      evidence=evidence, confidence=confidence or _confidence(k for k in kinds if kinds[k]),
                      score=round(score, 3), snippet=rule.snippet.format_map(v) if rule.snippet else "",
                      step=rule.step.format_map(v) if rule.step else "")


def _eval_patterns(rule: Rule, ev: Evidence, items: _Items,
                   need_hit: bool = True) -> Optional[Dict[str, List[str]]]:
    """Request scoping, exclude, require_all, require_any and match; None when the rule is silent.
    need_hit: a rule without requirements must match something outside ``requests``."""
    kinds: Dict[str, List[str]] = {}
    if rule.has_requests and _request_known(ev):
        if not _request_matches(rule, ev):
            return None
        kinds["requests"] = [_request_label(ev)]
    for kind, pats in rule.exclude.items():
        if items.hits(kind, pats):
            return None
    for kind, pats in rule.require_all.items():
        h = items.hits(kind, pats)
        if not h:
            return None
        kinds.setdefault(kind, []).extend(h)
    if rule.require_one_of:
        alt = _one_of(rule, items)
        if alt is None:
            return None
        for kind, labels in alt:
            have = kinds.setdefault(kind, [])
            have.extend(x for x in labels if x not in have)
    if rule.require_any:
        any_hit = False
        for kind, pats in rule.require_any.items():
            h = items.hits(kind, pats)
            if h:
                any_hit = True
                kinds.setdefault(kind, []).extend(h)
        if not any_hit:
            return None
    for kind, pats in rule.match.items():
        h = items.hits(kind, pats)
        if h:
            have = kinds.setdefault(kind, [])
            have.extend(x for x in h if x not in have)
    for kind, pats in rule.strong.items():
        h = items.hits(kind, pats)
        if h:
            have = kinds.setdefault(kind, [])
            have.extend(x for x in h if x not in have)
    if need_hit and not (rule.require_all or rule.require_any or rule.require_one_of) \
            and not any(k != "requests" for k in kinds):
        return None
    return kinds


def _one_of(rule: Rule, items: _Items, texts: bool = False) -> Optional[List[Tuple[str, List[str]]]]:
    """The first alternative of require_one_of that holds, as [(kind, hit labels or texts)], or None."""
    for alt in rule.require_one_of:
        got = []
        for kind, pats in alt.items():
            pairs = items.hit_pairs(kind, pats)
            if not pairs:
                break
            got.append((kind, [t if texts else l for l, t in pairs]))
        else:
            return got
    return None


_STRONG_WORDS = {"native_functions": "no %s frame names", "go_functions": "no %s Go frames",
                 "memfd_names": "no memfd %s", "fd_links": "no fd link %s", "objfiles": "no %s objfile",
                 "go_packages": "no Go package %s", "go_modules": "no Go module %s"}
_PROC_KINDS = ("memfd_names", "fd_links")


def _no_proc_reason(ev: Evidence) -> str:
    return {"remote": "remote target: the process's /proc is on another machine",
            "core": "core file", "log": "rr's log: no process"}.get(ev.target_kind or "",
                                                                  "the process's /proc was not readable")


def missing_evidence(rule: Rule, ev: Evidence, items: _Items) -> str:
    """One line when the rule fired without any of its strong evidence, else ''."""
    if not rule.strong or any(items.hits(k, p) for k, p in rule.strong.items()):
        return ""
    parts: List[str] = []
    for kind, pats in rule.strong.items():
        if kind in _PROC_KINDS and not ev.proc_readable:
            part = "no /proc (%s)" % _no_proc_reason(ev)
        else:
            part = _STRONG_WORDS.get(kind, "no %s") % " / ".join(p.text for p in pats)
            if kind == "native_functions":
                unnamed: Dict[str, int] = {}
                for fn, obj in ev.native_frames or []:
                    if not fn and obj:
                        b = os.path.basename(obj)
                        unnamed[b] = unnamed.get(b, 0) + 1
                if unnamed:
                    part += " (stripped: %s)" % ", ".join(
                        "%d unnamed frame%s in %s" % (n, "" if n == 1 else "s", b) for b, n in unnamed.items())
        if part not in parts:
            parts.append(part)
    line = " and ".join(parts)
    alt = _one_of(rule, items, texts=True)
    if alt:
        seen: List[str] = []
        for _, ts in alt:
            seen.extend(t for t in ts if t not in seen)
        line += ": recognised from " + " + ".join(seen[:4])
    return line


def evaluate(rule: Rule, ev: Evidence, items: Optional[_Items] = None) -> Optional[Suggestion]:
    """The suggestion of one rule for this evidence, or None when the rule does not apply."""
    items = items or _Items(ev)
    if rule.kind == "pattern":
        kinds = _eval_patterns(rule, ev, items)
        if kinds is None:
            return None
        s = _finish(rule, ev, kinds)
        s.missing = missing_evidence(rule, ev, items)
        if s.missing and s.confidence == "high":
            s.confidence = "medium"
        return s
    if rule.kind == "go_direct_ioctl":
        kinds = _eval_patterns(rule, ev, items)
        if kinds is None:
            return None
        caller = direct_go_caller(ev, rule)
        if caller is None or is_std_package(_frame_package(caller), caller.module):
            return None
        if _request_known(ev):
            kinds["requests"] = [_request_label(ev)]
        kinds["go_caller"] = ["Go caller %s at %s in %s" % (go_full_name(caller), _where(caller),
                                                            _module_text(caller))]
        return _finish(rule, ev, kinds, caller)
    if rule.kind == "go_cgo_ioctl":
        kinds = _eval_patterns(rule, ev, items, need_hit=False)
        if kinds is None:
            return None
        call = cgo_call(ev, rule.system_objfiles)
        if call is None:
            return None
        if _request_known(ev):
            kinds["requests"] = [_request_label(ev)]
        exe_base = os.path.basename(ev.executable or "")
        c_labels = ["native frame #%d %s in %s (C code in the executable)"
                    % (i, ev.native_frames[i][0] or "??", exe_base) for i in call.exe_frames]
        have = kinds.setdefault("native_functions", [])
        have[:0] = [x for x in c_labels if x not in have]
        w = call.wrapper
        wlabel = "Go frame #%d %s (%s): cgo wrapper of %s in package %s" % (
            call.wrapper_index, go_full_name(w), _where(w), _cgo_function(w), _frame_package(w))
        have = kinds.setdefault("go_functions", [])
        have[:0] = [wlabel]
        kinds["go_caller"] = ["Go caller %s at %s in %s" % (go_full_name(call.caller), _where(call.caller),
                                                            _module_text(call.caller))]
        extra = {"c_function": call.c_function, "cgo_function": _cgo_function(w),
                 "cgo_package": _frame_package(w)}
        return _finish(rule, ev, kinds, call.caller, extra=extra)
    if rule.kind == "rr_upgrade":
        if not _request_known(ev) or not ev.rr_supported_since:
            return None
        handles = rr_handles(ev)
        if handles is True:
            return None
        kinds = {"requests": [_request_label(ev)]}
        conf = "medium"
        if handles is False:
            kinds["rr_version"] = ["rr %s < %s (first release handling it)" % (ev.rr_version,
                                                                            ev.rr_supported_since)]
            conf = "high"
        else:
            kinds["rr_version"] = []
        return _finish(rule, ev, kinds, confidence=conf)
    if rule.kind == "rr_master_only":
        if not _request_known(ev) or not ev.rr_master_only:
            return None
        return _finish(rule, ev, {"requests": [_request_label(ev) + ": only rr master after %s handles it"
                                               % _rr_facts("last_release")]}, confidence="medium")
    if rule.kind == "rr_unsupported":
        if not _request_known(ev) or ev.rr_supported_since or ev.rr_master_only or not ev.rr_support_known:
            return None
        return _finish(rule, ev, {"requests": [_request_label(ev) + ": no rr release handles it"]},
                       confidence="medium")
    if rule.kind == "rr_open_refused":
        if not ev.rr_open_policy:
            return None
        kinds = {"requests": [_request_label(ev)] if _request_known(ev) else []}
        if ev.fd_link:
            kinds["fd_links"] = [ev.fd_link]
        return _finish(rule, ev, kinds, confidence="high" if ev.fd_link else "low")
    return None


def _useful_commands(s: Suggestion, vulkan: bool, rule: Rule) -> Optional[Suggestion]:
    """Drop commands that cannot help; drop the suggestion if nothing it offered is left."""
    keep = []
    for c in s.commands:
        if _NEVER_COMMAND.search(c):
            continue
        if vulkan and not rule.switches_to_gl and _GALLIUM_COMMAND.search(c):
            continue
        keep.append(c)
    if s.commands and not keep:
        return None
    s.commands = keep
    return s


def advise(ev: Evidence, rules: Optional[List[Rule]] = None) -> List[Suggestion]:
    """Suggestions for this stop, most specific (highest score) first."""
    if rules is None:
        rules = load_rules()
    items = _Items(ev)
    vulkan = is_vulkan_path(ev, items)
    out: List[Tuple[float, int, Suggestion]] = []
    seen = set()
    for order, rule in enumerate(rules):
        if rule.id in seen:
            continue
        seen.add(rule.id)
        s = evaluate(rule, ev, items)
        if s is None:
            continue
        s = _useful_commands(s, vulkan, rule)
        if s is None:
            continue
        out.append((-s.score, order, s))
    out.sort(key=lambda t: (t[0], t[1]))
    return [s for _, _, s in out]
