"""Results as JSON, in one place: the documented --json objects (README, "`--json` objects") of
dmabuf-why (why.WhyReport), go-callers (callers.CallersReport) and their suggestions
(advice.Suggestion). Pure data in, plain dicts out; render.to_json prints them."""
from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass
from typing import Any, Dict, List


def suggestion_json(s: Any) -> Dict[str, Any]:
    """SUGGESTION: an advice.Suggestion's fields (snippet only when there is one, score rounded) and
    "text", the title and action as one sentence pair; a plain string becomes {"text": ...}."""
    if isinstance(s, str):
        return {"text": s}
    d = asdict(s) if is_dataclass(s) else dict(s)
    d["score"] = round(float(d.get("score") or 0), 2)
    for key in ("snippet", "missing"):  # only when there is one
        if not d.get(key):
            d.pop(key, None)
    d["text"] = "%s %s" % (d.get("title", ""), d.get("action", ""))
    return d


def suggestions_json(items: List[Any]) -> List[Dict[str, Any]]:
    return [suggestion_json(s) for s in items or []]


def frame_json(f: Any) -> Dict[str, Any]:
    """FRAME."""
    return {"kind": f.kind, "function": f.function, "package": f.package, "module": f.module,
            "version": f.version, "file": f.file, "line": f.line, "pc": f.pc, "sp": f.sp,
            "inlined": f.inlined, "objfile": f.objfile, "cgo_wrapper": f.cgo_wrapper, "std": f.std,
            "system_stack": f.system_stack}


def why_json(rep: Any) -> Dict[str, Any]:
    """dmabuf-why --json."""
    from .rr import RR_MASTER_CHECKED
    ioc = rep.ioc
    out: Dict[str, Any] = {
        "source": rep.source,
        "arch": rep.arch,
        "thread": {"tid": rep.tid} if rep.tid is not None else None,
        "syscall": None,
        "fd": None,
        "request": {
            "value": rep.request,
            "hex": "0x%08x" % rep.request,
            "names": rep.names,
            "all_names": rep.all_names,
            "dir": ioc.dir_name,
            "type": ioc.type,
            "type_char": ioc.type_char,
            "nr": ioc.nr,
            "size": ioc.size,
        },
        "argument": None,
        "rr": None,
        "suggestions": suggestions_json(rep.suggestions),
        "notes": rep.notes,
    }
    log = getattr(rep, "rrlog", None)
    if log is not None:  # rr's whole log (--from-log, explain): what it held, and its other ioctl assertions
        from .rrlog import log_json
        out["log"] = log_json(log, None)
        out["log"]["assertions"] = [dict(a, primary=a["request"] == rep.request and i == 0)
                                    for i, a in enumerate(x for x in out["log"]["assertions"] if x["request"] is not None)] + \
            [a for a in out["log"]["assertions"] if a["request"] is None]
        out["others"] = [why_json(o) for o in getattr(rep, "others", None) or []]
    if rep.syscall is not None:
        sc = rep.syscall
        out["syscall"] = {"name": sc.name, "number": sc.number, "state": sc.state, "result": rep.result,
                          "errno": rep.errno, "pc": sc.pc, "in_rr_page": sc.in_rr_page}
    elif rep.log is not None:
        out["syscall"] = {"name": rep.log.syscall, "number": None, "state": "exit", "result": rep.result,
                          "errno": rep.errno, "pc": None, "in_rr_page": None}
    if rep.fd is not None:
        out["fd"] = {"number": rep.fd, "target": rep.fd_link}
    fdr = getattr(rep, "fd_recovery", None)
    if fdr is not None:   # aarch64 exit stops only: how the fd was found, or why not
        out["fd"] = out["fd"] or {"number": None, "target": None}
        out["fd"]["recovery"] = {"source": fdr.source, "confidence": fdr.confidence, "how": fdr.how or None,
                                 "candidates": fdr.candidates, "conflict": fdr.conflict, "tried": fdr.tried,
                                 "rr_page": fdr.rr_page}
    if rep.argument is not None:
        a = rep.argument
        out["argument"] = {
            "address": a.address, "struct": a.struct, "size": a.size, "error": a.error,
            "returns_fd": a.returns_fd,
            "fields": {f.name: {"value": f.value, "role": f.role, "type": f.ctype, "offset": f.offset,
                                "names": f.names, "note": f.note} for f in a.fields},
        }
    elif rep.arg_address is not None:
        out["argument"] = {"address": rep.arg_address, "struct": rep.arg_struct, "fields": {},
                           "error": "not read: no process" if rep.arg_struct else None}
    v = rep.verdict
    if v is not None:
        out["rr"] = {"expected": v.expected, "ignorable": v.ignorable, "supported_since": v.supported_since,
                     "would_stop": v.would_stop, "explanation": v.explanation,
                     "master_checked": RR_MASTER_CHECKED,
                     "master_only": v.master_only, "rr_version": v.rr_version, "handled_by_name": v.handled_by_name,
                     "action": v.action, "what": v.what, "rr_name": v.rr_name, "match": v.match,
                     "stops_in": v.stops_in, "open_policy": v.open_policy, "unreachable": v.unreachable}
    return out


