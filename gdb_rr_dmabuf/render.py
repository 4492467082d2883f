"""One place for text output: colour, tables, wrapping and JSON (the JSON objects themselves are built
in report.py). pygments (source highlighting) is imported lazily and only when colour is on; plain
text when it is missing.

Layout of both reports, top-down: the first line says what happened and gives the answer; then the
decoded call (dmabuf-why) or the frames (go-callers); then "What to do", a numbered list with one line
per step and its exact commands. Why each step helps, its evidence, sources and code snippet come
with --verbose. Text wraps at gdb's `width` (at most WIDTH columns)."""
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


WIDTH = 100      # the widest text we wrap to, even on a wider terminal
MIN_WIDTH = 40   # narrower than this and wrapping does more harm than good


class Style:
    """How to print: colour on or off, the width to wrap to, and --verbose."""

    def __init__(self, colour: bool = False, width: Optional[int] = None, verbose: bool = False):
        self.colour = colour
        self.width = WIDTH if not width or width <= 0 else max(MIN_WIDTH, min(WIDTH, int(width)))
        self.verbose = verbose

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


def wrap(text: str, first: str, rest: str, width: int = WIDTH) -> List[str]:
    import textwrap
    return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


# --------------------------------------------------------------------------------------------------
# dmabuf-why

_DIR_MACRO = {"none": "_IO", "write": "_IOW", "read": "_IOR", "read/write": "_IOWR"}


def _fmt_value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v) if -4096 < v < 4096 else "0x%x" % v
    return repr(v) if isinstance(v, str) else str(v)


def _ioctl_label(rep) -> str:
    if rep.names:
        return " or ".join(rep.names)
    return "0x%08x (no known name)" % rep.request


def _outcome(rep) -> str:
    """What the call did, as the headline says it: 'returned 0', 'failed with ENOTTY', '' when unknown."""
    sc = rep.syscall
    if rep.result is None or (sc is not None and sc.state != "exit"):
        return ""
    if rep.result >= 0:
        return "returned %d" % rep.result
    return "failed with %s" % (rep.errno or "errno %d" % -rep.result)


def why_headline(rep) -> str:
    """The first line: the ioctl, what it did, and whether (and which) rr stops on it (wording's words)."""
    name = _ioctl_label(rep)
    sc = rep.syscall
    v = rep.verdict
    did = _outcome(rep)
    if sc is not None and sc.state == "entry":
        did = "at its entry (the kernel has not run it yet)"
    elif sc is not None and sc.state == "interrupted":
        did = "interrupted by a signal"
    subject = "ioctl %s%s" % (name, (" " + did) if did else "")
    if v is None:
        return subject
    from .wording import headline_verdict
    return "%s: %s" % (subject, headline_verdict(v, rep.result))


_FD_SOURCE = {"entry-stop": "from this call's entry stop", "syscall-slot": "from the stack slot x0 was loaded from",
              "caller-register": "from the caller's saved register", "caller-stack": "from the caller's stack",
              "proc": "deduced: the only dma-buf fd"}


