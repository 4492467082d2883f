#!/usr/bin/env bash
# The test suite: installs what it needs (tools/bootstrap.sh), then runs pytest in the project venv.
# Extra arguments go to pytest (e.g. tools/test.sh -k why -x).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/bootstrap.sh"
cd "$top"
exec .venv/bin/python -m pytest -ra --durations=25 "$@"
