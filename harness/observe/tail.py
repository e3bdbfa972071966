"""Incremental readers of growing streams: each call reads only the bytes written since the last one.

A writer may be mid-row: only whole records are taken (a CSV record ends at a newline outside quotes, a JSON
line at a newline); the rest is read again, whole, next time. CSV columns are found by name in each file's
header, so columns added at the end, or one file per worker (`requests*.csv`), read the same.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.streams import whole_csv_records

MAX_READ_BYTES = 8 * 1024 * 1024  # per file and call: a late start catches up over a few calls


@dataclass
class _File:
    offset: int = 0
    inode: int = 0
    header: list[str] | None = None


class _Tail:
    """The new whole records of every file of `directory` matching `pattern`."""

    def __init__(self, directory: Path, pattern: str) -> None:
        self.directory, self.pattern = directory, pattern
        self._files: dict[Path, _File] = {}

    def _new_bytes(self) -> list[tuple[_File, bytes]]:
        chunks = []
        for path in sorted(self.directory.glob(self.pattern)):
            state = self._files.setdefault(path, _File())
            try:
                stat = path.stat()
                if stat.st_ino != state.inode or stat.st_size < state.offset:  # replaced or truncated: anew
                    state.offset, state.inode, state.header = 0, stat.st_ino, None
                if stat.st_size == state.offset:
                    continue
                with path.open("rb") as stream:
                    stream.seek(state.offset)
                    data = stream.read(min(stat.st_size - state.offset, MAX_READ_BYTES))
            except OSError:  # not there yet, or gone: tried again next call
                continue
            whole = self._whole(data)
            if whole:
                state.offset += whole
                chunks.append((state, data[:whole]))
        return chunks

    @staticmethod
    def _whole(data: bytes) -> int:
        return data.rfind(b"\n") + 1


class CsvTail(_Tail):
    """Verbs: records(columns) -> the new rows, each a tuple of the named columns' values ("" when a file
    has no such column)."""

    @staticmethod
    def _whole(data: bytes) -> int:
        return whole_csv_records(data)

    def records(self, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = []
        for state, data in self._new_bytes():
            reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
            if state.header is None:
                state.header = next(reader, None) or []
            where = [state.header.index(c) if c in state.header else None for c in columns]
            for record in reader:
                rows.append(tuple(record[i] if i is not None and i < len(record) else "" for i in where))
        return rows


class JsonLinesTail(_Tail):
    """Verbs: rows() -> the new JSON objects (lines that are not one are skipped)."""

    def rows(self) -> list[dict[str, Any]]:
        found = []
        for _state, data in self._new_bytes():
            for line in data.decode("utf-8", errors="replace").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    found.append(row)
        return found
