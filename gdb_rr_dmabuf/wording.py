"""The one place that words rr's verdict: rr.rr_verdict decides (an RrVerdict of facts: the request, its
names, the release that first handles it by name or None, master only, the user's release if known, would
rr stop) and this module turns those facts into the sentences the user reads: the verdict's explanation,
the why-headline's verdict, rr's refusal to open a device, the notes on a call rr lets through, the
advice's rr_* placeholders and the stop hint gdbinit.py prints. Pure Python (no gdb); rr's table is asked
only for its release labels."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional

from .errnos import describe_result
from .ioctl.ioc import IOC_READ, decode_ioc

if TYPE_CHECKING:  # pragma: no cover
    from .rr import OpenRefusal, ReleaseSpan, RrVerdict


def rr_facts(what: str) -> str:
    """'master' -> 'rr master 2026-08-17 5c202cd8', 'last_release' -> '5.9.0', 'oldest' -> '4.0.0'
    (rr.py's table)."""
    from .rr import table
    t = table()
    return {"master": t.master_label, "last_release": t.last_release, "oldest": t.oldest}[what]


def request_label(v: "RrVerdict") -> str:
    """The request as the verdict names it: its names joined with 'or', else its number."""
    return " or ".join(v.names) if v.names else "0x%08x" % v.request


# --------------------------------------------------------------------------------------------------
# Which releases (rr.ReleaseSpan): --json's rr.stops_in, check's lists, and the subjects of the sentences below

def _release_list(s: "ReleaseSpan") -> str:
    """The releases without a leading word: 'before 5.9.0', '4.3.0 to 5.4.0', '5.4.0', '4.0.0, 4.2.0'."""
    if s.kind == "every":
        return "every release"
    if s.kind == "none":
        return "none"
    if s.kind == "before":
        return "before %s" % (s.end,)
    if s.kind == "one":
        return str(s.first)
    if s.kind == "range":
        return "%s to %s" % (s.first, s.last)
    return ", ".join(str(r) for r in s.releases)


def releases(s: "ReleaseSpan") -> str:
    """The span as words ('every release', 'none', 'before 5.9.0', '5.4.0', '4.3.0 to 5.6.0', 'releases 4.0.0,
    4.2.0'): rr.RrVerdict.stops_in (--json) and check's release lists."""
    return ("releases " if s.kind == "list" else "") + _release_list(s)


# --------------------------------------------------------------------------------------------------
# The verdict's explanation (rr.RrVerdict.explanation, dmabuf-why --verbose's "rr" part, --json's rr.explanation)

def outcome(result: Optional[int], would_stop: Optional[bool]) -> str:
    """What rr does with this raw result at syscall exit."""
    if would_stop is None:
        return "it stops unless the call fails with EINVAL or ENOTTY"
    val, name = describe_result(result)
    if would_stop:
        return "this result (%s) makes it stop" % (name or val)
    return "it accepts this result (%s) and goes on" % name


_COMPARES = {"exact": "the exact number", "masked": "the number with its size bits masked, so any size matches",
             "range": "its type and nr"}


def _generic_text(v: "RrVerdict", who: str, plural: bool = False) -> str:
    """The sentence for the generic rule (v.rule) that decides in the releases `who` names (`plural`: "rr
    releases 4.3.0 to 5.6.0 expect", else "rr 5.8.0 expects")."""
    label = request_label(v)
    if v.rule.kind == "ignorable":
        return ("%s has no _IOC_READ bit, so %s %s it ignorable and lets it run unrecorded: it "
                "does not cause an \"Unknown ioctl\" stop." % (label, who, "presume" if plural else "presumes"))
    d = decode_ioc(v.request)
    if d.dir & IOC_READ:
        why = "%s has the _IOC_READ bit" % label
    else:
        why = "%s has no _IOC_READ bit but type 0x%02x, which rr treats as irregular" % (label, d.type)
    return "%s, so %s %s EINVAL (ENOTTY is accepted too); %s." % (
        why, who, "expect" if plural else "expects", outcome(v.result, v.would_stop))


def _doing(v: "RrVerdict") -> str:
    """'DMA_BUF_IOCTL_EXPORT_SYNC_FILE by name (compares the exact number): it records ...'"""
    label = request_label(v)
    by_name = v.by_name
    rrname = (" (rr's label %s)" % v.rr_name) if (v.rr_name and v.rr_name not in v.names and by_name.entry) else ""
    return "%s by name%s (compares %s): it %s" % (label, rrname, _COMPARES[v.match], by_name.what)


def _handled(v: "RrVerdict") -> List[str]:
    """rr_version handles it by name."""
    h = v.in_version
    rrname = (" (rr's label %s)" % v.rr_name) if (v.rr_name and v.rr_name not in v.names and v.by_name is not None
                                                  and v.by_name.entry) else ""
    return ["rr %s handles %s by name%s (since %s%s; compares %s): it %s, so it does not stop with "
            "\"Unknown ioctl\" on it." % (
                v.rr_version, request_label(v), rrname, h.first, " or earlier" if h.first == rr_facts("oldest") else "",
                {"exact": "the exact number", "masked": "the number without its size bits"}.get(
                    h.entry.match if h.entry else "", "its type and nr"), h.what)]


def _generic_in_release(v: "RrVerdict") -> List[str]:
    """rr_version decides by its generic rules; which releases handle it by name, if any."""
    by_name = v.by_name
    out = [_generic_text(v, "rr %s" % v.rr_version)]
    if by_name is not None and v.master_only:
        last = rr_facts("last_release")
        out.append("Only rr master after %s handles it by name (it %s; %s); a build from source also calls "
                   "itself %s." % (last, by_name.what, rr_facts("master"), last))
    elif by_name is not None:
        out.append("rr %s and later handle it by name: rr %s." % (by_name.first, by_name.what))
    return out


def _every_release(v: "RrVerdict") -> List[str]:
    """No release given; every release since the oldest checked handles it by name."""
    return ["Every rr release since %s (the oldest checked) handles %s: so rr does not stop with "
            "\"Unknown ioctl\" on it." % (rr_facts("oldest"), _doing(v))]


def _no_release_stops(v: "RrVerdict") -> List[str]:
    """No release given; the releases without the by-name entry presume it ignorable."""
    first = v.by_name.first
    return ["No rr release stops on %s with \"Unknown ioctl\": releases before %s presume it ignorable (no "
            "_IOC_READ bit), and rr %s and later handle %s." % (request_label(v), first, first, _doing(v))]


def _span_of_releases(v: "RrVerdict") -> List[str]:
    """No release given; the releases without a by-name entry (v.span) decide by the generic rule v.rule."""
    by_name, span = v.by_name, v.span
    plural = False
    if v.rule.kind == "ignorable" or (by_name is None and span.kind == "every"):
        who = "rr"
    elif span.kind == "every":
        who = "every rr release"
    else:
        who, plural = "rr releases " + _release_list(span), True
    out = [_generic_text(v, who, plural)]
    if by_name is not None and v.master_only:
        out.append("Only rr master after %s handles %s (%s)." % (rr_facts("last_release"), _doing(v),
                                                                      rr_facts("master")))
    elif by_name is not None:
        out.append("rr %s and later handle %s." % (by_name.first, _doing(v)))
    elif v.rule.kind != "ignorable":
        out.append("No rr release handles it by name (as of %s)." % rr_facts("master"))
    return out


# rr.RrVerdict.answer -> its sentences
_ANSWERS = {"handled": _handled, "generic": _generic_in_release, "every_release": _every_release,
            "no_release_stops": _no_release_stops, "span": _span_of_releases}


def explanation(v: "RrVerdict") -> str:
    """rr_verdict's true sentences, from its facts."""
    if v.ethtool is not None:
        return _ethtool_explanation(v)
    sentences = _ANSWERS[v.answer](v)
    if v.shadowed:
        sentences.append("rr's prepare_ioctl lists %s but never reaches %s." % (
            ", ".join(e.label for e in v.shadowed), "it" if len(v.shadowed) == 1 else "them"))
    if v.open_policy and v.would_stop is not False:
        sentences.append(v.open_policy)
    return " ".join(sentences)


def _ethtool_explanation(v: "RrVerdict") -> str:
    """rr's "unknown ETHTOOL command N" (SIOCETHTOOL's sub-command list, since rr 5.4.0)."""
    name, since = v.ethtool, v.ethtool_since
    if v.answer == "ethtool_handled":
        return ("rr %s handles SIOCETHTOOL's sub-command %s by name (since %s): it %s, so it does not "
                "stop on it." % (v.rr_version, name, v.supported_since, v.what))
    if v.answer == "ethtool_never":
        return ("No rr release stops on SIOCETHTOOL's sub-command %s: before %s rr records every SIOCETHTOOL "
                "alike, and from %s on it handles %s by name (it %s)." % (name, since, since, name, v.what))
    if v.answer == "ethtool_before":
        return ("rr %s (before %s) records every SIOCETHTOOL alike, whatever the sub-command, so it does "
                "not stop on it." % (v.rr_version, since))
    if v.rr_version is not None:
        who = "rr %s" % v.rr_version
    elif v.span.kind in ("one", "range"):
        who = "rr " + _release_list(v.span)
    else:
        who = "rr releases " + _release_list(v.span)
    text = ("rr handles SIOCETHTOOL by its ETHTOOL sub-command since %s (before, it recorded every SIOCETHTOOL "
            "alike); the sub-command list of %s does not have %s, so it expects EINVAL (ENOTTY is accepted too); "
            "%s." % (since, who, name, outcome(v.result, v.would_stop)))
    if v.supported_since is not None:
        text += " rr %s and later handle %s: rr %s." % (v.supported_since, name, v.what)
    elif v.master_only:
        text += " Only rr master after %s handles %s (%s)." % (rr_facts("last_release"), name, rr_facts("master"))
    else:
        text += " No rr release handles it (as of %s)." % rr_facts("master")
    return text


_OPENED_ELSEWHERE = ("it reached the program some way rr did not see as an open of it (for example inherited from "
                     "the process that started rr, or passed over a Unix socket)")


def open_policy(r: "OpenRefusal") -> str:
    """rr refuses to open the device (rr.open_refusal), so the fd came some other way: one sentence."""
    if r.device == "fd":
        first = r.since[r.path]
        return ("The fd is %s: rr refuses to open %s%s (since rr %s%s: it closes the new fd and returns "
                "ENOENT, \"Cowardly refusing to open\"), so %s." % (
                    r.fd_link, r.path, "*" if r.prefix else "", first,
                    " or earlier" if first == rr_facts("oldest") else "", _OPENED_ELSEWHERE))
    if r.device == "drm":
        return ("DRM ioctls (type 'd') go to /dev/dri/* devices, and rr refuses to open /dev/dri/* (since rr %s or "
                "earlier: it closes the new fd and returns ENOENT); if this fd is one, %s." % (
                    r.since["/dev/dri/"], _OPENED_ELSEWHERE))
    return ("NVIDIA's driver uses type 'F' read/write ioctls on /dev/nvidiactl and /dev/nvidiaN; rr refuses to "
            "open /dev/nvidiactl (since rr %s or earlier) and /dev/nvidia-uvm (since %s), not /dev/nvidiaN; if this "
            "fd is /dev/nvidiactl, %s." % (r.since["/dev/nvidiactl"], r.since["/dev/nvidia-uvm"], _OPENED_ELSEWHERE))


# --------------------------------------------------------------------------------------------------
# The why-headline's verdict (render.why_headline: "ioctl NAME returned 0: <this>")

# What a release that handles a request by name does with it (rr.RrVerdict.action), as a verb.
_RR_ACTION_WORDS = {"records": "records", "passes": "lets through", "emulates": "emulates"}


def _who_stops(v: "RrVerdict") -> str:
    """Which rr stops on the call: the user's release, else the span of releases that stop on it (TIOCGSERIAL:
    "rr 4.3.0 to 5.4.0", not "rr before 5.5.0": 4.0.0-4.2.0 let it through), else all before the first that
    handles it."""
    span = v.stopping
    if v.rr_version:
        return "rr %s" % v.rr_version
    if span is not None and span.kind not in ("none", "every"):
        return "rr " + _release_list(span)
    if v.supported_since:
        return "rr before %s" % v.supported_since
    return "rr"


def headline_verdict(v: "RrVerdict", result: Optional[int]) -> str:
    """Whether (and which) rr stops on the call; result: the call's raw result as the report has it."""
    expected = " or ".join(v.expected)
    since = v.supported_since
    doing = _RR_ACTION_WORDS.get(v.action or "records", "handles")
    if since:
        later = "%s %s it" % (since, doing)
    elif v.master_only:
        later = "only rr master after the last release %s it" % doing
    else:
        later = "no rr release handles it by name"
    who = _who_stops(v)
    if v.would_stop:
        return "%s aborts on that, %s" % (who, later)
    if v.would_stop is None:
        return "%s aborts unless it fails with %s, %s" % (who, expected, later)
    if v.ignorable:
        return "no _IOC_READ bit, so rr lets it run: not what stopped rr"
    if result is not None and result < 0:
        return "rr accepts that, so it is not what stopped rr"
    return v.explanation


# --------------------------------------------------------------------------------------------------
# A call rr lets through: why, and the notes that say so (evidence.analyse, evidence.advise_report)

def why_passes(v: "RrVerdict", result: Optional[int], errno: Optional[str]) -> str:
    """Why rr lets the call through (v.would_stop is False): 'rr 5.9.0 handles it by name: it ...'."""
    if v.handled_by_name or (v.rr_version is None and v.stopping is not None and v.stopping.kind == "none"
                             and v.supported_since):
        return "rr %s handles it by name: it %s" % (v.rr_version or "since %s" % v.supported_since, v.what)
    if v.ignorable:
        return "no _IOC_READ bit: rr treats it as ignorable"
    if result is not None and result < 0:
        return "it failed with %s, which rr expects for an unknown ioctl" % (errno or result)
    return "rr handles it"


_PASSES_NOTES = {
    # at a stop, that rr release handles it by name (no upgrade advice fires; the program's own fix still holds)
    "handled": "%s, so this call is not one that stops that rr",
    # at a stop, rr lets it through: the advice is about the call that stopped rr
    "not_what_stopped": "rr lets this call through (%s), so it is not what stopped rr: no advice for it",
    # no process (--request, --from-log)
    "no_advice": "rr lets this call through (%s): no advice for it",
    # rr's own log shows the abort: the build that printed it is not the release the table describes
    "log_differs": ("rr's log shows this rr aborting on the call, yet %s: the rr that printed the log differs from "
                    "that release (a build from git, or a bug such a build had); record with the newest rr release"),
}


def passes_note(kind: str, v: "RrVerdict", result: Optional[int], errno: Optional[str]) -> str:
    """One note on a call rr lets through; kind: handled | not_what_stopped | no_advice | log_differs."""
    return _PASSES_NOTES[kind] % why_passes(v, result, errno)


def rr_source_note(version: str, source: str) -> str:
    """Where the rr release the verdict is for came from: 'rr 5.8.0 (from --rr-version)'."""
    return "rr %s (from %s)" % (version, source)


# --------------------------------------------------------------------------------------------------
# The advice's rr_* placeholders (advice/wording.py) and the evidence lines of the rr_* rule kinds

def rr_placeholders(rr_version: Optional[str], since: Optional[str], handles: Optional[bool], master_only: bool,
                    support_known: bool, open_policy: Optional[str], req_name: str) -> Dict[str, str]:
    """The rr_* placeholders: the user's release (None: not known), the first release that handles the request
    (None: none, or not looked up unless support_known), whether the user's release handles it (None: not known)."""
    since = since or ""
    if rr_version:
        vphrase = "this rr is %s" % rr_version
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
    elif master_only:
        rr_phrase = " (no release yet)"
        clause = (", or build rr from source: only rr master after %s handles %s"
                  % (rr_facts("last_release"), req_name))
        reason = " (no rr release records it yet; rr master does)"
    elif not since and support_known:
        rr_phrase = " (no release yet)"
        clause = " (no rr release handles %s yet, so the guard is the way)" % req_name
        reason = " (no rr release records it yet)"
    return {"rr_since": since or ("master" if master_only else "?"),
            "rr_version": rr_version or "unknown", "rr_version_phrase": vphrase, "rr_phrase": rr_phrase,
            "rr_upgrade_clause": clause, "rr_reason": reason, "rr_master": rr_facts("master"),
            "rr_last_release": rr_facts("last_release"), "rr_open_policy": open_policy or "?"}


def upgrade_evidence(rr_version: str, since: str) -> str:
    """The rr_upgrade rule's evidence line when the user's release is older than the first that handles it."""
    return "rr %s < %s (first release handling it)" % (rr_version, since)


def master_only_evidence(request_label_text: str) -> str:
    return request_label_text + ": only rr master after %s handles it" % rr_facts("last_release")


def unsupported_evidence(request_label_text: str) -> str:
    return request_label_text + ": no rr release handles it"


# --------------------------------------------------------------------------------------------------
# The stop hint (commands/gdbtarget.ioctl_stop_hint, printed by gdbinit.py when sourced at a stop)

def stop_hint(thread_num: int, lwp: int, names: List[str], v: "RrVerdict") -> str:
    """One line: the selected thread is in an ioctl rr would abort on (v.would_stop is not False)."""
    name = " or ".join(names) if names else "0x%08x" % v.request
    who = _who_stops(v)
    if v.would_stop:
        verdict = "which %s aborts on" % who
    else:  # the entry stop: it has not returned yet
        verdict = "which %s aborts on unless it fails with %s" % (who, " or ".join(v.expected))
    return "thread %d (LWP %d) is in ioctl %s, %s: `dmabuf-why` explains it" % (thread_num, lwp, name, verdict)
