"""What a rehearsal records as it runs: phases, migration steps with their locks, swaps, actions, checks.

Each record has `row()` (the JSON-lines form in streams/) and, where a stream is read back, `from_row()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

ActionStatus = Literal["ok", "failed", "skipped"]
StopKind = Literal["interrupted", "environment", "input", "crash"]


@dataclass(frozen=True, order=True)
class Lock:
    """One relation lock: pg_locks' mode, the relation as regclass names it, and whether it is an index."""

    mode: str
    relation: str
    is_index: bool = False

    def __str__(self) -> str:
        return f"{self.mode} {self.relation}" + (" (index)" if self.is_index else "")

    def row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Lock:
        return cls(str(row["mode"]), str(row["relation"]), bool(row.get("is_index", False)))


def locks_from_rows(rows: Any) -> list[Lock] | None:
    """Locks of a stream row (None stays None: not traced)."""
    if rows is None:
        return None
    return [Lock.from_row(r) for r in rows if isinstance(r, dict)]


@dataclass
class Phase:
    """A named stretch of the timeline; versions are what served at its start and at its end."""

    name: str
    from_version: str
    to_version: str
    started: float
    ended: float | None = None


@dataclass
class Step:
    """One migration step: a SQL statement (SQL runner) or a whole migration command (command runner)."""

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
    locks: list[Lock] | None = None  # taken by this statement on relations that existed before it
    locks_held: list[Lock] | None = None  # all held when it ended, including those its transaction took earlier
    rewrites: list[str] | None = None  # relations given a new relfilenode
    origin: str = "sql"  # sql (SQL runner), command (a migration command), traced (a statement a command ran)

    @property
    def duration_ms(self) -> float | None:
        return None if self.ended is None else (self.ended - self.started) * 1000

    def row(self) -> dict[str, Any]:
        return asdict(self) | {"duration_ms": self.duration_ms}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Step:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in known}
        for key in ("locks", "locks_held"):
            values[key] = locks_from_rows(values.get(key))
        return cls(**values)


@dataclass(frozen=True)
class Swap:
    """The service swapped from one release to another: stopped at, healthy again at (epoch seconds)."""

    phase: str
    from_version: str
    to_version: str
    stopped_at: float
    healthy_at: float

    @property
    def downtime_s(self) -> float:
        return self.healthy_at - self.stopped_at


@dataclass
class ActionRecord:
    """One timeline action as it ran: ok, failed (with why) or skipped (with why)."""

    phase: str
    name: str
    description: str
    started: float
    ended: float | None = None
    status: ActionStatus = "ok"
    message: str | None = None


@dataclass
class ContentionRecord:
    """A contention session the plan injected (the lock-queue trap), as it ran."""

    kind: str
    table: str | None
    phase: str
    seconds: float
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    query: str | None = None  # the session's own query ([[contention]] query), else the built-in one
    lead_s: float = 0.0  # how long the phase's first action waited after the session held its lock


@dataclass
class TableChange:
    """Rows of one rollback-checked table that differ between two moments."""

    table: str
    compared_with: str  # baseline | before_rollback
    rows_before: int
    rows_after: int
    lost: int = 0
    changed: int = 0
    lost_written_during_upgrade: int = 0
    missing_columns: list[str] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class RollbackResult:
    """Was the rollback safe: schema back to the baseline, no row of the named tables lost or changed."""

    safe: bool
    checked: bool
    schema_diff: list[str] = field(default_factory=list)
    data_changes: list[TableChange] = field(default_factory=list)
    error: str | None = None
    phase: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RollbackResult:
        changes = [TableChange(**c) for c in row.get("data_changes", [])]
        return cls(safe=bool(row["safe"]), checked=bool(row["checked"]), schema_diff=list(row.get("schema_diff", [])),
                   data_changes=changes, error=row.get("error"), phase=row.get("phase"))


@dataclass(frozen=True)
class ObserverError:
    source: str
    message: str
    at: float


@dataclass(frozen=True)
class Stop:
    """Why a run ended before its timeline did."""

    kind: StopKind
    message: str