def why_text(rep, style: Optional[Style] = None) -> str:
    """Text report of a why.WhyReport: headline, the decoded call, what to do."""
    s = style or Style(False)
    out: List[str] = []
    ioc = rep.ioc
    sc = rep.syscall
    out.extend(s(x, "title") for x in wrap(why_headline(rep), "", "    ", s.width))
    rows = []
    where = ""
    if sc is not None:
        where = {"entry": "stopped at the call's entry",
                 "exit": "stopped after the call returned (where rr stops)",
                 "interrupted": "the call was interrupted by a signal"}.get(sc.state, sc.state)
    elif rep.source == "log":
        where = "rr's log" + (", result not in the text" if rep.log is not None and rep.log.result is None else "")
    elif rep.source == "request":
        where = "the number alone (no process)"
    if rep.tid:
        rows.append(["thread", "%d%s" % (rep.tid, (", " + where) if where else "")])
    elif where:
        rows.append(["from", where])
    fdr = getattr(rep, "fd_recovery", None)
    fd_notes: List[str] = []
    if rep.fd is not None:
        val = "%d -> %s" % (rep.fd, rep.fd_link) if rep.fd_link else "%d" % rep.fd
        if fdr is not None and fdr.number is not None:
            val += "  (%s)" % _FD_SOURCE.get(fdr.source, "recovered")
            fd_notes.append("fd %d %s: %s" % (rep.fd, "deduced" if fdr.confidence == "deduced" else "read from",
                                               fdr.how))
            if fdr.conflict:
                fd_notes.append("but " + fdr.conflict)
        rows.append(["fd", val])
    elif fdr is not None:
        if fdr.candidates and not fdr.conflict:
            rows.append(["fd", "unknown: one of %s (the dma-buf fds in /proc)" % ", ".join(str(c) for c in fdr.candidates)])
        elif fdr.conflict:
            rows.append(["fd", "unknown: the places that kept it disagree (%s)" % fdr.conflict])
        elif fdr.rr_page:
            rows.append(["fd", "unknown: the stop is in rr's page, where rr's trampoline moved the arguments, "
                               "and /proc does not say"])
        else:
            rows.append(["fd", "unknown: the exit stop overwrote x0 and no frame kept it"])
        if fdr.rr_page:   # rr's stop cannot be redone at the entry: /proc on the tracee's machine is the way
            fd_notes.append("in rr's page only /proc tells the fd: run gdb on the machine where rr runs (its stub "
                            "listens on 127.0.0.1), where /proc/PID/fd shows the dma-buf fds")
        else:
            fd_notes.append("to see the fd, stop at the call's entry (`catch syscall ioctl`, with gdbinit.py "
                            "sourced: dmabuf-why then remembers x0 for the exit stop)")
        if s.verbose:
            fd_notes.extend("fd: " + t for t in fdr.tried)
    elif sc is not None and sc.args[0] is None:
        rows.append(["fd", "unknown (lost at the exit stop on aarch64)"])
    tc = ioc.type_char
    if len(tc) == 1:
        tq = "'%s'" % tc
        macro = "%s(%s, 0x%02x%s)" % (_DIR_MACRO.get(ioc.dir_name, "_IOC"), tq, ioc.nr,
                                      (", %d" % ioc.size) if ioc.dir_name != "none" else "")
        typ = "%s (0x%02x)" % (tq, ioc.type)
    else:  # a type with no printable character (SIOC* 0x89 ...): as strace prints an unknown request
        macro = strace_ioc(ioc)
        typ = "0x%02x" % ioc.type
    rows.append(["request", "0x%08x dir=%s type=%s nr=0x%02x size=%d  %s" % (
        rep.request, ioc.dir_name, typ, ioc.nr, ioc.size, macro)])
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
            extra = []
            if f.names:
                extra.append(" | ".join(f.names))
            if f.note:
                extra.append(f.note)
            frows.append([f.name, f.ctype, f.role, _fmt_value(f.value), "  ".join(extra)])
        if frows:
            out.append(table(frows, indent="    "))
    elif rep.arg_address is not None and rep.arg_struct:
        out.extend(wrap("argument struct %s at 0x%x: not read (no process; connect to the stopped program "
                        "to read it)" % (rep.arg_struct, rep.arg_address), "  ", "    ", s.width))
    elif rep.arg_address is not None:
        out.append("  argument 0x%x (no decoder for this request)" % rep.arg_address)
    for n in fd_notes + list(rep.notes):
        out.extend(s(x, "dim") for x in wrap("note: " + n, "", "      ", s.width))
    v = rep.verdict
    if v is not None and s.verbose:
        out.append(s("rr", "title"))
        out.extend(wrap(v.explanation, "  ", "  ", s.width))
    out.extend(what_to_do(rep.suggestions, s, extra_verbose=v is not None))
    for other in getattr(rep, "others", None) or []:  # rr's log held more than one "Unknown ioctl" assertion
        out.append("")
        out.append(s("rr's log also holds another \"Unknown ioctl\" assertion:", "title"))
        out.append(why_text(other, s))
    return "\n".join(out)


def strace_ioc(ioc) -> str:
    """The request as strace prints one it has no name for: _IOC(_IOC_READ|_IOC_WRITE, 0x62, 0x2, 0x8)."""
    dirs = {0: "_IOC_NONE", 1: "_IOC_WRITE", 2: "_IOC_READ", 3: "_IOC_READ|_IOC_WRITE"}

    def x(n: int) -> str:
        return "%#x" % n if n else "0"
    return "_IOC(%s, %s, %s, %s)" % (dirs.get(ioc.dir, "_IOC_???"), x(ioc.type), x(ioc.nr), x(ioc.size))


