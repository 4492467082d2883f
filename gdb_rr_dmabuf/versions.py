"""The two kinds of release this project compares, each parsed in one place.

RRVersion: an rr release, (major, minor, patch), from what users type and rr prints ('rr version 5.8.0',
'5.9', 'v5.9.1', 'rr version 5.9.0-23-gdb5faf83') and from the tags of rr_ioctls.json / rr_lines.json
('5.8.0', exactly). str() is the release text, '5.8.0'.

GoVersion: a Go release family, (1, minor), from what a binary's build info or runtime.buildVersion says
('go1.21.13', 'go1.24rc1', 'devel go1.25-1234abcd Tue Jan 1 ...', 'go1.23.4 X:nocoverageredesign') and from
the keys of the per-release tables ('1.23'). The runtime layouts, FuncID tables and wait reasons change only
with the minor release, so that is all it keeps. str() is the family, '1.23'.

Both are NamedTuples: they order and compare like the plain tuples callers pass ((5, 8, 0), (1, 21)).
Being tuples, they are formatted with str(v) or "%s" % (v,), never "%s" % v (that spreads the fields).
Parsing is bounded: at most 6 digits per number, and a regex that does not backtrack on long input.
"""
from __future__ import annotations

import re
from typing import NamedTuple, Optional, Sequence

# rr ---------------------------------------------------------------------------------------------------
_RR_NUMBERS = r"v?(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?(?!\d)"
_RR_SAID = re.compile(r"rr\s+version\s+" + _RR_NUMBERS)        # anywhere: `rr --version`'s line
_RR_LEADING = re.compile(r"(?:rr\s+version\s+)?" + _RR_NUMBERS)  # at the start (after blanks)
_RR_TAG = re.compile(r"(\d{1,6})\.(\d{1,6})\.(\d{1,6})")         # a release tag, whole


class RRVersion(NamedTuple):
    """An rr release. Orders like (major, minor, patch); str() is '5.8.0'."""
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return "%d.%d.%d" % (self.major, self.minor, self.patch)

    @classmethod
    def parse(cls, text: Optional[str]) -> Optional["RRVersion"]:
        """'rr version 5.8.0' (anywhere in the text), or text starting with '5.8.0', 'v5.9.1', '5.9' (a
        missing patch is 0) or '5.9.0-12-gdeadbeef'; None when there is no version there. Callers that
        read a user's input turn None into their own one-line UserError."""
        s = (text or "").strip()
        m = _RR_SAID.search(s) or _RR_LEADING.match(s)
        if not m:
            return None
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    @classmethod
    def from_tag(cls, tag: str) -> Optional["RRVersion"]:
        """A release tag of rr's tables, exactly 'X.Y.Z' ('5.8.0'); None for anything else ('master')."""
        m = _RR_TAG.fullmatch(tag)
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None

    @classmethod
    def of(cls, v: Sequence[int]) -> "RRVersion":
        """An RRVersion from one, or from a plain (major, minor, patch) tuple."""
        return v if isinstance(v, cls) else cls(*v)


# Go ---------------------------------------------------------------------------------------------------
_GO_SAID = re.compile(r"go1\.(\d+)")      # anywhere: 'go1.23.4', 'devel go1.25-abc ...', 'go version go1.x ...'
_GO_BARE = re.compile(r"\s*1\.(\d+)")     # at the start: '1.23.4', '1.23' (the tables' keys)
_GO_MAX_DIGITS = 6


class GoVersion(NamedTuple):
    """A Go release family: (1, minor). str() is '1.23'."""
    major: int
    minor: int

    def __str__(self) -> str:
        return "%d.%d" % (self.major, self.minor)

    @classmethod
    def parse(cls, text: Optional[str]) -> Optional["GoVersion"]:
        """'go1.23.4' / 'go1.24rc1' / 'devel go1.25-abc' / 'go1.23.4 X:exp' / '1.23.4' / '1.23' -> (1, 23);
        None when there is none, or its minor has more than 6 digits (no Go release; damage)."""
        if not text:
            return None
        m = _GO_SAID.search(text) or _GO_BARE.match(text)
        if m is None or len(m.group(1)) > _GO_MAX_DIGITS:
            return None
        return cls(1, int(m.group(1)))
