"""Exact statement timings of migration tools from the server's own log, where the harness runs the server.

Command migrations connect with PGOPTIONS="-c log_min_duration_statement=0", so the server logs every
statement they run with its duration; the server's log_line_prefix (epoch, pid, SQLSTATE, application) lets
the report pick those lines out of logs/postgres.log after the run. A statement that fails is not logged with
a duration: its ERROR and STATEMENT lines say what it was and why it failed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.observe.server_log import entries

_DURATION = re.compile(r"^duration: (?P<ms>[\d.]+) ms  (?:statement|execute [^:]*): (?P<sql>.*)$", re.S)


def logged_statements(log: Path, application: str) -> list[dict[str, Any]]:
    """Statements `application` ran, from the server log: pid, sql, started, ended (epoch seconds), and for a
    statement that failed, its sqlstate and error (ended: when it failed; started: unknown, so the same)."""
    found: list[dict[str, Any]] = []
    for entry in entries(log):
        if entry.application != application:
            continue
        if entry.level == "LOG":
            duration = _DURATION.match(entry.text)
            if duration is None:
                continue
            found.append({"pid": entry.pid, "sql": duration["sql"], "ended": entry.at,
                          "started": entry.at - float(duration["ms"]) / 1000})
        elif entry.is_error and "STATEMENT" in entry.parts:
            found.append({"pid": entry.pid, "sql": entry.parts["STATEMENT"], "ended": entry.at, "started": entry.at,
                          "sqlstate": entry.sqlstate, "error": entry.text.strip()})
    for row in found:
        row["sql"] = " ".join(row["sql"].split())
    return found
