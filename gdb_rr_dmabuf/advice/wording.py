"""The placeholders a rule's text may use ({exe}, {rr_upgrade_clause}, {caller_where}, ...) and their values
for one stop: the wording about the Go caller that the rules' sentences are built from, and the rr_* ones,
whose words (like every sentence about rr's verdict) are ../wording.py's."""
from __future__ import annotations

import shlex
from typing import Dict, Optional

from ..evidence import Evidence, GoFrameEv, rr_handles
from ..go_runtime.frames import frame_package, go_full_name, module_text, program_frame, where
from ..wording import rr_placeholders

CALLER_PLACEHOLDERS = ("caller_function", "caller_package", "caller_file", "caller_line", "caller_where",
                       "caller_module")
CGO_PLACEHOLDERS = ("c_function", "cgo_function", "cgo_package")
PROGRAM_PLACEHOLDERS = ("program_function", "program_where")
RR_PLACEHOLDERS = ("rr_since", "rr_version", "rr_version_phrase", "rr_phrase", "rr_upgrade_clause", "rr_reason",
                   "rr_master", "rr_last_release", "rr_open_policy")
PLACEHOLDERS = ("exe", "args", "request_name", "request_hex") + RR_PLACEHOLDERS + CALLER_PLACEHOLDERS + CGO_PLACEHOLDERS + \
    PROGRAM_PLACEHOLDERS


class SafeDict(dict):
    def __missing__(self, key):  # validated at load time; keep output sane anyway
        return "{" + key + "}"


def _exe(ev: Evidence) -> str:
    exe = ev.executable
    if not exe:
        return "./prog"
    if "/" not in exe:
        exe = "./" + exe
    return shlex.quote(exe)


def _rr_variables(ev: Evidence, req_name: str) -> Dict[str, str]:
    """The rr_* placeholders (the words are ../wording.py's): the user's release, the first release that
    handles the request, or why none."""
    return rr_placeholders(ev.rr_version, ev.rr_supported_since, rr_handles(ev), ev.rr_master_only,
                           ev.rr_support_known, ev.rr_open_policy, req_name)


def variables(ev: Evidence, caller: Optional[GoFrameEv],
              extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Every placeholder's text for this stop; those the rule's kind does not fill read '?'."""
    req_hex = "0x%x" % (ev.request & 0xFFFFFFFF) if ev.request is not None else "the ioctl"
    req_name = ev.request_names[0] if ev.request_names else req_hex
    v = {"exe": _exe(ev), "args": "".join(" " + shlex.quote(a) for a in ev.executable_args or []),
         "request_name": req_name, "request_hex": req_hex}
    v.update(_rr_variables(ev, req_name))
    if caller is not None:
        v.update({"caller_function": go_full_name(caller), "caller_package": frame_package(caller),
                  "caller_file": caller.file or "unknown file",
                  "caller_line": str(caller.line) if caller.line else "?",
                  "caller_where": where(caller), "caller_module": module_text(caller)})
    else:
        v.update({k: "?" for k in CALLER_PLACEHOLDERS})
    v.update({k: "?" for k in CGO_PLACEHOLDERS})
    own = program_frame(ev) or caller or ev.go_caller
    v.update({"program_function": go_full_name(own), "program_where": where(own)} if own is not None
             else {k: "?" for k in PROGRAM_PLACEHOLDERS})
    v.update(extra or {})
    return v
