"""What a rehearsal records as it runs: phases, migration steps with their locks, swaps, actions, checks.

Each record has `row()` (the JSON-lines form in streams/) and, where a stream is read back, `from_row()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

ActionStatus = Literal["ok", "failed", "skipped"]
# Streams of the package actions (timeline.actions.quarantine / cleanup), read back by result.build
QUARANTINE_STREAM, STUB_STREAM, CLEANUP_STREAM = "quarantine.jsonl", "stub.jsonl", "cleanup.jsonl"
StopKind = Literal["interrupted", "environment", "input", "crash", "killed"]


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
    """The service swapped from one release to another: stopped at, healthy again at (epoch seconds).

    `strategy`: restart (stopped_at..healthy_at is the gap) or blue_green (the proxy switched at stopped_at =
    healthy_at: no gap). started_at..ended_at is the whole swap window, the old version's drain and stop
    included; in_flight_at_stop: requests still in flight on the old version when it was stopped."""

    phase: str
    from_version: str
    to_version: str
    stopped_at: float
    healthy_at: float
    strategy: str = "restart"
    started_at: float | None = None
    ended_at: float | None = None
    in_flight_at_stop: int = 0

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
    expect_failure: bool = False  # the plan said this migration should fail (the verdict does not count it)


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
    changed_columns: dict[str, int] = field(default_factory=dict)  # column -> changed rows that differ in it
    column_examples: dict[str, list[str]] = field(default_factory=dict)  # column -> keys of such rows
    key_columns: list[str] = field(default_factory=list)  # how rows were matched (primary or natural key)


@dataclass
class DestroyedData:
    """Data the upgrade wrote that the rollback took away: a table, a column, or values converted back."""

    kind: str  # table | column | conversion
    name: str
    lost: int  # rows (table), values (column: other than its constant default, else non-null), changed values
    rows: int = 0
    non_null: int = 0
    default: str | None = None
    values: dict[str, int] = field(default_factory=dict)  # the most common values lost, with their counts
    samples: list[str] = field(default_factory=list)  # conversions: "key: before -> after"
    message: str = ""


@dataclass
class AcknowledgedCheck:
    """Writes the service acknowledged (reported by the load), looked for after the rollback."""

    table: str
    key: str
    acknowledged: int
    checked_in_database: int = 0
    lost_in_database: int = 0
    checked_through_api: int = 0
    lost_through_api: int = 0
    api_errors: int = 0  # answers other than found / not found
    url: str | None = None
    by_phase: dict[str, int] = field(default_factory=dict)  # acknowledged per phase
    lost_by_phase: dict[str, int] = field(default_factory=dict)  # lost (in the database) per phase written
    samples: list[str] = field(default_factory=list)  # keys lost


@dataclass
class MigrationState:
    """What the migrations did, honestly: which steps ran, committed, were undone, and what is left."""

    upgrade: str  # ok | failed | killed | not run
    steps_ran: int = 0
    failed_step: str | None = None
    committed: list[str] = field(default_factory=list)  # files or commands fully applied
    partial: list[str] = field(default_factory=list)  # files some of whose statements committed
    undone: list[str] = field(default_factory=list)  # down files or commands that ran
    down_failed: str | None = None
    version_table: str | None = None
    versions: dict[str, list[str]] = field(default_factory=dict)  # moment -> the version table's rows
    serving: str | None = None  # the version serving after the rollback

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MigrationState:
        return cls(**{k: v for k, v in row.items() if k in {f.name for f in fields(cls)}})


@dataclass
class ReupgradeResult:
    """The upgrade applied again after its rollback: did it run cleanly, and to the same schema?"""

    phase: str
    clean: bool
    errors: list[str] = field(default_factory=list)
    schema_differences: list[str] = field(default_factory=list)  # first upgrade's schema vs the second's


@dataclass
class RollbackReason:
    """One failed check of the rollback verdict, with its figures and samples."""

    check: str  # schema_not_back, data_destroyed, rows_lost, acknowledged_writes_lost, old_version_fails,
    #             config_not_back, flags_not_back, down_migration_failed, reupgrade_failed
    message: str
    figures: dict[str, float] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)


@dataclass
class EndpointRegression:
    """An endpoint failing more after the rollback than in the baseline (the old version on new data)."""

    phase: str
    name: str
    baseline_requests: int
    baseline_errors: int
    requests: int
    errors: int
    error_rate: float
    baseline_error_rate: float
    p_value: float
    bodies: list[str] = field(default_factory=list)  # the first error bodies after the rollback


@dataclass
class RollbackResult:
    """Was the rollback safe: one reason per failed check; none means safe."""

    safe: bool
    checked: bool
    schema_diff: list[str] = field(default_factory=list)
    data_changes: list[TableChange] = field(default_factory=list)
    error: str | None = None
    phase: str | None = None
    reasons: list[RollbackReason] = field(default_factory=list)
    allowed_leftovers: list[str] = field(default_factory=list)
    destroyed: list[DestroyedData] = field(default_factory=list)
    acknowledged: list[AcknowledgedCheck] = field(default_factory=list)
    config_diff: list[str] = field(default_factory=list)
    flags_diff: list[str] = field(default_factory=list)
    migration: MigrationState | None = None
    reupgrade: ReupgradeResult | None = None
    regressions: list[EndpointRegression] = field(default_factory=list)
    check_seconds: float = 0.0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RollbackResult:
        changes = [TableChange(**c) for c in row.get("data_changes", [])]
        migration = row.get("migration")
        reupgrade = row.get("reupgrade")
        return cls(safe=bool(row["safe"]), checked=bool(row["checked"]), schema_diff=list(row.get("schema_diff", [])),
                   data_changes=changes, error=row.get("error"), phase=row.get("phase"),
                   reasons=[RollbackReason(**r) for r in row.get("reasons", [])],
                   allowed_leftovers=list(row.get("allowed_leftovers", [])),
                   destroyed=[DestroyedData(**d) for d in row.get("destroyed", [])],
                   acknowledged=[AcknowledgedCheck(**a) for a in row.get("acknowledged", [])],
                   config_diff=list(row.get("config_diff", [])), flags_diff=list(row.get("flags_diff", [])),
                   migration=MigrationState.from_row(migration) if isinstance(migration, dict) else None,
                   reupgrade=ReupgradeResult(**reupgrade) if isinstance(reupgrade, dict) else None,
                   regressions=[EndpointRegression(**r) for r in row.get("regressions", [])],
                   check_seconds=float(row.get("check_seconds", 0.0)))


@dataclass
class CheckWindow:
    """A stretch of time the harness's own checks ran (requests started inside it leave the phase figures)."""

    name: str
    phase: str | None
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class FlagChange:
    """A feature flag a timeline action set, and whether the service's probe showed it."""

    phase: str
    name: str
    value: str  # as JSON
    set_at: float
    seen_after_s: float | None = None  # null: the probe never showed it (or there is no probe)
    probe: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ObserverError:
    source: str
    message: str
    at: float


