"""The run directory: where every stream, log, frame and summary of one rehearsal lands.

streams/ holds what was recorded as it happened (JSON lines, CSV), so that a report can always be rebuilt
from it (`rehearse report RUN_DIR`); run.jsonl there is the timeline's own log of facts.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from harness.core.streams import JsonLines
from harness.plan import Plan

RUN_LOG = "run.jsonl"
RESERVE = ".reserve"  # space held back for the last facts and the report, should the disk fill up meanwhile
RESERVE_BYTES = 2 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class RunDir:
    path: Path
    run_id: str

    @classmethod
    def create(cls, plan: Plan, out: Path | None) -> RunDir:
        """A fresh directory under `out` named after scenario, versions, UTC time and a random suffix."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = _UNSAFE.sub("_", f"{plan.scenario}-{plan.from_version}-to-{plan.to_version}")
        name = re.sub(r"\.{2,}", ".", name).strip("._") or "run"  # a plain name: never a path, never ".."
        base = (out if out is not None else Path.cwd() / "reports").resolve()
        base.mkdir(parents=True, exist_ok=True)
        while True:
            run_id = f"{name[:80]}-{stamp}-{secrets.token_hex(3)}"
            path = base / run_id
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        (path / "streams").mkdir()
        (path / "logs").mkdir()
        run = cls(path, run_id)
        with contextlib.suppress(OSError), open(path / RESERVE, "wb") as reserve:
            reserve.write(b"\0" * RESERVE_BYTES)
        return run

    def release_reserve(self) -> None:
        """Give back the space held for the end of a run (the last facts, the report)."""
        (self.path / RESERVE).unlink(missing_ok=True)

    def stream(self, name: str) -> Path:
        """Raw rows as recorded during the run (JSON lines or CSV), before they become frames."""
        return self.path / "streams" / name

    def log(self, name: str) -> Path:
        return self.path / "logs" / name


class RunLog:
    """The timeline's facts, one JSON line each as they happen: {"event": kind, ...fields}."""

    def __init__(self, run: RunDir) -> None:
        self.stream = JsonLines(run.stream(RUN_LOG))

    def write(self, event: str, record: Any = None, **fields: Any) -> bool:
        """Append one fact; False when it could not be written (a full disk)."""
        row = asdict(record) if is_dataclass(record) and not isinstance(record, type) else dict(record or {})
        return self.stream.write({"event": event, "at": time.time(), **row, **fields})

    def close(self) -> None:
        self.stream.close()