def what_to_do(suggestions, s: Style, extra_verbose: bool = False) -> List[str]:
    """The numbered list: one line per step, its commands under it, and with --verbose why it helps,
    the evidence, the source and the snippet. The last line says what --verbose adds."""
    if not suggestions:
        return []
    out = [s("What to do", "title")]
    out.extend(suggestion_lines(suggestions, s, verbose=s.verbose))
    if not s.verbose:
        what = "why each step helps, its evidence and sources" + (", and rr's rule" if extra_verbose else "")
        out.extend(s(x, "dim") for x in wrap("(--verbose adds %s)" % what, "", " ", s.width))
    return out


def suggestion_lines(suggestions, s: Style, verbose: bool = True) -> List[str]:
    out: List[str] = []
    width = s.width
    for i, sug in enumerate(suggestions, 1):
        num = "  %d. " % i
        pad = " " * len(num)
        if isinstance(sug, str):
            out.extend(wrap(sug, num, pad, width))
            continue
        step = getattr(sug, "step", "") or sug.action
        out.extend(wrap(step, num, pad, width))
        for c in sug.commands:
            out.append(pad + "  $ " + s(c, "cmd"))
        missing = getattr(sug, "missing", "")
        if missing:  # the rule fired without its strong evidence: say what it went on
            out.extend(wrap("evidence missing: " + missing, pad + "  ", pad + "    ", width))
        if not verbose:
            continue
        detail = pad + "  "
        out.extend(wrap("why: " + sug.title, detail, detail + "  ", width))
        if getattr(sug, "step", ""):
            out.extend(wrap("how: " + sug.action, detail, detail + "  ", width))
        snippet = getattr(sug, "snippet", "")
        if snippet:
            out.append(detail + "for example:")
            out.extend((detail + "    " + line).rstrip() for line in snippet.rstrip().splitlines())
        n = len(sug.evidence)
        meta = "confidence %s, from %d piece%s of evidence%s" % (sug.confidence, n, "" if n == 1 else "s",
                                                                 ":" if n else "")
        out.extend(s(x, "dim") for x in wrap(meta, detail, detail + "  ", width))
        for e in sug.evidence:
            out.extend(s(x, "dim") for x in wrap("- " + e, detail + "  ", detail + "    ", width))
        out.extend(s(x, "dim") for x in wrap("source: " + sug.source, detail, detail + "  ", width))
    return out


# --------------------------------------------------------------------------------------------------
# go-callers

def _short_file(path: Optional[str]) -> str:
    if not path:
        return "?"
    return path


def _module_text(f) -> str:
    """'example.com/dmademo (devel)' as `go version -m` prints it; '' when the build info names none."""
    if not f.module:
        return "std" if f.std else ""
    return "%s %s" % (f.module, f.version) if f.version else f.module


def callers_headline(rep) -> str:
    g = rep.goroutine
    if g is None:
        if rep.kind == "no-go":
            return "thread %s runs no Go code (no goroutine: a thread created by C, e.g. a driver's worker thread)" % (
                rep.tid or "?")
        if rep.extra_m:
            return ("thread %s runs C code (a thread created by C that called into Go earlier; no goroutine is "
                    "running on it now)" % (rep.tid or "?"))
        if getattr(rep, "no_goroutine", None):
            return "thread %s runs no goroutine (%s)" % (rep.tid or "?", rep.no_goroutine)
        return "no goroutine found for thread %s" % (rep.tid or "?")
    head = "goroutine %d [%s]" % (g.goid, g.status_name)
    c = rep.caller
    if c is not None:
        where = ("%s:%s" % (c.file.rsplit("/", 1)[-1], c.line)) if c.file else "?"
        return "%s  caller %s  %s" % (head, c.function, where)
    if not rep.complete:
        return "%s  caller unknown: the Go unwind stopped early (see below)" % head
    return "%s  no caller outside the runtime: every Go frame is in the runtime, the standard library or a cgo wrapper" % head


