"""One place for text output: colour, tables and JSON. pygments (source highlighting) is imported
lazily and only when colour is on; plain text when it is missing."""
from __future__ import annotations

import json
import os
from typing import Any, List, Optional, Sequence

_ANSI = {
    "title": "1",          # bold
    "name": "1;36",        # bold cyan: ioctl names, functions
    "good": "32",
    "bad": "1;31",
    "warn": "33",
    "dim": "2",
    "caller": "1;33",      # the highlighted Go caller
    "cmd": "1;32",         # commands to copy
}


class Style:
    def __init__(self, colour: bool = False):
        self.colour = colour

    def __call__(self, text: str, role: str) -> str:
        if not self.colour or role not in _ANSI:
            return text
        return "\x1b[%sm%s\x1b[0m" % (_ANSI[role], text)


def colour_wanted(terminal: bool, gdb_style_enabled: Optional[bool] = True, force: Optional[bool] = None) -> bool:
    """Colour when forced, else only on a terminal, with gdb's `style enabled` on and NO_COLOR unset."""
    if force is not None:
        return force
    if os.environ.get("NO_COLOR"):
        return False
    return bool(terminal and gdb_style_enabled)


def table(rows: Sequence[Sequence[Any]], indent: str = "  ") -> str:
    """Rows of cells as aligned plain columns. (Not tabulate: importing it costs 60 ms of gdb's time,
    for what two lines do here.)"""
    rows = [["" if c is None else str(c) for c in r] for r in rows]
    if not rows:
        return ""
    ncol = max(len(r) for r in rows)
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(ncol)]
    return "\n".join((indent + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r))).rstrip() for r in rows)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)


def highlight_source(lines: List[str], filename: str, colour: bool) -> List[str]:
    """Syntax-colour source lines with pygments when colour is on and pygments is there."""
    if not colour:
        return lines
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import get_lexer_for_filename
        lexer = get_lexer_for_filename(filename)
        out = highlight("\n".join(lines), lexer, TerminalFormatter()).rstrip("\n").split("\n")
        return out if len(out) == len(lines) else lines
    except Exception:  # any pygments problem: plain text is fine
        return lines


# --------------------------------------------------------------------------------------------------
# dmabuf-why

def _fmt_value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v) if -4096 < v < 4096 else "0x%x" % v
    return repr(v) if isinstance(v, str) else str(v)


