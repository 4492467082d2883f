"""The advice engine: from the evidence of one stop (evidence.Evidence) and the rules (rules.py) to ranked,
sourced suggestions. Each rule kind has one evaluator, registered in EVALUATORS; ``evaluate`` looks the kind
up there."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from ..evidence import Evidence, GoFrameEv, rr_handles
from ..go_runtime.frames import (cgo_call, cgo_function, frame_package, go_full_name, module_text, where)
from ..go_runtime.stdlib import is_std_package
from .rules import KINDS, RULE_KINDS, Pattern, Rule, load_rules
from ..wording import master_only_evidence, unsupported_evidence, upgrade_evidence
from .wording import SafeDict, variables

# How much one kind of matching evidence counts towards a rule's score.
WEIGHTS = {"native_functions": 3.0, "go_functions": 3.0, "go_packages": 2.0, "go_modules": 1.0,
           "objfiles": 1.0, "fd_links": 1.0, "memfd_names": 1.0, "requests": 2.0, "go_caller": 3.0,
           "rr_version": 2.0}
FRAME_KINDS = ("native_functions", "go_functions", "go_caller")
_MAX_EVIDENCE_PER_KIND = 3

# A command that sets LIBGL_ALWAYS_SOFTWARE can never help: rr sets it already.
_NEVER_COMMAND = re.compile(r"\bLIBGL_ALWAYS_SOFTWARE\b")
_GALLIUM_COMMAND = re.compile(r"\bGALLIUM_DRIVER\b")
# Evidence that the stop is on a Vulkan path, where GALLIUM_DRIVER is ignored.
_VULKAN_NATIVE = ("lvp_*", "wsi_*", "vk[A-Z]*")
_VULKAN_OBJFILES = ("libvulkan*",)
_VULKAN_GO = ("gioui.org/internal/vk.*",)


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
# Evidence as text items per kind

def memfd_name(link: str) -> Optional[str]:
    m = re.match(r"^/memfd:(.*?)(?: \(deleted\))?$", link or "")
    return m.group(1) if m else None


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
            loc = " (%s)" % where(fr) if fr.file else ""
            if full:
                self.by_kind["go_functions"].append(("Go frame #%d %s%s" % (i, full, loc), full))
            pkg = frame_package(fr)
            if pkg and pkg not in seen_pkg:
                seen_pkg.add(pkg)
                self.by_kind["go_packages"].append(("Go package %s" % pkg, pkg))
            if fr.module and fr.module not in seen_mod:
                seen_mod.add(fr.module)
                self.by_kind["go_modules"].append(("Go module %s" % module_text(fr), fr.module))
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


def is_vulkan_path(ev: Evidence, items: Optional["_Items"] = None) -> bool:
    """Does the stack show a Vulkan path (lavapipe, the WSI, the loader, Gio's vk package)?"""
    items = items or _Items(ev)
    return bool(items.hits("native_functions", [Pattern(p) for p in _VULKAN_NATIVE])
                or items.hits("objfiles", [Pattern(p) for p in _VULKAN_OBJFILES])
                or items.hits("go_functions", [Pattern(p) for p in _VULKAN_GO]))


# --------------------------------------------------------------------------------------------------
# Evaluation

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
        pkg = frame_package(fr)
        if any(p.matches(pkg) for p in rule.skip_packages):
            continue
        return fr
    return None


def _finish(rule: Rule, ev: Evidence, kinds: Dict[str, List[str]], caller: Optional[GoFrameEv] = None,
            confidence: Optional[str] = None, extra: Optional[Dict[str, str]] = None) -> Suggestion:
    v = SafeDict(variables(ev, caller, extra))
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


# --------------------------------------------------------------------------------------------------
# One evaluator per rule kind: (rule, evidence, items) -> the suggestion, or None when the rule is silent

def _go_caller_label(caller: GoFrameEv) -> str:
    return "Go caller %s at %s in %s" % (go_full_name(caller), where(caller), module_text(caller))


def _eval_pattern(rule: Rule, ev: Evidence, items: _Items) -> Optional[Suggestion]:
    kinds = _eval_patterns(rule, ev, items)
    if kinds is None:
        return None
    s = _finish(rule, ev, kinds)
    s.missing = missing_evidence(rule, ev, items)
    if s.missing and s.confidence == "high":
        s.confidence = "medium"
    return s


def _eval_go_direct_ioctl(rule: Rule, ev: Evidence, items: _Items) -> Optional[Suggestion]:
    kinds = _eval_patterns(rule, ev, items)
    if kinds is None:
        return None
    caller = direct_go_caller(ev, rule)
    if caller is None or is_std_package(frame_package(caller), caller.module):
        return None
    if _request_known(ev):
        kinds["requests"] = [_request_label(ev)]
    kinds["go_caller"] = [_go_caller_label(caller)]
    return _finish(rule, ev, kinds, caller)


def _eval_go_cgo_ioctl(rule: Rule, ev: Evidence, items: _Items) -> Optional[Suggestion]:
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
        call.wrapper_index, go_full_name(w), where(w), cgo_function(w), frame_package(w))
    have = kinds.setdefault("go_functions", [])
    have[:0] = [wlabel]
    kinds["go_caller"] = [_go_caller_label(call.caller)]
    extra = {"c_function": call.c_function, "cgo_function": cgo_function(w), "cgo_package": frame_package(w)}
    return _finish(rule, ev, kinds, call.caller, extra=extra)