def callers_json(rep: Any) -> Dict[str, Any]:
    """go-callers --json."""
    g = rep.goroutine
    out: Dict[str, Any] = {
        "go_version": rep.go_version,
        "main_module": rep.main_module,
        "main_version": rep.main_version,
        "executable": rep.executable,
        "thread": {"tid": rep.tid, "kind": rep.kind, "on_system_stack": rep.on_system_stack,
                   "in_cgo": rep.in_cgo, "found_via": rep.found_via, "extra_m": rep.extra_m},
        "goroutine": None,
        "frames": [frame_json(f) for f in list(rep.native) + list(rep.go)],
        "unwind": {"stopped": rep.unwind_stopped, "complete": rep.complete, "end_checked": rep.unwind_end_checked},
        "no_goroutine": rep.no_goroutine,
        "caller": frame_json(rep.caller) if rep.caller is not None else None,
        "warnings": rep.warnings,
        "notes": rep.notes,
        "suggestions": suggestions_json(rep.suggestions),
    }
    if g is not None:
        cb = rep.created_by
        out["goroutine"] = {
            "id": g.goid, "status": g.status_name, "address": g.addr, "parent_id": g.parent_goid,
            "created_by": ({f.name: getattr(cb, f.name) for f in fields(cb)} if cb is not None else None),
            "stack": {"lo": g.stack_lo, "hi": g.stack_hi},
        }
    return out


def goroutine_json(g: Any, frames: bool = False) -> Dict[str, Any]:
    """GOROUTINE (go-goroutines --json)."""
    out = {
        "id": g.id, "address": g.address, "status": g.status_name, "state": g.state, "scan": g.scan,
        "wait_reason": g.wait_reason, "waitsince": g.waitsince or None, "waited_ns": g.waited_ns,
        "locked_to_thread": g.locked_to_thread,
        "m": ({"address": g.m, "id": g.m_id, "tid": g.tid} if g.m else None),
        "selected": g.selected, "system": g.system, "in_cgo": g.in_cgo, "start": g.start,
        "created_by": g.created_by, "parent_id": g.parent_id,
        "stack_from": g.stack_from, "stack_note": g.stack_note,
        "top": frame_json(g.top) if g.top is not None else None,
        "unwind": {"stopped": g.unwind_stopped, "complete": g.complete},
        "problem": g.problem,
    }
    if frames:
        out["frames"] = [frame_json(f) for f in g.frames]
    return out


def goroutines_json(rep: Any, frames: bool = False) -> Dict[str, Any]:
    """go-goroutines --json."""
    return {
        "go_version": rep.go_version, "executable": rep.executable,
        "thread": {"tid": rep.tid, "goroutine": rep.selected_id},
        "allgs": {"address": rep.allgs, "length": rep.length, "found_via": rep.found_via},
        "total": rep.total, "counts": rep.counts, "hidden": rep.hidden,
        "goroutines": [goroutine_json(g, frames) for g in rep.goroutines],
        "problems": rep.problems, "warnings": rep.warnings, "notes": rep.notes,
    }