FAULT_KINDS = ("service_died", "load_died", "database_down", "database_restarted", "disk_full")


@dataclass(frozen=True)
class Fault:
    """Something broke during the rehearsal that the upgrade did not do on purpose: the service or the load
    generator died, the database went away or restarted, the run directory's disk filled up. `fatal`: the run
    could not go on and stopped."""

    kind: str  # one of FAULT_KINDS
    message: str
    at: float
    phase: str | None = None
    fatal: bool = False


@dataclass(frozen=True)
class Stop:
    """Why a run ended before its timeline did."""

    kind: StopKind
    message: str


@dataclass
class PackageRecord:
    """A release that came from a package: where from, its digest, where the run unpacked it, its findings."""

    version: str
    name: str
    source: str
    kind: str  # zip | dir
    sha256: str | None
    unpacked_to: str
    findings: int
    blocking: int
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass
class QuarantineRecord:
    """One quarantine action on the rehearsal's copy of a package (a file, or its service's environment)."""

    release: str
    kind: str  # disable_cron, disable_timer, redirect_endpoint, replace_credential, route_proxies
    target: str  # file:line, service.env KEY, service.command, service environment
    detail: str  # redacted
    status: str = "applied"  # applied | failed
    reverted: bool = False
    message: str | None = None


@dataclass
class StubTraffic:
    """What the local stub received for one host the package meant to reach."""

    host: str
    requests: int
    first_at: float
    last_at: float
    methods: dict[str, int] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)  # up to 5, without query strings


@dataclass
class CleanupRecord:
    """One post-upgrade cleanup step of a package as it ran, and its check."""

    release: str
    phase: str
    name: str
    kind: str  # feature_flag, webhook, credential, other
    action: str  # what ran (redacted)
    status: str  # ok | failed
    check: str
    check_passed: bool
    observed: str | None
    message: str | None
    started: float
    ended: float


DEPENDENCY_STREAM = "dependency_calls.jsonl"  # the dependency stubs (service.dependency_stub), read by result


@dataclass
class DependencyCall:
    """One call the service made to a dependency stub (streams/dependency_calls.jsonl, kind "call").

    `served_by` is the version of the service that called (each version gets a stub port of its own); `status` 0:
    no answer (an outage closed the connection); `latency_ms` from the call's arrival to its answer; `attempt` and
    `correlation` are what the service sent in the dependency's attempt and correlation headers."""

    dependency: str
    served_by: str
    at: float
    method: str
    path: str  # without its query
    status: int
    latency_ms: float
    attempt: int | None = None
    correlation: str | None = None
    fault: str | None = None  # what the stub injected: error, outage (None: a plain answer)
    kind: str = "call"

    def row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DependencySettings:
    """How a dependency stub answers from `at` on (kind "settings"): the plan's defaults at the start (source
    plan), a timeline `dependency` action's (source action), the defaults again once its `seconds` ran out
    (source expired)."""

    dependency: str
    at: float
    latency_ms: float
    error_rate: float
    status: int
    error_burst_ms: float
    outage: bool
    source: str  # plan | action | expired
    until: float | None = None  # an action's `seconds`: when the stub goes back to the plan's defaults
    kind: str = "settings"
    phase: str | None = None  # the phase it happened in (the report's; the stream does not know phases)

    def row(self) -> dict[str, Any]:
        return asdict(self)
