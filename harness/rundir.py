"""The run directory: where every stream, log, frame and summary of one rehearsal lands."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.plan import Plan


@dataclass(frozen=True)
class RunDir:
    path: Path
    run_id: str

    @classmethod
    def create(cls, plan: Plan, out: Path | None) -> RunDir:
        """A fresh directory named after scenario, versions and UTC time."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        run_id = f"{plan.scenario}-{plan.from_version}-to-{plan.to_version}-{stamp}"
        base = out if out is not None else Path.cwd() / "reports"
        path = base / run_id
        suffix = 1
        while path.exists():
            suffix += 1
            path = base / f"{run_id}-{suffix}"
        (path / "streams").mkdir(parents=True)
        (path / "logs").mkdir()
        return cls(path, path.name)

    def stream(self, name: str) -> Path:
        """Raw rows as recorded during the run (JSON lines or CSV), before they become frames."""
        return self.path / "streams" / name


class JsonLines:
    """Append-only JSON-lines file, flushed after every write so a crash loses nothing recorded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, *rows: dict[str, Any]) -> None:
        for row in rows:
            self._file.write(json.dumps(row, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines stream; a torn last line (killed writer) is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
