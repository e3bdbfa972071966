"""Read the server's own log (logs/postgres.log) back: one entry per message, with its backend, application,
SQLSTATE and time, and the lines that belong to it (DETAIL, HINT, STATEMENT, a statement's continuation).

The server writes lines with core.postgres.LOG_LINE_PREFIX ('%n [%p] %e %a: '); lines of older runs lack the
SQLSTATE ('%n [%p] %a: ') and are read too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HARNESS_APPLICATION_PREFIX = "rehearse-"  # the harness's own backends (core.postgres)
_LINE = re.compile(r"^(?P<at>\d{9,}\.\d+) \[(?P<pid>\d+)\] (?:(?P<sqlstate>[0-9A-Z]{5}) )?(?P<app>[^:]*): "
                   r"(?P<level>[A-Z]+):  (?P<text>.*)$")
_ERROR_LEVELS = ("ERROR", "FATAL", "PANIC")
_PARTS = ("DETAIL", "HINT", "CONTEXT", "STATEMENT", "QUERY", "LOCATION")


@dataclass
class LogEntry:
    """One message of the server: its level (LOG, ERROR, ...), text, and the parts that followed it."""

    at: float
    pid: int
    application: str
    sqlstate: str | None
    level: str
    text: str
    parts: dict[str, str] = field(default_factory=dict)  # DETAIL, HINT, STATEMENT, ...

    @property
    def is_error(self) -> bool:
        return self.level in _ERROR_LEVELS

    @property
    def from_harness(self) -> bool:
        return self.application.startswith(HARNESS_APPLICATION_PREFIX)


def entries(log: Path) -> Iterator[LogEntry]:
    """Every entry of the server log, in order (nothing when there is no log)."""
    if not log.exists():
        return
    current: LogEntry | None = None
    part: str | None = None
    with open(log, encoding="utf-8", errors="replace") as lines:
        for raw in lines:
            line = raw.rstrip("\n")
            match = _LINE.match(line)
            if match is None:
                if current is not None:  # a multi-line message or statement continues without a prefix
                    if part is None:
                        current.text += "\n" + line
                    else:
                        current.parts[part] += "\n" + line
                continue
            level, text = match["level"], match["text"]
            if current is not None and level in _PARTS and int(match["pid"]) == current.pid:
                part = level
                current.parts[part] = text
                continue
            if current is not None:
                yield current
            current = LogEntry(float(match["at"]), int(match["pid"]), match["app"], match["sqlstate"], level, text)
            part = None
    if current is not None:
        yield current


def server_errors(log: Path, include_harness: bool = False) -> list[LogEntry]:
    """ERROR / FATAL entries with a SQLSTATE: the service's (and, when asked, the harness's own backends')."""
    return [e for e in entries(log) if e.is_error and e.sqlstate and (include_harness or not e.from_harness)]
