"""The command-line options that several commands share, each defined once: the gdb commands (dmabuf-why,
go-callers, go-goroutines: commands/base.py) and the ones without gdb (`explain`, `check`: __main__.py).
A command that says something else about an option passes only that as an override (its help text), so
the differences stay visible where the command is built. No imports: the gdb commands build their parsers
from it on first use."""

# name -> (the option strings, argparse's keyword arguments)
OPTIONS = {
    "json": (("--json",), {"action": "store_true", "help": "print one JSON object (documented in the README)"}),
    "color": (("--color",), {"choices": ("auto", "always", "never"), "default": "auto",
                             "help": "colour the output (auto: on a terminal, with gdb's `style enabled` on and "
                                     "NO_COLOR unset)"}),
    "verbose": (("-v", "--verbose"), {"action": "store_true", "help": "also say why each suggestion helps, with its "
                                      "evidence, sources and code snippet"}),
    "rr_version": (("--rr-version",), {"metavar": "X.Y.Z", "help": "the rr release that stopped (for the advice; "
                                       "default: the release rr's log shows (inferred from its source line), else "
                                       "$GDB_RR_DMABUF_RR_VERSION, else `rr --version` when rr is on PATH)"}),
    "rules": (("--rules",), {"metavar": "FILE", "help": "extra advice rules (JSON; also $GDB_RR_DMABUF_RULES)"}),
    "thread": (("--thread",), {"metavar": "N", "type": int,
                               "help": "gdb thread number (default: the selected thread)"}),
}


def add(parser, name: str, **overrides):
    """Add the shared option `name` to an argparse parser; `overrides` replace its keyword arguments (a
    command's own help text)."""
    flags, kwargs = OPTIONS[name]
    return parser.add_argument(*flags, **dict(kwargs, **overrides))
