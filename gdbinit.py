"""Load gdb-rr-dmabuf into gdb:  (gdb) source /path/to/gdbinit.py   or   gdb -x /path/to/gdbinit.py ...

Bootstrap only: find the project's venv, check that gdb's Python can use it, put the package and the
venv's site-packages on sys.path, register the commands, print one line. Sourcing it twice is harmless.
Environment: GDB_RR_DMABUF_VENV (another venv), GDB_RR_DMABUF_QUIET=1 (no banner).
"""
import glob
import importlib.util
import os
import sys

try:
    _here = os.path.dirname(os.path.abspath(__file__))
except NameError:  # gdb always sets __file__ when sourcing; be safe
    _here = os.getcwd()


def _gdb_rr_dmabuf_bootstrap():
    import gdb  # noqa: F401

    warnings = []
    if sys.version_info < (3, 9):
        gdb.write("gdb-rr-dmabuf: gdb embeds Python %d.%d; 3.9 or newer is needed: use a newer gdb\n"
                  % sys.version_info[:2], gdb.STDERR)
        return
    venv = os.environ.get("GDB_RR_DMABUF_VENV") or os.path.join(_here, ".venv")
    mine = "%d.%d" % sys.version_info[:2]
    site = glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))
    venv_ver = None
    try:
        with open(os.path.join(venv, "pyvenv.cfg")) as f:
            for line in f:
                k, _, v = line.partition("=")
                if k.strip() in ("version", "version_info"):
                    venv_ver = ".".join(v.strip().split(".")[:2])
    except OSError:
        pass
    if not site:
        warnings.append("no venv at %s: plain output, and go-callers needs pyelftools; run %s/tools/bootstrap.sh"
                        % (venv, _here))
    elif venv_ver and venv_ver != mine:
        warnings.append("the venv at %s is for Python %s but gdb embeds Python %s: not used; rebuild it with "
                        "gdb's Python (%s/tools/bootstrap.sh does)" % (venv, venv_ver, mine, _here))
    else:
        for s in site:
            if s not in sys.path:
                sys.path.append(s)  # after gdb's own paths: the system's packages keep priority
    if _here not in sys.path:
        sys.path.insert(0, _here)
    missing = []
    for mod, dist in (("elftools", "pyelftools"), ("pygments", "pygments")):
        if importlib.util.find_spec(mod) is None:  # no import: start-up time matters
            missing.append(dist)
    if missing and not warnings:
        warnings.append("missing %s: plain output%s; run %s/tools/bootstrap.sh"
                        % (", ".join(missing), ", no go-callers" if "pyelftools" in missing else "", _here))
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
        gdb.write("gdb-rr-dmabuf: could not load (%s: %s); run %s/tools/bootstrap.sh, or set "
                  "GDB_RR_DMABUF_DEBUG=1 for the traceback\n" % (type(e).__name__, e, _here), gdb.STDERR)
        if os.environ.get("GDB_RR_DMABUF_DEBUG"):
            import traceback
            traceback.print_exc()
        return
    for w in warnings:
        gdb.write("gdb-rr-dmabuf: warning: %s\n" % w, gdb.STDERR)
    if first and not os.environ.get("GDB_RR_DMABUF_QUIET"):
        gdb.write("gdb-rr-dmabuf %s: %s (help CMD for options)\n" % (__version__, ", ".join(COMMANDS)))


_gdb_rr_dmabuf_bootstrap()
