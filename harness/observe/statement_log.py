"""Exact statement timings of migration tools from the server's own log, where the harness runs the server.

Command migrations connect with PGOPTIONS="-c log_min_duration_statement=0", so the server logs every
statement they run with its duration; the server's log_line_prefix ('%n [%p] %a: ': epoch, pid, application)
lets the report pick those lines out of logs/postgres.log after the run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# Lines as core.postgres.LOG_LINE_PREFIX writes them.
_LINE = re.compile(r"^(?P<at>\d{9,}\.\d+) \[(?P<pid>\d+)\] (?P<app>[^:]*): (?P<level>[A-Z]+):  (?P<text>.*)$")
_DURATION = re.compile(r"^duration: (?P<ms>[\d.]+) ms  (?:statement|execute [^:]*): (?P<sql>.*)$", re.S)


def logged_statements(log: Path, application: str) -> list[dict[str, Any]]:
    """Statements `application` ran, from the server log: pid, sql, started, ended (epoch seconds)."""
    if not log.exists():
        return []
    found: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in log.read_text(errors="replace").splitlines():
        match = _LINE.match(line)
        if match is None:
            if current is not None:  # a multi-line statement continues without a prefix
                current["sql"] += "\n" + line
            continue
        current = None
        if match["app"] != application or match["level"] != "LOG":
            continue
        duration = _DURATION.match(match["text"])
        if duration is None:
            continue
        ended = float(match["at"])
        current = {"pid": int(match["pid"]), "sql": duration["sql"], "ended": ended,
                   "started": ended - float(duration["ms"]) / 1000}
        found.append(current)
    for row in found:
        row["sql"] = " ".join(row["sql"].split())
    return found
