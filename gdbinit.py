"""Load gdb-rr-dmabuf into gdb:  (gdb) source /path/to/gdbinit.py   or   gdb ... -x /path/to/gdbinit.py

Bootstrap only. The one runtime dependency, pygments (source colouring; without it the output is
plain), is taken from wherever gdb's Python already finds it (PYTHONPATH, a distribution package such
as python3-pygments); only when it is still missing is it looked for in a venv built for gdb's
Python: $GDB_RR_DMABUF_VENV if set, else .venv next to this file, else the one tools/install.sh makes
(~/.local/share/gdb-rr-dmabuf/venv). Then the commands are registered
and one line is printed. Sourcing it again in the same gdb session prints neither the banner nor the
warning again. When sourced at a stop where the selected thread is in an ioctl rr would abort on, one
line says so and which command explains it. Only the selected thread is read (rr's emergency gdbserver
can end the session when gdb reads another thread); nothing is read when no process is stopped.
Environment: GDB_RR_DMABUF_VENV (the venv to use), GDB_RR_DMABUF_QUIET=1 (no banner).
"""
import glob
import importlib.util
import os
import sys

try:
    _here = os.path.dirname(os.path.abspath(__file__))
except NameError:  # gdb always sets __file__ when sourcing; be safe
    _here = os.getcwd()

# (module, distribution): what the commands import from outside the standard library. ELF files are
# read by gdb_rr_dmabuf/elf.py itself: no pyelftools.
_DEPS = (("pygments", "pygments"),)


def _venv_candidates():
    explicit = os.environ.get("GDB_RR_DMABUF_VENV")
    if explicit:
        return [explicit]
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return [os.path.join(_here, ".venv"), os.path.join(data, "gdb-rr-dmabuf", "venv")]


def _venv_version(venv):
    try:
        with open(os.path.join(venv, "pyvenv.cfg")) as f:
            for line in f:
                k, _, v = line.partition("=")
                if k.strip() in ("version", "version_info"):
                    return ".".join(v.strip().split(".")[:2])
    except OSError:
        pass
    return None


def _missing():
    # find_spec, not import: gdb's start-up time matters.
    return [dist for mod, dist in _DEPS if importlib.util.find_spec(mod) is None]


def _find_dependencies(mine):
    """Put a venv's site-packages on sys.path for what gdb's Python lacks. Returns (missing, cause)."""
    missing = _missing()
    if not missing:
        return [], ""
    causes = []
    for venv in _venv_candidates():
        site = glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))
        if not site:
            causes.append("no venv at %s" % venv)
            continue
        ver = _venv_version(venv)
        if ver and ver != mine:
            causes.append("the venv at %s is for Python %s but gdb embeds Python %s" % (venv, ver, mine))
            continue
        for s in site:
            if s not in sys.path:
                sys.path.append(s)  # after gdb's own paths: what gdb's Python finds keeps priority
        missing = _missing()
        if not missing:
            return [], ""
        causes.append("the venv at %s lacks %s" % (venv, " and ".join(missing)))
    return missing, "; ".join(causes)


def _gdb_rr_dmabuf_bootstrap():
    import gdb  # noqa: F401

    if sys.version_info < (3, 9):
        gdb.write("gdb-rr-dmabuf: gdb embeds Python %d.%d; 3.9 or newer is needed: use a newer gdb\n"
                  % sys.version_info[:2], gdb.STDERR)
        return
    loaded = sys.modules.get("gdb_rr_dmabuf.commands")
    if loaded is not None and getattr(loaded, "_registered", False):
        _stop_hint(gdb)  # a second `source`: no banner, no warnings, only what the stop is
        return
    mine = "%d.%d" % sys.version_info[:2]
    warnings = []
    missing, cause = _find_dependencies(mine)
    if missing:
        effect = []
        if "pygments" in missing:
            effect.append("no source colouring without pygments")
        warnings.append("gdb's Python %s cannot import %s (%s; %s): run %s/tools/install.sh"
                        % (mine, " or ".join(missing), ", ".join(effect), cause, _here))
    if _here not in sys.path:
        sys.path.insert(0, _here)
    try:
        gdb_major = int(gdb.VERSION.split(".")[0])
    except (ValueError, AttributeError):
        gdb_major = 0
    if 0 < gdb_major < 12:
        warnings.append("gdb %s is older than 12, which is the oldest we test" % gdb.VERSION)

    try:
        from gdb_rr_dmabuf import __version__
        from gdb_rr_dmabuf.commands import COMMANDS, register
        first = register()
    except Exception as e:  # one line, no traceback: say what broke and how to get details
        gdb.write("gdb-rr-dmabuf: could not load (%s: %s); run %s/tools/install.sh, or set "
                  "GDB_RR_DMABUF_DEBUG=1 for the traceback\n" % (type(e).__name__, e, _here), gdb.STDERR)
        if os.environ.get("GDB_RR_DMABUF_DEBUG"):
            import traceback
            traceback.print_exc()
        return
    if not first:
        return
    for w in warnings:
        gdb.write("gdb-rr-dmabuf: warning: %s\n" % w, gdb.STDERR)
    if not os.environ.get("GDB_RR_DMABUF_QUIET"):
        gdb.write("gdb-rr-dmabuf %s: %s (help CMD for options)\n" % (__version__, ", ".join(COMMANDS)))
    _stop_hint(gdb)


def _stop_hint(gdb):
    """At a stop in an ioctl rr aborts on: one line, from the selected thread alone. Costs nothing when no
    process is stopped."""
    try:
        inferior = gdb.selected_inferior()
        if inferior.pid == 0 or gdb.selected_thread() is None:
            return
        from gdb_rr_dmabuf.commands.gdbtarget import ioctl_stop_hint
        from gdb_rr_dmabuf.commands.remote_memory import gather
        problem = gather(inferior, gdb.selected_thread())   # gdb 16+ over rr 5.8.0: memory unreadable
        if problem is not None:
            gdb.write("gdb-rr-dmabuf: %s: %s\n" % problem)
        line = ioctl_stop_hint()
    except Exception:  # a hint must never break loading
        if os.environ.get("GDB_RR_DMABUF_DEBUG"):
            import traceback
            traceback.print_exc()
        return
    if line:
        gdb.write("gdb-rr-dmabuf: %s\n" % line)


_gdb_rr_dmabuf_bootstrap()
