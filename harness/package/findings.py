"""A finding of the preflight: file, line, kind, severity, a redacted excerpt, and what happens about it.

A Hit is a finding with where exactly it is (the quarantine acts on it); its `value` may be a secret and is
never printed, streamed or written into a report. Excerpts are redacted: secrets found in the package, DSN
passwords, URL user info and query strings are masked before an excerpt exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.core.text import redact

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
EXCERPT_CHARS = 120
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.\-]*://)[^\s/@'\"]+@", re.I)
_QUERY = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s?'\"#]*\?)[^\s'\"#]+", re.I)


@dataclass(frozen=True)
class Finding:
    file: str  # path inside the package; "" for the package as a whole
    line: int | None
    kind: str
    severity: Severity
    excerpt: str  # redacted
    message: str
    blocking: bool = False  # D-day must not go ahead with it (preflight exits 1)
    quarantine: str | None = None  # what the rehearsal does about it: disable_cron, disable_timer, ...

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file or "(package)"


@dataclass(frozen=True)
class Hit:
    """A finding and its exact place; `value` (possibly a secret) is for the quarantine alone."""

    finding: Finding
    start: int = -1  # span of `value` in its line
    end: int = -1
    value: str = field(default="", repr=False)
    end_line: int | None = None  # a multi-line value (a private key block) ends there
    data: dict[str, str] = field(default_factory=dict)  # scanner's details (host, scheme, unit name, ...)


def masked(secret: str) -> str:
    """A secret as it may be shown: its first characters when it is long enough to stay secret, and its length."""
    keep = 4 if len(secret) >= 16 else 0
    return f"{secret[:keep]}…[redacted, {len(secret)} chars]"


def excerpt(line: str, secrets: Sequence[str] = ()) -> str:
    """`line` folded, with every secret of `secrets`, DSN passwords, URL user info and query strings masked."""
    text = line
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, masked(secret))
    text = redact(text)
    text = _USERINFO.sub(r"\1***@", text)
    text = _QUERY.sub(r"\1…", text)
    folded = " ".join(text.split())
    return folded if len(folded) <= EXCERPT_CHARS else folded[:EXCERPT_CHARS - 1] + "…"
