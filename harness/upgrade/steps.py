"""What a migration runner records: one row per statement (SQL runner) or per command (command runner)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MIGRATION_APPLICATION = "rehearse-migrate"


@dataclass
class Step:
    phase: str
    seq: int
    version: str
    direction: str  # "up" | "down"
    source: str  # file name or command line
    sql: str
    started: float
    ended: float | None = None
    sqlstate: str | None = None
    error: str | None = None
    pid: int | None = None
    statement_index: int | None = None  # position in its file, to match lint predictions
    txn: int | None = None  # statements sharing a txn hold their locks until its last step ends
    attempt: int = 1
    locks: list[str] | None = None  # "Mode relation" taken by this statement on relations that existed before
    locks_held: list[str] | None = None  # all held when it ended, including those its transaction took earlier
    rewrites: list[str] | None = None  # relations given a new relfilenode

    @property
    def duration_ms(self) -> float | None:
        return None if self.ended is None else (self.ended - self.started) * 1000

    def row(self) -> dict[str, Any]:
        return asdict(self) | {"duration_ms": self.duration_ms}


class MigrationFailed(Exception):
    """A migration step failed; the rehearsal records it and goes on to the rollback."""

    def __init__(self, step: Step) -> None:
        self.step = step
        super().__init__(f"{step.source}: {step.sqlstate or ''} {step.error}".strip())