def why_text(rep, style: Optional[Style] = None) -> str:
    """Plain-text report of a why.WhyReport."""
    s = style or Style(False)
    out: List[str] = []
    ioc = rep.ioc
    sc = rep.syscall
    where = ""
    if sc is not None:
        where = {"entry": "stopped at the call's entry: the kernel has not run it yet",
                 "exit": "stopped after the call returned, where rr stops",
                 "interrupted": "the call was interrupted by a signal"}.get(sc.state, sc.state)
    elif rep.source == "log":
        where = "from rr's log"
    elif rep.source == "request":
        where = "decoded from the number alone"
    head = "ioctl %s" % s(rep.name, "name" if rep.names else "bad")
    out.append(s(head, "title") + ("  (" + ", ".join(x for x in [
        ("thread %d" % rep.tid) if rep.tid else "", where] if x) + ")" if (rep.tid or where) else ""))
    rows = []
    if rep.fd is not None:
        rows.append(["fd", "%d -> %s" % (rep.fd, rep.fd_link) if rep.fd_link else "%d" % rep.fd])
    elif sc is not None and sc.args[0] is None:
        rows.append(["fd", "unknown (lost at the exit stop on aarch64)"])
    tc = ioc.type_char
    rows.append(["request", "0x%08x  dir=%s type=%s (0x%02x) nr=0x%02x size=%d" % (
        rep.request, ioc.dir_name, ("'%s'" % tc) if len(tc) == 1 else tc, ioc.type, ioc.nr, ioc.size)])
    if len(rep.all_names) > 1 and rep.names != rep.all_names:
        rows.append(["", "one of: %s; the fd's link says %s" % (" or ".join(rep.all_names), " or ".join(rep.names))])
    elif not rep.names:
        rows.append(["", "no kernel uapi name has this number (driver-private or new)"])
    if rep.result is not None:
        if rep.result >= 0:
            res = "%d (success)" % rep.result
        else:
            res = "%d (%s)" % (rep.result, rep.errno or "errno %d" % -rep.result)
        rows.append(["result", res])
    out.append(table(rows))
    a = rep.argument
    if a is not None:
        out.append("  argument struct %s at 0x%x (%d bytes)" % (a.struct, a.address, a.size))
        if a.error:
            out.append("    " + s(a.error, "bad"))
        frows = []
        for f in a.fields:
            val = _fmt_value(f.value)
            extra = []
            if f.names:
                extra.append(" | ".join(f.names))
            if f.note:
                extra.append(f.note)
            frows.append([f.name, f.ctype, f.role, val, "  ".join(extra)])
        if frows:
            out.append(table(frows, indent="    "))
    elif rep.arg_address is not None and rep.arg_struct:
        out.append("  argument struct %s at 0x%x: not read (no process; connect to the stopped program to read it)"
                   % (rep.arg_struct, rep.arg_address))
    elif rep.arg_address is not None:
        out.append("  argument 0x%x (no decoder for this request)" % rep.arg_address)
    v = rep.verdict
    if v is not None:
        out.append(s("rr", "title"))
        out.extend(wrap(v.explanation, "  ", "  "))
        from .rr import RR_MASTER_CHECKED
        bits = ["expects %s for an unknown ioctl" % " or ".join(v.expected)]
        bits.append("passes it as ignorable (no _IOC_READ bit)" if v.ignorable else "checks it (has the _IOC_READ bit)")
        if v.supported_since:
            bits.append("handled by name since rr %s" % s(v.supported_since, "good"))
        else:
            bits.append("no rr release handles it by name (checked rr master %s)" % RR_MASTER_CHECKED)
        out.extend(wrap("; ".join(bits) + ".", "  ", "  "))
        if rep.log is not None:
            out.append("  rr's log: result %d%s, addr 0x%x" % (rep.log.result, (" (%s)" % rep.log.errno) if rep.log.errno else "",
                                                            rep.log.addr or 0))
    for n in rep.notes:
        out.extend(s(x, "dim") for x in wrap("note: " + n, "", "      "))
    if rep.suggestions:
        out.append(s("What to do", "title"))
        out.extend(suggestion_lines(rep.suggestions, s))
    return "\n".join(out)


WIDTH = 100


def wrap(text: str, first: str, rest: str, width: int = WIDTH) -> List[str]:
    import textwrap
    return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def suggestion_lines(suggestions, s: Style, verbose: bool = True) -> List[str]:
    out: List[str] = []
    for i, sug in enumerate(suggestions, 1):
        num = "  %d. " % i
        pad = " " * len(num)
        if isinstance(sug, str):
            out.extend(wrap(sug, num, pad))
            continue
        out.extend(wrap("%s %s" % (sug.title, sug.action), num, pad))
        for c in sug.commands:
            out.append(pad + "$ " + s(c, "cmd"))
        missing = getattr(sug, "missing", "")
        if missing:  # the rule fired without its strong evidence: say what it went on
            out.extend(wrap("evidence missing: " + missing, pad, pad + "  "))
        snippet = getattr(sug, "snippet", "")
        if snippet and verbose:
            out.append(pad + "for example:")
            out.extend(pad + "    " + line for line in snippet.rstrip().splitlines())
        if verbose:
            meta = "confidence %s, from %d piece%s of evidence" % (
                sug.confidence, len(sug.evidence), "" if len(sug.evidence) == 1 else "s")
            out.extend(s(x, "dim") for x in wrap(meta + "; source: " + sug.source, pad, pad + "  "))
    return out


# --------------------------------------------------------------------------------------------------
# go-callers

def _short_file(path: Optional[str]) -> str:
    if not path:
        return "?"
    return path


