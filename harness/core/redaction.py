"""Redaction of secrets from everything the harness writes: logs (also its children's output), messages, reports.

A line is cleaned of the secrets this process knows (the database password, the plan's secret-looking env
values: `remember`), of DSN passwords and NAME=value pairs whose name says secret, and of what detect-secrets'
detectors recognise (basic-auth URLs, AWS keys, JWTs, private keys, quoted secret keywords).
"""

from __future__ import annotations

import re
import threading
from typing import Any

MASK = "***"
SECRET_NAME = r"[A-Za-z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL)[A-Za-z0-9_]*"
_PATTERNS = (
    re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]+(?=@)"),  # postgresql://user:PASSWORD@host
    re.compile(r"([a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+(?=@)", re.I),  # any URL with credentials
    re.compile(rf"(\b{SECRET_NAME}\b['\"]?\s*[=:]\s*['\"]?)[^\s'\",;&]+", re.I),  # PGPASSWORD=..., "token": "..."
    re.compile(r"(\bpassword\s*=\s*'?)[^\s']+", re.I),  # libpq keyword strings: password=...
    re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=\-]{8,}", re.I),  # Authorization headers
)
MIN_DETECTED = 6  # shorter "secrets" from the detectors are fragments (a regex group), not values

_known: set[str] = set()
_lock = threading.Lock()
_detectors: list[Any] | None = None


def remember(*secrets: str | None) -> None:
    """Redact these values from now on, wherever this process writes (empty and very short ones are ignored)."""
    with _lock:
        _known.update(s for s in secrets if s and len(s) >= 4)


def forget_all() -> None:
    with _lock:
        _known.clear()


def redact(text: str, *secrets: str) -> str:
    """`text` without the given secrets, the remembered ones, and anything that looks like a secret."""
    if not text:
        return text
    with _lock:
        known = sorted(_known.union(s for s in secrets if s), key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    for value in _detected(text):
        text = text.replace(value, MASK)
    return text


def _detected(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        if not line.strip() or line.strip() == MASK:
            continue
        for detector in _detector_set():
            try:
                secrets = detector.analyze_line(filename="rehearse.log", line=line, line_number=0)
            except Exception:  # noqa: BLE001,S112 - a detector's bug must not stop the log
                continue
            found += [s.secret_value for s in secrets if s.secret_value and len(s.secret_value) >= MIN_DETECTED
                      and s.secret_value != MASK]
    return found


def _detector_set() -> list[Any]:
    global _detectors
    if _detectors is None:
        try:
            from detect_secrets.plugins.aws import AWSKeyDetector
            from detect_secrets.plugins.basic_auth import BasicAuthDetector
            from detect_secrets.plugins.jwt import JwtTokenDetector
            from detect_secrets.plugins.keyword import KeywordDetector
            from detect_secrets.plugins.private_key import PrivateKeyDetector

            _detectors = [BasicAuthDetector(), AWSKeyDetector(), JwtTokenDetector(), PrivateKeyDetector(),
                          KeywordDetector()]
        except ImportError:  # the patterns above still apply
            _detectors = []
    return _detectors
