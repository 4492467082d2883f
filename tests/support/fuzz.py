"""The fuzz suite's harness: one property, a watchdog, mutations, and the figures.

The property (tests/test_fuzz_*.py): every entry point, given damaged input, returns a result or raises
the project's UserError whose text is one non-empty line (what the commands print as
`COMMAND: what is wrong: what to do`); never another exception, never longer than CAP seconds.

    outcome = check("cores", lambda: CoreTarget(path))

check() runs the call under a SIGALRM watchdog (a Hang derives from BaseException, so no
`except Exception` in the code under test can swallow it; the wall time is checked too), files the
outcome under its target's figures and raises AssertionError on a violation, so hypothesis shrinks
the input that caused it. Figures per target (inputs, results, user errors, internal errors, hangs,
detected damage, answers changed without a warning, slowest input) accumulate in FIGURES and are
written to .cache/fuzz/figures.json at the end of each test module; `python -m tests.support.fuzz`
prints them.

Mutations are lists of (region, offset, op, value) from hypothesis strategies (mutations()), applied
by apply(): bit flips, bytes set, 2/4/8-byte fields set to extremes (0, 1, 2**31-1, 2**63 +/- 1,
2**64-1, the file's size), and truncation.
"""
from __future__ import annotations

import json
import os
import signal
import struct
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from gdb_rr_dmabuf.errors import UserError

REPO = Path(__file__).resolve().parents[2]
FIGURES_FILE = Path(os.environ.get("GDB_RR_DMABUF_FUZZ_FIGURES") or REPO / ".cache" / "fuzz" / "figures.json")

# Seconds one input may take (the machine is shared: typical inputs take 1-100 ms).
CAP = float(os.environ.get("GDB_RR_DMABUF_FUZZ_CAP", "10"))
# Multiplies every target's number of examples (1 in CI: the whole suite stays within a few minutes).
SCALE = float(os.environ.get("GDB_RR_DMABUF_FUZZ_SCALE", "1"))
MAX_LINE = 1000  # characters: an error "line" longer than this is not a clear line
# GDB_RR_DMABUF_FUZZ_COUNT_ONLY=1: count violations instead of failing on the first (to measure a
# version of the code, e.g. the one before the fixes: the figures file then says what it would hit).
COUNT_ONLY = os.environ.get("GDB_RR_DMABUF_FUZZ_COUNT_ONLY") == "1"


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


def settings_for(n: int):
    """hypothesis settings for a target: n examples (times SCALE), seeded (derandomize: the same inputs
    every run, so CI is reproducible), no deadline (check() has its own cap), no example database."""
    from hypothesis import HealthCheck, settings
    return settings(max_examples=examples(n), derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


class Hang(BaseException):
    """Raised by the watchdog inside a call that ran past CAP."""


@dataclass
class Figures:
    inputs: int = 0
    results: int = 0
    user_errors: int = 0
    internal_errors: int = 0
    hangs: int = 0
    bad_lines: int = 0          # a UserError whose text is empty, several lines or very long
    detected: int = 0           # damage the code noticed: a UserError, or a warning in a result
    changed_quietly: int = 0    # an answer that differs from the intact input's, with no warning
    slowest: float = 0.0
    seconds: float = 0.0
    samples: List[str] = field(default_factory=list)  # first few violations, for the report
    where: Dict[str, int] = field(default_factory=dict)  # internal errors per exception type and line

    def add(self, other: "Figures") -> None:
        for k in ("inputs", "results", "user_errors", "internal_errors", "hangs", "bad_lines", "detected",
                  "changed_quietly", "seconds"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.slowest = max(self.slowest, other.slowest)
        self.samples = (self.samples + other.samples)[:5]
        for k, v in other.where.items():
            self.where[k] = self.where.get(k, 0) + v


FIGURES: Dict[str, Figures] = {}


def figures(target: str) -> Figures:
    return FIGURES.setdefault(target, Figures())


def _on_alarm(signum, frame):
    raise Hang()


@dataclass
class Outcome:
    kind: str                    # 'result' | 'user_error' ('violation' only with COUNT_ONLY)
    value: Any = None            # the result, or the UserError
    seconds: float = 0.0

    @property
    def error(self) -> Optional[UserError]:
        return self.value if self.kind == "user_error" else None


def line_problem(e: UserError) -> Optional[str]:
    """Why a UserError's text is not one clear line, or None when it is."""
    text = str(e)
    if not text.strip() or not (e.what or "").strip():
        return "empty error text"
    if "\n" in text or "\r" in text:
        return "error text has several lines: %r" % text[:200]
    if len(text) > MAX_LINE:
        return "error text of %d characters" % len(text)
    if "internal error" in text:
        return "error text says internal error: %r" % text[:200]
    return None


def check(target: str, fn: Callable[[], Any], what: str = "", cap: float = CAP,
          warned: Optional[Callable[[Any], bool]] = None) -> Outcome:
    """Run fn() once under the property; file the outcome under target. AssertionError on a violation
    (internal error, hang, bad error line). warned(result) -> True counts a result as detected damage."""
    fig = figures(target)
    fig.inputs += 1
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, cap)
    t0 = time.perf_counter()
    problem = None
    out = None
    try:
        try:
            res = fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        out = Outcome("result", res)
    except UserError as e:
        out = Outcome("user_error", e)
        p = line_problem(e)
        if p is not None:
            fig.bad_lines += 1
            problem = p
    except Hang:
        fig.hangs += 1
        problem = "no answer after %.1f s" % cap
    except Exception as e:  # the property's failure: anything but UserError
        fig.internal_errors += 1
        tb = traceback.extract_tb(sys.exc_info()[2])
        ours = [fr for fr in tb if "gdb_rr_dmabuf" in fr.filename] or tb
        where = "%s:%d" % (os.path.relpath(ours[-1].filename, str(REPO)), ours[-1].lineno) if ours else "?"
        problem = "internal error %s: %s at %s" % (type(e).__name__, str(e)[:200], where)
        key = "%s at %s" % (type(e).__name__, where)
        fig.where[key] = fig.where.get(key, 0) + 1
    finally:
        signal.signal(signal.SIGALRM, old)
    dt = time.perf_counter() - t0
    fig.seconds += dt
    fig.slowest = max(fig.slowest, dt)
    if problem is None and dt > cap:
        fig.hangs += 1
        problem = "took %.1f s (cap %.1f s)" % (dt, cap)
    if problem is None:
        assert out is not None
        out.seconds = dt
        if out.kind == "result":
            fig.results += 1
            if warned is not None and warned(out.value):
                fig.detected += 1
        else:
            fig.user_errors += 1
            fig.detected += 1
        return out
    if len(fig.samples) < 5:
        fig.samples.append("%s%s" % (problem, (" [" + what + "]") if what else ""))
    if COUNT_ONLY:
        return Outcome("violation", problem, dt)
    raise AssertionError("%s: %s%s" % (target, problem, (" [" + what + "]") if what else ""))


def note_changed_quietly(target: str) -> None:
    figures(target).changed_quietly += 1


# ------------------------------------------------------------------------------------ figures file
def save_figures() -> None:
    """Merge this process's figures into .cache/fuzz/figures.json (one entry per target, replaced)."""
    if not FIGURES:
        return
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    try:
        old = json.loads(FIGURES_FILE.read_text())
    except (OSError, ValueError):
        old = {}
    for name, fig in FIGURES.items():
        d = asdict(fig)
        d["seconds"] = round(d["seconds"], 2)
        d["slowest"] = round(d["slowest"], 3)
        d["scale"] = SCALE
        old[name] = d
    tmp = FIGURES_FILE.with_name(FIGURES_FILE.name + ".tmp%d" % os.getpid())
    tmp.write_text(json.dumps(old, indent=1, sort_keys=True))
    tmp.rename(FIGURES_FILE)



try:  # the harness runs outside pytest too (`python -m tests.support.fuzz`)
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="module", autouse=True)
    def figures_saved_after_module():
        """Writes the figures when a fuzz module's tests are done: import it into the test module."""
        yield
        save_figures()