def callers_text(rep, style: Optional[Style] = None, source_lines: int = 0) -> str:
    """Text report of a callers.CallersReport. source_lines > 0 shows that many lines of source around
    the caller's line when the file exists here."""
    s = style or Style(False)
    out: List[str] = []
    g = rep.goroutine
    head = callers_headline(rep)
    if g is None and rep.kind not in ("no-go",) and not rep.extra_m and not getattr(rep, "no_goroutine", None):
        out.append(s(head, "bad"))
    else:
        out.extend(s(x, "title") for x in wrap(head, "", "    ", s.width))
    if g is not None:
        where = []
        if rep.on_system_stack:
            where.append("on the system stack (%s)" % rep.kind)
        if rep.in_cgo:
            where.append("in a cgo call")
        out.append("  thread %s%s" % (rep.tid or "?", (", " + ", ".join(where)) if where else ""))
    c = rep.caller
    if c is not None:
        bits = ["package %s" % c.package] if c.package else []
        mod = _module_text(c)
        if mod:
            bits.append("module %s" % mod)
        if bits:
            out.append("  " + ", ".join(bits))
    cb = rep.created_by
    if cb is not None:
        parent = (" in goroutine %d" % g.parent_goid) if g is not None and g.parent_goid else ""
        out.append("  created by %s%s at %s:%s" % (cb.function, parent, _short_file(cb.file), cb.line))
    facts = []
    if rep.go_version:
        facts.append(rep.go_version)
    if rep.main_module:
        facts.append("main module %s%s" % (rep.main_module, (" " + rep.main_version) if rep.main_version else ""))
    if facts:
        out.append(s("  " + ", ".join(facts), "dim"))
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
        # The module where it changes the story: std, or a dependency (the main module is named above).
        mod = "" if f.module and f.module == rep.main_module else _module_text(f)
        out.append("  #%-3d %s%s" % (n, name, ("  [" + ", ".join(tags) + "]") if tags else ""))
        out.append("        %s:%s  %s" % (_short_file(f.file), f.line if f.line is not None else "?",
                                         s("pc=0x%x%s" % (f.pc, ("  " + mod) if mod else ""), "dim")))
        n += 1
    if rep.unwind_stopped and not rep.complete and g is not None:
        out.append(s("  (Go unwind stopped: %s)" % rep.unwind_stopped, "warn"))
    if c is not None and source_lines > 0 and c.file and c.line:
        out.append(s("source", "title") + " %s:%s" % (c.file, c.line))
        out.extend(_source_context(c.file, c.line, source_lines, s))
    for w in rep.warnings:
        out.extend(s(x, "warn") for x in wrap("warning: " + w, "", "         ", s.width))
    for n_ in getattr(rep, "notes", []):
        out.extend(s(x, "dim") for x in wrap("note: " + n_, "", "      ", s.width))
    out.extend(what_to_do(rep.suggestions, s))
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


# ----------------------------------------------------------------------------------- go-goroutines

def _waited(g) -> str:
    if g.waited_ns is not None:
        mins = g.waited_ns // 60_000_000_000
        return "%d min" % mins if mins >= 1 else "<1 min"
    return "since GC" if g.waitsince else ""


def _g_where(g) -> str:
    f = g.top
    if f is None and g.frames:
        f = g.frames[-1]  # no frame of the program's own: where it started (runtime.forcegchelper ...)
    if f is not None:
        return "%s %s:%s" % (f.function, os.path.basename(f.file or "?"), f.line if f.line is not None else "?")
    if g.stack_note:
        return "(%s)" % g.stack_note.split(":")[0]
    return "(start %s)" % g.start if g.start else ""


def _g_state(g) -> str:
    bits = [g.state]
    if g.scan:
        bits.append("scan")
    if g.in_cgo:
        bits.append("cgo")
    if g.locked_to_thread:
        bits.append("locked")
    return ", ".join(bits)


def goroutines_headline(rep) -> str:
    shown = len(rep.goroutines)
    live = rep.total - sum(v for k, v in rep.counts.items() if k in ("dead", "idle", "waiting for cgo callback"))
    head = "%d goroutines" % live
    if rep.total != live:
        head += " (and %d dead or idle)" % (rep.total - live)
    if shown != rep.total:
        head += ", %d shown" % shown
    if rep.selected_id is not None:
        head += "; the selected thread (LWP %s) runs goroutine %d" % (rep.tid, rep.selected_id)
    return head


