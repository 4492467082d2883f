#!/usr/bin/env bash
# The user install (not the test bench: no compilers, qemu, Go or pytest): makes dmabuf-why and
# go-callers available in your gdb, and the gdb-rr-dmabuf command (check, explain) on your PATH.
#   tools/install.sh            the runtime venv (pygments, for colour) for the Python gdb embeds,
#                               unless gdb's Python already imports it; then prints how to load it
#   tools/install.sh --gdbinit  also add `source .../gdbinit.py` to the init file gdb reads
#                               (printed before it is written; never twice)
# The venv goes to $GDB_RR_DMABUF_VENV, else ${XDG_DATA_HOME:-~/.local/share}/gdb-rr-dmabuf/venv,
# where gdbinit.py looks for it; the command to ${XDG_BIN_HOME:-~/.local/bin}/gdb-rr-dmabuf (the package's
# console script, as `pip install .` would make it). Needs gdb and python3-venv; uses PyPI through pip.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
gdbinit_py="$top/gdbinit.py"
add_gdbinit=0
for a in "$@"; do
  case "$a" in
    --gdbinit) add_gdbinit=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $a: see tools/install.sh --help" >&2; exit 2 ;;
  esac
done
say() { echo "install.sh: $*"; }

command -v gdb >/dev/null || { say "gdb is not installed: install it (Debian: apt-get install gdb), then run me again" >&2; exit 1; }
# The Python gdb embeds: its version, and whether it already imports what the commands use (pygments:
# ELF files are read by the package itself, no pyelftools).
probe=$(gdb -nx -q -batch -ex 'python
import importlib.util, sys
print("PY %d.%d %s" % (sys.version_info[0], sys.version_info[1], int(importlib.util.find_spec("pygments") is not None)))
' 2>&1 | grep '^PY ' || true)
if [ -z "$probe" ]; then
  say "this gdb has no Python support (gdb -batch -ex 'python print(1)' fails): install a gdb built with Python" >&2
  exit 1
fi
read -r _ pyver has_pygments <<<"$probe"
say "gdb $(gdb --version | head -1 | sed 's/^GNU gdb //') embeds Python $pyver"

cmd_py=""
if [ "$has_pygments" = 1 ]; then
  say "gdb's Python already imports pygments: no venv needed"
  cmd_py=$(command -v "python$pyver" || command -v python3 || true)
else
  venv=${GDB_RR_DMABUF_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/gdb-rr-dmabuf/venv}
  py=$(command -v "python$pyver" || true)
  if [ -z "$py" ]; then
    say "no python$pyver on PATH (the Python gdb embeds): install it (Debian: apt-get install python$pyver-venv)" >&2
    exit 1
  fi
  if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$pyver" ]; then
    say "$venv is for another Python; rebuilding it for Python $pyver"
    rm -rf "$venv"
  fi
  if [ ! -x "$venv/bin/python" ]; then
    if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
      say "python$pyver cannot make a venv: install python$pyver-venv (Debian: apt-get install python$pyver-venv), then run me again" >&2
      exit 1
    fi
    say "making the venv $venv (Python $pyver)"
    mkdir -p "$(dirname "$venv")"
    "$py" -m venv "$venv"
  fi
  if "$venv/bin/python" -c 'import pygments' 2>/dev/null; then
    say "pygments is in $venv already"
  else
    say "installing pygments into $venv (pip, from PyPI)"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check pygments
  fi
  cmd_py="$venv/bin/python"
fi

# Check it the way gdb will load it: one gdb, no init files, gdbinit.py sourced.
check=$(GDB_RR_DMABUF_QUIET= gdb -nx -q -batch -ex "source $gdbinit_py" \
  -ex 'python import pygments; print("DEPS OK")' 2>&1 || true)
if ! grep -q '^DEPS OK' <<<"$check" || grep -q 'gdb-rr-dmabuf: warning' <<<"$check"; then
  echo "$check" >&2
  say "gdb still cannot load everything (see above)" >&2
  exit 1
fi
say "checked: $(grep '^gdb-rr-dmabuf ' <<<"$check" | head -1)"

# The command line tool: `gdb-rr-dmabuf check -- PROG` and `gdb-rr-dmabuf explain rr.log`.
bindir=${XDG_BIN_HOME:-$HOME/.local/bin}
if [ -n "$cmd_py" ]; then
  mkdir -p "$bindir"
  tmp="$bindir/.gdb-rr-dmabuf.$$"
  printf '#!/bin/sh\n# gdb-rr-dmabuf: written by %s (the console script of the gdb_rr_dmabuf package)\nPYTHONPATH=%q${PYTHONPATH:+:$PYTHONPATH} exec %q -m gdb_rr_dmabuf "$@"\n' \
    "$top/tools/install.sh" "$top" "$cmd_py" >"$tmp"
  chmod 755 "$tmp"
  mv "$tmp" "$bindir/gdb-rr-dmabuf"
  say "the command: $bindir/gdb-rr-dmabuf (check, explain)"
  case ":$PATH:" in
    *":$bindir:"*) ;;
    *) say "$bindir is not on your PATH: add it (e.g. in ~/.profile: export PATH=\"$bindir:\$PATH\")" ;;
  esac
fi

line="source $gdbinit_py"
if [ "$add_gdbinit" = 1 ]; then
  # The user init file gdb reads (gdb --help names it; ~/.config/gdb/gdbinit wins over ~/.gdbinit).
  init=$(gdb --help | sed -n 's/^ *\* user-specific init file: //p' | head -1)
  init=${init:-$HOME/.gdbinit}
  if [ -f "$init" ] && grep -qxF "$line" "$init"; then
    say "$init already has: $line"
  else
    say "adding to $init: $line"
    printf '%s\n' "$line" >>"$init"
  fi
fi

echo
echo "To load the commands at rr's emergency stop, add this to the gdb command rr prints:"
echo "    -x $gdbinit_py"
echo "for example:"
echo "    gdb '-l' '10000' '-ex' 'set sysroot /' '-ex' 'target extended-remote 127.0.0.1:PORT' /path/to/prog -x $gdbinit_py"
echo "(at the end, so it loads at the stop and says which thread is in the ioctl), or type at the (gdb) prompt:"
echo "    $line"
