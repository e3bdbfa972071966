"""Streams: rows appended to disk as they are recorded, so that a crash loses nothing; and atomic outputs."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

WriteFailure = Callable[[Path, OSError], None]
_write_failure_listeners: list[WriteFailure] = []


def on_write_failure(listener: WriteFailure) -> Callable[[], None]:
    """Call `listener(path, error)` whenever a stream cannot be written (a full disk); returns the unsubscribe."""
    _write_failure_listeners.append(listener)
    return lambda: _write_failure_listeners.remove(listener) if listener in _write_failure_listeners else None


class JsonLines:
    """Append-only JSON-lines file; every write goes to the OS at once (one write call per batch of rows), so a
    killed process loses nothing. Safe to write from several threads. A write that fails (disk full) is reported
    to the on_write_failure listeners and the stream goes on (the next write may succeed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def write(self, *rows: dict[str, Any]) -> bool:
        """Append `rows`; False when they could not be written."""
        if not rows:
            return True
        data = "".join(json.dumps(row, default=str) + "\n" for row in rows).encode("utf-8")
        with self._lock:
            if self._fd is None:
                return False
            try:
                written = os.write(self._fd, data)
                while written < len(data):  # a short write: the rest, or the error that stopped it
                    written += os.write(self._fd, data[written:])
                return True
            except OSError as exc:
                error = exc
        for listener in list(_write_failure_listeners):
            listener(self.path, error)
        return False

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines stream; a torn last line (a killed writer) is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def whole_csv_records(data: bytes) -> int:
    """The length of the longest prefix of `data` made of whole CSV records (`data` starts at a record)."""
    end = start = quotes = 0
    while (newline := data.find(b"\n", start)) >= 0:
        quotes += data.count(b'"', start, newline)
        if quotes % 2 == 0:  # a newline inside a quoted field (an error message's) does not end the record
            end = newline + 1
        start = newline + 1
    return end


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `path` whole or not at all: a temp file beside it, then a rename."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