def _goroutine_lines(g, s: Style) -> List[str]:
    """One goroutine with its frames (go-goroutines ID, --stacks)."""
    out: List[str] = [s("goroutine %d [%s]%s" % (g.id, _g_state(g), "  <- the selected thread" if g.selected else ""),
                        "title")]
    facts = []
    if g.tid:
        facts.append("thread LWP %d (M%s)" % (g.tid, g.m_id if g.m_id is not None else "?"))
    if g.waited_ns is not None:
        facts.append("waiting %s" % _waited(g))
    elif g.waitsince:
        facts.append("waiting since runtime clock %d ns" % g.waitsince)
    if g.start:
        facts.append("started in %s" % g.start)
    if facts:
        out.append("  " + ", ".join(facts))
    cb = g.created_by
    if cb:
        parent = (" in goroutine %d" % g.parent_id) if g.parent_id else ""
        out.append("  created by %s%s at %s:%s" % (cb["function"], parent, _short_file(cb["file"]), cb["line"]))
    src = {"registers": "the selected thread's registers", "syscall": "g.syscallsp/syscallpc (in a system call)",
           "sched": "its saved context (g.sched)"}.get(g.stack_from)
    if g.stack_note:
        out.append(s("  " + g.stack_note, "warn"))
    elif src:
        out.append(s("  frames from %s" % src, "dim"))
    for n, f in enumerate(g.frames):
        name = f.function or "??"
        if f.kind == "native":
            out.append("  #%-3d %s  %s" % (n, name, s("(native, %s)" % (f.objfile or "").rsplit("/", 1)[-1], "dim")))
            continue
        out.append("  #%-3d %s%s%s" % (n, s(name, "caller") if f is g.top else name,
                                        "  [inlined]" if f.inlined else "", "  <- own code" if f is g.top else ""))
        out.append("        %s:%s  %s" % (_short_file(f.file), f.line if f.line is not None else "?",
                                         s("pc=0x%x" % f.pc, "dim")))
    if g.problem:
        out.append(s("  " + g.problem, "warn"))
    return out


def goroutines_text(rep, style: Optional[Style] = None, one: bool = False, stacks: bool = False) -> str:
    """Text report of an allgs.GoroutinesReport: a table, or (one) one goroutine with its whole stack, or
    (stacks) every goroutine with its whole stack."""
    s = style or Style(False)
    out: List[str] = []
    if one and rep.goroutines:
        out.extend(_goroutine_lines(rep.goroutines[0], s))
    elif stacks:
        out.extend(s(x, "title") for x in wrap(goroutines_headline(rep), "", "    ", s.width))
        for g in rep.goroutines:
            out.append("")
            out.extend(_goroutine_lines(g, s))
    else:
        out.extend(s(x, "title") for x in wrap(goroutines_headline(rep), "", "    ", s.width))
        rows = [["", "ID", "STATE", "WAITED", "THREAD", "WHERE (own code)", "CREATED BY"]]
        for g in rep.goroutines:
            cb = g.created_by
            rows.append(["*" if g.selected else "", g.id, _g_state(g), _waited(g),
                         ("LWP %d" % g.tid) if g.tid and g.status & 0xFFF in (2, 3) else "",
                         _g_where(g) + (" [runtime]" if g.system else ""),
                         ("%s %s:%s" % (cb["function"], os.path.basename(cb["file"] or "?"), cb["line"]))
                         if cb and cb.get("function") else ""])
        out.append(table(rows, indent=""))
        if rep.hidden:
            out.append(s("  not shown: " + ", ".join("%d %s" % (v, k) for k, v in sorted(rep.hidden.items())), "dim"))
        if rep.counts:
            out.append(s("  states: " + ", ".join("%s %d" % (k, v) for k, v in
                                                   sorted(rep.counts.items(), key=lambda kv: -kv[1])), "dim"))
        for g in rep.goroutines:
            if g.problem:
                out.append(s("problem: " + g.problem, "warn"))
    for p in rep.problems:
        out.extend(s(x, "warn") for x in wrap("problem: " + p, "", "         ", s.width))
    for w in rep.warnings:
        out.extend(s(x, "warn") for x in wrap("warning: " + w, "", "         ", s.width))
    for n_ in rep.notes:
        out.extend(s(x, "dim") for x in wrap("note: " + n_, "", "      ", s.width))
    return "\n".join(out)


def to_json_rows(obj: dict, rows_key: str) -> str:
    """One JSON object with obj[rows_key] written one element a line: json's C encoder (indent=None) for
    each part, where indent=2 would take the pure-Python one (seconds for 10,000 goroutines)."""
    rows = obj.get(rows_key) or []
    head = {k: v for k, v in obj.items() if k != rows_key}
    parts = ["  %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in head.items()]
    body = ",\n".join("    " + json.dumps(r) for r in rows)
    parts.append("  %s: [%s]" % (json.dumps(rows_key), ("\n" + body + "\n  ") if rows else ""))
    return "{\n" + ",\n".join(parts) + "\n}"
