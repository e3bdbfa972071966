"""Access log lines to entries: nginx/Apache combined (and common) format, or JSON lines.

Combined: `IP IDENT USER [10/Oct/2026:13:55:36 +0000] "GET /path HTTP/1.1" STATUS BYTES "REFERER" "AGENT"`,
optionally followed by the request's duration in seconds (nginx's `$request_time` appended to the format, as a
bare number or `rt=`/`request_time=`). Its time is the log's, at one-second resolution.

JSON lines: one object per line. The keys read (the first present of each list wins):
  time: time, timestamp, @timestamp, time_iso8601, time_local, ts, msec (ISO 8601, epoch seconds (or ms when
        above 1e11), or combined's `10/Oct/2026:13:55:36 +0000`)
  method: method, request_method;  path: path, uri, request_uri, url (or `request`: "GET /path HTTP/1.1")
  status: status, status_code;  client: remote_addr, client_ip, ip, client;  agent: user_agent, http_user_agent,
  agent;  duration in seconds: request_time, duration, response_time; in ms: duration_ms, request_time_ms,
  response_time_ms
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.core.errors import InputError

FORMATS = ("auto", "combined", "json")
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_COMBINED = re.compile(rf'^(\S+) \S+ \S+ \[([^\]]+)\] {_QUOTED} (\d{{3}}) (\S+)(?: {_QUOTED} {_QUOTED})?(.*)$')
_TRAILING_DURATION = re.compile(r"^\s*(?:(?:rt|request_time)=)?(\d+(?:\.\d+)?)\b")
_METHOD = re.compile(r"[A-Z][A-Z_-]{1,19}")
TIME_KEYS = ("time", "timestamp", "@timestamp", "time_iso8601", "time_local", "ts", "msec")
METHOD_KEYS = ("method", "request_method")
PATH_KEYS = ("path", "uri", "request_uri", "url")
STATUS_KEYS = ("status", "status_code")
CLIENT_KEYS = ("remote_addr", "client_ip", "ip", "client")
AGENT_KEYS = ("user_agent", "http_user_agent", "agent")
SECONDS_KEYS = ("request_time", "duration", "response_time")
MS_KEYS = ("duration_ms", "request_time_ms", "response_time_ms")
SNIFF_LINES = 20


@dataclass(frozen=True)
class Entry:
    """One request of an access log."""

    at: float  # epoch seconds
    method: str
    target: str  # the request target as logged (path and query)
    status: int
    duration_s: float | None  # None: the log does not say
    client: str  # client address and user agent: a session's key


@dataclass(frozen=True)
class ParsedLog:
    """One log file read: its format, its entries, and how many non-empty lines could not be parsed."""

    path: Path
    format: str
    lines: int
    entries: list[Entry]
    unparsed: int


def read_log(path: Path, log_format: str = "auto") -> ParsedLog:
    """Every entry of one access log (gzip when it ends in .gz). Bad input: InputError naming the file."""
    try:
        lines = [line for line in _lines(path) if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(path, "", f"cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    if not lines:
        raise InputError(path, "", "no parsable line (the file is empty)")
    kind = sniff(lines[:SNIFF_LINES]) if log_format == "auto" else log_format
    if kind is None:
        raise InputError(path, "", "unknown format: its first lines are neither nginx/Apache combined log lines "
                         "nor JSON objects (rehearse profile reads those two)")
    parse = parse_combined if kind == "combined" else parse_json
    entries = [entry for entry in map(parse, lines) if entry is not None]
    if not entries:
        raise InputError(path, "", f"no parsable line: none of its {len(lines)} lines is a {kind} log line")
    return ParsedLog(path, kind, len(lines), entries, len(lines) - len(entries))


def _lines(path: Path) -> Iterator[str]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as file:
        yield from file


def sniff(lines: Iterable[str]) -> str | None:
    """combined or json, by what most of the first lines parse as; None when neither."""
    sample = list(lines)
    votes = {"combined": sum(parse_combined(line) is not None for line in sample),
             "json": sum(parse_json(line) is not None for line in sample)}
    best = max(votes, key=lambda kind: votes[kind])
    return best if votes[best] else None


def parse_combined(line: str) -> Entry | None:
    """One combined (or common) format line; None when it is not one."""
    match = _COMBINED.match(line.rstrip("\r\n"))
    if match is None:
        return None
    client, stamp, request, status, _bytes, _referer, agent, rest = match.groups()
    at = _combined_time(stamp)
    parts = request.split()
    if at is None or len(parts) < 2 or not _METHOD.fullmatch(parts[0]) or not _is_target(parts[1]):
        return None
    duration = _TRAILING_DURATION.match(rest or "")
    return Entry(at, parts[0], parts[1], int(status), float(duration.group(1)) if duration else None,
                 f"{client} {agent or ''}")


def parse_json(line: str) -> Entry | None:
    """One JSON-lines entry (the keys of the module's doc); None when it is not one."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        row = json.loads(text)
    except ValueError:
        return None
    if not isinstance(row, dict):
        return None
    at = _json_time(_first(row, TIME_KEYS))
    method, target = _first(row, METHOD_KEYS), _first(row, PATH_KEYS)
    request = row.get("request")
    if (method is None or target is None) and isinstance(request, str) and len(request.split()) >= 2:
        method, target = request.split()[:2]
    if at is None or not isinstance(method, str) or not isinstance(target, str) \
            or not _METHOD.fullmatch(method.upper()) or not _is_target(target):
        return None
    return Entry(at, method.upper(), target, _integer(_first(row, STATUS_KEYS)), _duration(row),
                 f"{_first(row, CLIENT_KEYS) or ''} {_first(row, AGENT_KEYS) or ''}")


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((row[key] for key in keys if row.get(key) not in (None, "", "-")), None)


def _is_target(target: str) -> bool:
    return target.startswith("/") or target.startswith(("http://", "https://"))


def _duration(row: dict[str, Any]) -> float | None:
    seconds, ms = _number(_first(row, SECONDS_KEYS)), _number(_first(row, MS_KEYS))
    return seconds if seconds is not None else ms / 1000 if ms is not None else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _integer(value: Any) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


@lru_cache(maxsize=4096)  # one-second stamps repeat: parse each once
def _combined_time(stamp: str) -> float | None:
    try:
        return datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z").timestamp()
    except ValueError:
        return None


def _json_time(value: Any) -> float | None:
    number = _number(value) if not isinstance(value, str) or re.fullmatch(r"\d+(\.\d+)?", value) else None
    if number is not None:
        return number / 1000 if number > 1e11 else number
    if not isinstance(value, str):
        return None
    combined = _combined_time(value)
    if combined is not None:
        return combined
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).timestamp()  # naive: UTC
