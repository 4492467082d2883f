"""The advice rules: loading and validating rules files (the built-in rules.json, the user's --rules FILE or
$GDB_RR_DMABUF_RULES), bounded in size, with one-line errors. The schema is SCHEMA.md beside this module."""
from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
import string
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..errors import UserError
from ..go_runtime.frames import DEFAULT_SYSTEM_OBJFILES
from .wording import PLACEHOLDERS

ENV_RULES = "GDB_RR_DMABUF_RULES"
BUILTIN_RULES_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules.json")

# The kinds of evidence a rule's patterns match (SCHEMA.md).
KINDS = ("native_functions", "objfiles", "go_functions", "go_packages", "go_modules", "fd_links",
         "memfd_names")
# The rule kinds: engine.EVALUATORS has one evaluator for each.
RULE_KINDS = ("pattern", "go_direct_ioctl", "go_cgo_ioctl", "rr_upgrade", "rr_master_only", "rr_unsupported",
              "rr_open_refused")
RULE_KEYS = {"id", "title", "action", "step", "commands", "source", "snippet", "kind", "priority", "requests",
             "require_all", "require_any", "match", "exclude", "skip_packages", "disabled", "notes",
             "switches_to_gl", "system_objfiles", "require_one_of", "strong"}
MAX_RULES_FILE = 4 << 20  # bytes: a rules file is hand-written; more is a wrong file
_MAX_PATTERN = 4096


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
    unknown = sorted(set(d) - RULE_KEYS)
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


def _json_int(digits: str) -> int:
    """json's parse_int: past Python's int size limit (3.11+: 4300 digits) our own words, not int()'s."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()   # 0: no limit (Python before 3.11)
    if limit and len(digits) - digits.startswith("-") > limit:
        raise _RuleError("not valid JSON: a number with more than %d digits" % limit)
    return int(digits)


def _rules_from_json(text: str, origin: str) -> List[Tuple[dict, Rule]]:
    try:
        data = json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise _RuleError("not valid JSON for rules: nested too deeply")
    except ValueError as e:
        raise _RuleError("not valid JSON: %s" % (str(e).splitlines()[0] if str(e) else type(e).__name__))
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