def callers_text(rep, style: Optional[Style] = None, source_lines: int = 0) -> str:
    """Plain-text report of a callers.CallersReport. source_lines > 0 shows that many lines of source
    around the caller's line when the file exists here."""
    s = style or Style(False)
    out: List[str] = []
    g = rep.goroutine
    if g is None:
        if rep.kind == "no-go":
            out.append(s("thread %s runs no Go code" % (rep.tid or "?"), "title") +
                       " (no goroutine: a thread created by C, e.g. a driver's worker thread)")
        elif rep.extra_m:
            out.append(s("thread %s runs C code" % (rep.tid or "?"), "title") +
                       " (a thread created by C that called into Go earlier; no goroutine is running on it now)")
        else:
            out.append(s("no goroutine found for thread %s" % (rep.tid or "?"), "bad"))
    else:
        where = []
        if rep.on_system_stack:
            where.append("on the system stack (%s)" % rep.kind)
        if rep.in_cgo:
            where.append("in a cgo call")
        out.append(s("goroutine %d [%s]" % (g.goid, g.status_name), "title") +
                   "  thread %s%s" % (rep.tid or "?", (", " + ", ".join(where)) if where else ""))
    n = 0
    if rep.native:
        out.append(s("native frames", "title") + " (gdb's unwinder, down to the Go boundary)")
        rows = []
        for f in rep.native:
            rows.append(["#%d" % n, f.function or "??", (f.objfile or "").rsplit("/", 1)[-1],
                         "%s:%s" % (f.file.rsplit("/", 1)[-1], f.line) if f.file else "0x%x" % f.pc])
            n += 1
        out.append(table(rows))
    if rep.go:
        out.append(s("Go frames", "title") + " (from the pclntab)")
    for f in rep.go:
        name = f.function or "??"
        tags = []
        if f.inlined:
            tags.append("inlined")
        if rep.caller is f:
            name = s(name, "caller")
            tags.append("<- caller")
        mod = "std" if f.std else ""
        if f.module:
            mod = "%s@%s" % (f.module, f.version) if f.version else f.module
        out.append("  #%-3d %s%s" % (n, name, ("  [" + ", ".join(tags) + "]") if tags else ""))
        out.append("        %s:%s  %s" % (_short_file(f.file), f.line if f.line is not None else "?",
                                         s("pc=0x%x%s" % (f.pc, ("  " + mod) if mod else ""), "dim")))
        n += 1
    if rep.unwind_stopped and not rep.complete and g is not None:
        out.append(s("  (Go unwind stopped: %s)" % rep.unwind_stopped, "warn"))
    cb = rep.created_by
    if cb is not None:
        parent = (" in goroutine %d" % g.parent_goid) if g is not None and g.parent_goid else ""
        out.append("created by %s%s at %s:%s" % (cb.function, parent, _short_file(cb.file), cb.line))
    c = rep.caller
    if c is not None:
        mod = ("%s@%s" % (c.module, c.version)) if c.module and c.version else (c.module or "unknown module")
        out.append(s("caller", "title") + ": %s" % s(c.function, "caller"))
        out.append("  package %s, module %s" % (c.package, mod))
        out.append("  at %s:%s" % (_short_file(c.file), c.line))
        if source_lines > 0 and c.file and c.line:
            out.extend(_source_context(c.file, c.line, source_lines, s))
    elif g is not None and not rep.complete:
        out.append("caller: unknown (the Go unwind stopped: %s)" % rep.unwind_stopped)
    elif g is not None:
        out.append("caller: every Go frame is in the runtime, the standard library or a cgo wrapper")
    facts = []
    if rep.go_version:
        facts.append(rep.go_version)
    if rep.main_module:
        facts.append("main module %s%s" % (rep.main_module, (" " + rep.main_version) if rep.main_version else ""))
    if facts:
        out.append(s("; ".join(facts), "dim"))
    for w in rep.warnings:
        out.extend(s(x, "warn") for x in wrap("warning: " + w, "", "         "))
    for n_ in getattr(rep, "notes", []):
        out.extend(s(x, "dim") for x in wrap("note: " + n_, "", "      "))
    if rep.suggestions:
        out.append(s("What to do", "title"))
        out.extend(suggestion_lines(rep.suggestions, s))
    return "\n".join(out)


def _source_context(path: str, line: int, n: int, s: Style) -> List[str]:
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    lo = max(1, line - n)
    hi = min(len(lines), line + n)
    chunk = highlight_source(lines[lo - 1:hi], path, s.colour)
    out = []
    for i, text in zip(range(lo, hi + 1), chunk):
        mark = ">" if i == line else " "
        out.append("  %s %5d  %s" % (mark, i, text))
    return out
