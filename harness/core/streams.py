"""Streams: rows appended to disk as they are recorded, so that a crash loses nothing; and atomic outputs."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any


class JsonLines:
    """Append-only JSON-lines file, flushed after every write; safe to write from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def write(self, *rows: dict[str, Any]) -> None:
        if not rows:
            return
        text = "".join(json.dumps(row, default=str) + "\n" for row in rows)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


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
