"""Findings for the engine's finding lifecycle, in the shape the Rust
measures write (``smm_reports::Finding``).

A scanning measure lists its findings in its details as
``"findings": [{"fingerprint", "severity", "fixable"?, "kev"?, "epss"?}]``:
the engine takes the list out of the stored details and follows each
fingerprint from scan to scan (``smm findings``). A clean scan lists none
(``[]``): it fixes everything that was open.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Severities, worst first, as the engine spells them.
SEVERITIES = ("critical", "high", "medium", "low", "info", "unknown")

#: Longest fingerprint the engine accepts, in bytes.
MAX_FINGERPRINT = 512

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x00000100000001B3
_MASK = (1 << 64) - 1


def fnv1a(data: bytes) -> int:
    """64-bit FNV-1a (the hash the Rust measures use in fingerprints)."""
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK
    return h


def bounded_fingerprint(fingerprint: str) -> str:
    """At most :data:`MAX_FINGERPRINT` bytes (UTF-8): a longer fingerprint
    keeps its head and replaces the rest by ``#`` and the rest's FNV-1a hash
    (16 hex digits), as ``smm_reports::bounded_fingerprint`` does."""
    raw = fingerprint.encode("utf-8")
    if len(raw) <= MAX_FINGERPRINT:
        return fingerprint
    cut = MAX_FINGERPRINT - 17
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # not a character boundary
        cut -= 1
    return raw[:cut].decode("utf-8") + f"#{fnv1a(raw[cut:]):016x}"


def severity(word: str) -> str:
    """A scanner's word for a severity, case-insensitively, in the engine's
    scale (``smm_reports::Severity::from_word``); anything else is
    ``unknown``."""
    w = word.strip().lower()
    if w == "critical":
        return "critical"
    if w in ("high", "error"):
        return "high"
    if w in ("medium", "moderate", "warning"):
        return "medium"
    if w in ("low", "note"):
        return "low"
    if w in ("info", "informational", "negligible", "none"):
        return "info"
    return "unknown"


@dataclass
class Finding:
    """One finding: a fingerprint stable from scan to scan while the finding
    is there, and its severity (one of :data:`SEVERITIES`)."""

    fingerprint: str
    severity: str
    fixable: bool = False
    """A fixed version exists (SCA)."""
    kev: bool = False
    """Listed in CISA's Known Exploited Vulnerabilities catalogue."""
    epss: float | None = None
    """EPSS probability (0-1), when the report carries it."""

    def __post_init__(self) -> None:
        self.fingerprint = bounded_fingerprint(self.fingerprint)
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")

    def to_json(self) -> dict:
        """As the engine reads it (false flags and a missing EPSS left out)."""
        out: dict = {"fingerprint": self.fingerprint, "severity": self.severity}
        if self.fixable:
            out["fixable"] = True
        if self.kev:
            out["kev"] = True
        if self.epss is not None:
            out["epss"] = self.epss
        return out


class Findings:
    """Findings, one per fingerprint, in the order first seen: a finding
    listed twice is kept once, with the worst of what both said."""

    def __init__(self) -> None:
        self._list: list[Finding] = []
        self._index: dict[str, int] = {}

    def add(self, finding: Finding) -> None:
        i = self._index.get(finding.fingerprint)
        if i is None:
            self._index[finding.fingerprint] = len(self._list)
            self._list.append(finding)
            return
        kept = self._list[i]
        if SEVERITIES.index(finding.severity) < SEVERITIES.index(kept.severity):
            kept.severity = finding.severity
        kept.fixable = kept.fixable or finding.fixable
        kept.kev = kept.kev or finding.kev
        if finding.epss is not None:
            kept.epss = finding.epss if kept.epss is None else max(kept.epss, finding.epss)

    def __len__(self) -> int:
        return len(self._list)

    def __iter__(self):
        return iter(self._list)

    def to_json(self) -> list[dict]:
        return [f.to_json() for f in self._list]
