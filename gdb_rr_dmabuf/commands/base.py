"""argparse-based gdb commands: help comes from the parser, every error is one line, --json everywhere."""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

import gdb  # type: ignore

from ..errors import UserError


def _project_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _help_cache_path(name: str):
    """Where `name`'s formatted help is cached (commands/__pycache__/), or None when the sources can't be read."""
    import shutil
    import zlib  # a cache key, not a digest: hashlib's import alone would cost start-up 6 ms
    here = os.path.dirname(os.path.abspath(__file__))
    key = ("%s %s %d" % (name, sys.version, shutil.get_terminal_size().columns)).encode()
    crc, size = zlib.crc32(key), len(key)
    try:
        for f in sorted(f for f in os.listdir(here) if f.endswith(".py")) + [
                os.path.join(os.pardir, "limits.py"), os.path.join(os.pardir, "options.py")]:
            with open(os.path.join(here, f), "rb") as fh:
                data = f.encode() + b"\0" + fh.read()
            crc, size = zlib.crc32(data, crc), size + len(data)
    except OSError:
        return None
    return os.path.join(here, "__pycache__", "help-%s-%08x-%x.txt" % (name, crc, size))


class _ParserExit(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would sys.exit(): one line instead
        raise UserError(message, "see `help %s`" % self.prog)

    def exit(self, status=0, message=None):
        if message:
            gdb.write(message)
        raise _ParserExit()

    def print_help(self, file=None):
        gdb.write(self.format_help())

    def print_usage(self, file=None):
        gdb.write(self.format_usage())


class Command(gdb.Command):
    """Subclasses set NAME, build_parser() and run(args) -> str (text to print)."""

    NAME = ""

    def __init__(self):
        self._parser = None
        self.__doc__ = self._help_text()
        super().__init__(self.NAME, gdb.COMMAND_USER)

    @property
    def parser(self) -> argparse.ArgumentParser:
        """Built on first use: building both parsers costs gdb's start-up about 7 ms."""
        if self._parser is None:
            self._parser = self.build_parser()
        return self._parser

    def _help_text(self) -> str:
        """The parser's help for gdb's `help CMD`, from a cache next to the bytecode when it is current.
        gdb takes the text when the command is made; formatting it means building the parser (about 10 ms
        of start-up). The cache is keyed by the contents of this package's sources and limits.py (what
        the parsers are made of) and options.py (the options they share), Python's version and the width argparse formats for."""
        path = _help_cache_path(self.NAME)
        if path is not None:
            try:
                with open(path, encoding="utf-8") as f:
                    return f.read()
            except (OSError, ValueError):  # none yet, or not text: format it again
                pass
        text = self.parser.format_help()
        if path is not None and not sys.dont_write_bytecode:
            tmp = "%s.%d.tmp" % (path, os.getpid())
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(tmp, path)
            except OSError:  # a read-only install: format it each time
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return text

    @classmethod
    def new_parser(cls, description: str) -> argparse.ArgumentParser:
        from .. import options  # the options the commands share (explain's too), built on first use
        p = _Parser(prog=cls.NAME, description=description, add_help=True,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
        for name in ("json", "color", "verbose"):
            options.add(p, name)
        return p

    def build_parser(self) -> argparse.ArgumentParser:
        raise NotImplementedError

    def run(self, args) -> str:
        raise NotImplementedError

    def parse(self, argument: str):
        """The command's arguments, split like gdb's own commands (a subclass may take raw text)."""
        return self.parser.parse_args(gdb.string_to_argv(argument))

    def invoke(self, argument: str, from_tty: bool) -> None:
        self.dont_repeat()
        args = None
        try:
            args = self.parse(argument)
            text = self.run(args)
            if text:
                gdb.write(text if text.endswith("\n") else text + "\n")
        except _ParserExit:
            return
        except UserError as e:
            self._fail(args, e.what, e.todo)
        except KeyboardInterrupt:
            self._fail(args, "interrupted", "")
        except gdb.error as e:  # gdb refused something (no registers, no frame, ...)
            self._fail(args, "gdb: %s" % str(e).strip().splitlines()[0] if str(e).strip() else "gdb error",
                       "check that a process or core is loaded and a thread is selected")
        except Exception as e:  # a bug of ours: still one line, traceback only on request
            if os.environ.get("GDB_RR_DMABUF_DEBUG"):
                traceback.print_exc()
            self._fail(args, "internal error: %s: %s" % (type(e).__name__, e),
                       "please report it with this line (GDB_RR_DMABUF_DEBUG=1 shows the traceback)")

    def _fail(self, args, what: str, todo: str) -> None:
        if args is not None and getattr(args, "json", False):
            gdb.write(json.dumps({"error": {"what": what, "todo": todo}}) + "\n")
        else:
            gdb.flush()  # keep the order of stdout and stderr when both go to one pipe
            gdb.write("%s: %s%s\n" % (self.NAME, what, (": " + todo) if todo else ""), gdb.STDERR)
            gdb.flush(gdb.STDERR) if hasattr(gdb, "STDERR") else None

    # helpers --------------------------------------------------------------------------------------
    def style(self, args):
        """render.Style for this invocation: colour, gdb's `width`, --verbose."""
        from ..render import Style
        try:
            width = gdb.parameter("width")  # None or 0 when unlimited (batch mode, `set width 0`)
        except Exception:
            width = None
        return Style(self.colour(args), width=width if isinstance(width, int) else None,
                     verbose=bool(getattr(args, "verbose", False)))

    @staticmethod
    def require_pyelftools() -> None:
        """go-callers reads the executable with pyelftools: say so when gdb's Python cannot import it."""
        import importlib.util
        if importlib.util.find_spec("elftools") is None:
            raise UserError("pyelftools is missing: gdb's Python %d.%d cannot import elftools"
                            % sys.version_info[:2],
                            "run %s/tools/install.sh (or apt-get install python3-pyelftools), then restart gdb"
                            % _project_dir())

    @staticmethod
    def colour(args) -> bool:
        from ..render import colour_wanted
        force = {"always": True, "never": False}.get(getattr(args, "color", "auto"))
        try:
            styled = gdb.parameter("style enabled")
        except Exception:
            styled = True
        return colour_wanted(os.isatty(1), styled, force)