def _eval_rr_upgrade(rule: Rule, ev: Evidence, items: _Items) -> Optional[Suggestion]:
    if not _request_known(ev) or not ev.rr_supported_since:
        return None
    handles = rr_handles(ev)
    if handles is True:
        return None
    kinds = {"requests": [_request_label(ev)]}
    conf = "medium"
    if handles is False:
        kinds["rr_version"] = [upgrade_evidence(ev.rr_version, ev.rr_supported_since)]
        conf = "high"
    else:
        kinds["rr_version"] = []
    return _finish(rule, ev, kinds, confidence=conf)


def _eval_rr_master_only(rule: Rule, ev: Evidence, items: _Items) -> Optional[Suggestion]:
    if not _request_known(ev) or not ev.rr_master_only:
        return None
    return _finish(rule, ev, {"requests": [master_only_evidence(_request_label(ev))]}, confidence="medium")


def _eval_rr_unsupported(rule: Rule, ev: Evidence, items: _Items) -> Optional[Suggestion]:
    if not _request_known(ev) or ev.rr_supported_since or ev.rr_master_only or not ev.rr_support_known:
        return None
    return _finish(rule, ev, {"requests": [unsupported_evidence(_request_label(ev))]}, confidence="medium")


def _eval_rr_open_refused(rule: Rule, ev: Evidence, items: _Items) -> Optional[Suggestion]:
    if not ev.rr_open_policy:
        return None
    kinds = {"requests": [_request_label(ev)] if _request_known(ev) else []}
    if ev.fd_link:
        kinds["fd_links"] = [ev.fd_link]
    return _finish(rule, ev, kinds, confidence="high" if ev.fd_link else "low")


Evaluator = Callable[[Rule, Evidence, _Items], Optional[Suggestion]]
EVALUATORS: Dict[str, Evaluator] = {
    "pattern": _eval_pattern,
    "go_direct_ioctl": _eval_go_direct_ioctl,
    "go_cgo_ioctl": _eval_go_cgo_ioctl,
    "rr_upgrade": _eval_rr_upgrade,
    "rr_master_only": _eval_rr_master_only,
    "rr_unsupported": _eval_rr_unsupported,
    "rr_open_refused": _eval_rr_open_refused,
}
if set(EVALUATORS) != set(RULE_KINDS):  # rules.py accepts exactly the kinds evaluated here
    raise ImportError("advice: rule kinds %s and evaluators %s differ" % (sorted(RULE_KINDS), sorted(EVALUATORS)))


def evaluate(rule: Rule, ev: Evidence, items: Optional[_Items] = None) -> Optional[Suggestion]:
    """The suggestion of one rule for this evidence, or None when the rule does not apply."""
    fn = EVALUATORS.get(rule.kind)
    if fn is None:
        return None
    return fn(rule, ev, items or _Items(ev))


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
