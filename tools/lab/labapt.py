"""The lab's apt: a private apt configuration for trixie (.cache/lab/apt-DEBARCH/), whose mirror is read
from the host's /etc/apt/sources.list.d/debian.sources (or sources.list) at run time; the host's own apt
setup is never touched and no trixie package is installed on the host. Lists are refreshed when older than
LAB_APT_MAX_AGE seconds (default 1 day).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from labcore import CACHE, LabError, _run, _say



def host_mirror() -> str:
    """The Debian mirror URI the host's apt uses (deb822 debian.sources first, then sources.list)."""
    src = Path(os.environ.get("LAB_APT_SOURCES", "/etc/apt/sources.list.d/debian.sources"))
    uris: List[str] = []
    if src.exists():
        for stanza in re.split(r"\n\s*\n", src.read_text(errors="replace")):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
            suites = fields.get("suites", "").split()
            if fields.get("uris") and any(not s.endswith("-security") for s in suites):
                uris += fields["uris"].split()
    legacy = Path("/etc/apt/sources.list")
    if not uris and legacy.exists():
        for line in legacy.read_text(errors="replace").splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and not m.group(2).endswith("-security"):
                uris.append(m.group(1))
    uris = [u for u in uris if "security" not in u]
    if not uris:
        raise LabError("lab: no Debian mirror found in %s or /etc/apt/sources.list: add one (the lab reads "
                       "trixie from the host's own mirror)" % src)
    return uris[0].rstrip("/")


class Apt:
    """A private apt configuration for trixie on one Debian architecture."""

    def __init__(self, debarch: str):
        self.debarch = debarch
        self.dir = CACHE / ("apt-" + debarch)
        self.mirror = host_mirror()
        for d in ("lists/partial", "cache/archives/partial", "etc/preferences.d", "etc/apt.conf.d"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        self.sources = self.dir / "etc" / "sources.list"
        line = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n" % self.mirror)
        if not self.sources.exists() or self.sources.read_text() != line:
            self.sources.write_text(line)
        self.status = self.dir / "status"
        if not self.status.exists():
            self.status.write_text("")

    def opts(self) -> List[str]:
        d = self.dir
        return ["-q", "-o", "Dir::Etc::sourcelist=%s" % self.sources, "-o", "Dir::Etc::sourceparts=-",
                "-o", "Dir::Etc::preferencesparts=%s" % (d / "etc" / "preferences.d"),
                "-o", "Dir::Etc::parts=%s" % (d / "etc" / "apt.conf.d"),
                "-o", "Dir::State::Lists=%s" % (d / "lists"), "-o", "Dir::State::status=%s" % self.status,
                "-o", "Dir::Cache=%s" % (d / "cache"), "-o", "Debug::NoLocking=1",
                "-o", "Dir::Cache::pkgcache=%s" % (d / "cache" / "pkgcache.bin"),
                "-o", "Dir::Cache::srcpkgcache=%s" % (d / "cache" / "srcpkgcache.bin"),
                "-o", "APT::Architecture=%s" % self.debarch, "-o", "APT::Architectures::=%s" % self.debarch,
                "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=2"]

    def inrelease(self) -> Optional[Path]:
        found = sorted((self.dir / "lists").glob("*_dists_trixie_InRelease"))
        return found[0] if found else None

    def update(self, max_age: Optional[float] = None) -> None:
        if max_age is None:
            max_age = float(os.environ.get("LAB_APT_MAX_AGE", 86400))
        rel = self.inrelease()
        if rel is not None and time.time() - rel.stat().st_mtime < max_age:
            return
        _say("apt-get update (trixie from %s)" % self.mirror)
        try:
            _run(["apt-get"] + self.opts() + ["update"], "trixie's package lists from %s" % self.mirror,
                 "check the network and the host's /etc/apt/sources.list.d/debian.sources", 300)
        except LabError:
            if rel is None:
                raise
            _say("apt-get update failed; using the lists from %s" % time.ctime(rel.stat().st_mtime))
            return
        rel = self.inrelease()
        if rel is not None:
            os.utime(rel)

    def simulate(self, pkgs: Sequence[str]) -> List[Tuple[str, str]]:
        p = _run(["apt-get"] + self.opts() + ["-s", "--no-install-recommends", "install"] + list(pkgs),
                 "resolving trixie packages", "check the package names in tools/lab/labbuild.py PACKAGES", 300)
        out = []
        for line in p.stdout.splitlines():
            m = re.match(r"^Inst (\S+) \((\S+) ", line)
            if m:
                out.append((m.group(1).split(":")[0], m.group(2)))
        return sorted(out)

    def show(self, pkg: str) -> Dict[str, str]:
        p = _run(["apt-cache"] + self.opts() + ["show", "--no-all-versions", pkg], "apt-cache show %s" % pkg,
                 "check the package name", 120)
        fields: Dict[str, str] = {}
        for line in p.stdout.splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, _, v = line.partition(":")
                fields.setdefault(k, v.strip())
        return fields

    def download(self, pkg: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        _run(["apt-get"] + self.opts() + ["download", pkg], "downloading %s from %s" % (pkg, self.mirror),
             "check the network; the package may have left trixie (delete .cache/lab/apt-%s/lists to refresh)"
             % self.debarch, 600, cwd=str(dest))
        debs = sorted(dest.glob(pkg.split("=")[0] + "_*.deb"))
        if not debs:
            raise LabError("lab: downloading %s: no .deb appeared in %s: check apt's output" % (pkg, dest))
        return debs[-1]