def print_figures(path: Path = FIGURES_FILE) -> None:
    data = json.loads(path.read_text())
    cols = ("inputs", "results", "user_errors", "internal_errors", "hangs", "detected", "changed_quietly",
            "slowest", "seconds")
    rows = [("target",) + cols]
    total = Figures()
    for name in sorted(data):
        d = data[name]
        rows.append((name,) + tuple(str(d.get(c, "")) for c in cols))
        total.add(Figures(**{k: d[k] for k in asdict(Figures()) if k in d}))
    t = asdict(total)
    rows.append(("total",) + tuple(str(round(t[c], 2) if isinstance(t[c], float) else t[c]) for c in cols))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))


# ------------------------------------------------------------------------------------ mutations
EXTREMES = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x7FFFFFFFFFFF,
            (1 << 63) - 1, 1 << 63, (1 << 63) + 1, (1 << 64) - 1)


def mutations(regions: Sequence[Tuple[int, int]], max_ops: int = 4, truncate: bool = True):
    """hypothesis strategy of a list of mutations inside the given (start, length) byte regions of a
    file: ('flip', off, bit), ('byte', off, v), ('int', off, (width, value)), ('cut', off, 0)."""
    from hypothesis import strategies as st

    regions = [(s, max(1, n)) for s, n in regions]

    def in_region(draw_region):
        s, n = draw_region
        return st.integers(0, n - 1).map(lambda o, s=s: s + o)

    offset = st.sampled_from(regions).flatmap(in_region)
    extreme = st.one_of(st.sampled_from(EXTREMES), st.integers(0, (1 << 64) - 1))
    op = st.one_of(
        st.tuples(st.just("flip"), offset, st.integers(0, 7)),
        st.tuples(st.just("byte"), offset, st.integers(0, 255)),
        st.tuples(st.just("int"), offset, st.tuples(st.sampled_from((2, 4, 8)), extreme)),
    )
    ops = [op]
    if truncate:
        ops.append(st.tuples(st.just("cut"), offset, st.just(0)))
    return st.lists(st.one_of(*ops), min_size=1, max_size=max_ops)


def apply(data: bytes, muts: Sequence[Tuple[str, int, Any]]) -> bytes:
    """The bytes after the mutations (in order; a 'cut' truncates at its offset)."""
    b = bytearray(data)
    for kind, off, v in muts:
        if off >= len(b):
            continue
        if kind == "flip":
            b[off] ^= 1 << v
        elif kind == "byte":
            b[off] = v
        elif kind == "int":
            width, value = v
            value &= (1 << (8 * width)) - 1
            raw = value.to_bytes(width, "little")
            b[off:off + width] = raw[:max(0, len(b) - off)]
        elif kind == "cut":
            del b[off:]
    return bytes(b)


def patch_file(path: Path, data: bytes, base: bytes, muts: Sequence[Tuple[str, int, Any]]) -> None:
    """Write base mutated by muts to path as a new file (a new inode: mappings of an older file at the
    same path stay valid)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data if data is not None else apply(base, muts))
    os.replace(str(tmp), str(path))


def u64(b: bytes, off: int) -> int:
    return struct.unpack_from("<Q", b, off)[0]


if __name__ == "__main__":
    print_figures(Path(sys.argv[1]) if len(sys.argv) > 1 else FIGURES_FILE)
