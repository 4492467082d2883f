"""Advice: from the evidence of one stop to ranked, sourced suggestions.

The rules are data: rules.json beside this file, schema in SCHEMA.md; a user adds, replaces or disables
rules with a JSON file of the same shape (``load_rules(path)``, ``--rules FILE`` or $GDB_RR_DMABUF_RULES).

- rules.py    loads and validates rules files (bounded, one-line errors): Rule, Pattern, load_rules
- engine.py   one evaluator per rule kind (EVALUATORS), evaluate and advise: Suggestion
- wording.py  the placeholders of a rule's text and their values for one stop
The evidence (Evidence, GoFrameEv) is evidence.py's; Go and cgo frame helpers are go_runtime/frames.py's.
"""
from ..evidence import Evidence, GoFrameEv, rr_handles
from ..go_runtime.frames import DEFAULT_SYSTEM_OBJFILES, CgoCall, cgo_call, program_frame, same_file
from .engine import (EVALUATORS, FRAME_KINDS, WEIGHTS, Suggestion, advise, direct_go_caller, evaluate,
                     is_vulkan_path, missing_evidence)
from .rules import (BUILTIN_RULES_PATH, ENV_RULES, KINDS, MAX_RULES_FILE, RULE_KEYS, RULE_KINDS, Pattern, Rule,
                    builtin_rules, load_rules, rule_from_dict)
from .wording import (CALLER_PLACEHOLDERS, CGO_PLACEHOLDERS, PLACEHOLDERS, PROGRAM_PLACEHOLDERS,
                      RR_PLACEHOLDERS)

__all__ = ["Evidence", "GoFrameEv", "rr_handles", "DEFAULT_SYSTEM_OBJFILES", "CgoCall", "cgo_call",
           "program_frame", "same_file", "EVALUATORS", "FRAME_KINDS", "WEIGHTS", "Suggestion", "advise",
           "direct_go_caller", "evaluate", "is_vulkan_path", "missing_evidence", "BUILTIN_RULES_PATH",
           "ENV_RULES", "KINDS", "MAX_RULES_FILE", "RULE_KEYS", "RULE_KINDS", "Pattern", "Rule", "builtin_rules",
           "load_rules", "rule_from_dict", "CALLER_PLACEHOLDERS", "CGO_PLACEHOLDERS", "PLACEHOLDERS",
           "PROGRAM_PLACEHOLDERS", "RR_PLACEHOLDERS"]
