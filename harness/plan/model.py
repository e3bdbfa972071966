"""The typed plan: what a rehearsal will do, validated before anything starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import PlanError
from harness.core.tables import source_of
from harness.package.source import PackageSource

ENVIRONMENT_KINDS = ("auto", "local", "docker")
NETWORK_MODES = ("bridge", "host")
PHASE_METRICS = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "error_rate", "rps", "errors")
SWAP_STRATEGIES = ("restart", "blue_green")
REVERT_FAILURE_POLICIES = ("stay", "swap_back")
RUN_METRICS = ("lock_wait_max_ms", "lock_wait_total_ms", "downtime_s", "rollback_safe", "migration_errors",
               "cleanup_failures", "outage_s")
# Request counts over the phase (or one cause's windows of it): failed ones, and held-up ones (docs/gates.md).
REQUEST_METRICS = ("failed_requests", "held_up_requests")
# Lock waits split by whose wait it was: the requests' (the service's backends) and the migration's own.
WAIT_METRICS = ("request_lock_wait_max_ms", "request_lock_wait_total_ms", "migration_lock_wait_max_ms",
                "migration_lock_wait_total_ms")
STEP_METRICS = ("migration_retries",)  # failed lock_timeout attempts that a retry then got through
# A soak-only phase's p99 against the baseline's, per endpoint (result/drift.py): only a "worse" call counts.
DRIFT_METRICS = ("drift_p99_ratio",)
# The service's calls to a [[dependencies]] stub: retries / upstream requests (one gate may name the dependency).
DEPENDENCY_METRICS = ("retry_rate",)
METRICS = (PHASE_METRICS + REQUEST_METRICS + RUN_METRICS + WAIT_METRICS + STEP_METRICS + DRIFT_METRICS
           + DEPENDENCY_METRICS)
# What a request or a lock wait is blamed on: a migration statement's window, a service swap's window
# (stopped to healthy), or neither (the service itself).
CAUSES = ("statements", "swap", "service")
# Metrics a gate can limit to a cause; all but rollback_safe can be limited to a phase.
CAUSE_METRICS = PHASE_METRICS + REQUEST_METRICS + ("lock_wait_max_ms", "lock_wait_total_ms") + WAIT_METRICS
ENDPOINT_METRICS = PHASE_METRICS + REQUEST_METRICS + DRIFT_METRICS
RETRY_BACKOFFS = ("exponential", "fixed")
TRANSACTION_MODES = ("as_written", "statement", "file")
CONTENTION_KINDS = ("idle_in_transaction", "long_transaction", "long_query")
# The timeline of a plan without [[timeline]]: (phase, actions, [phases] key of its soak, default soak).
DEFAULT_PHASES: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("baseline", (), 30.0),
    ("upgrade", ("migrate", "swap"), 0.0),
    ("post_upgrade", (), 30.0),
    ("rollback", ("revert", "swap_back"), 0.0),
    ("post_rollback", (), 30.0),
)
PHASE_NAMES = tuple(name for name, _, _ in DEFAULT_PHASES)
RESERVED_PHASES = ("setup", "warmup", "teardown")  # what the frames call the time outside the timeline
DRIFT_REFERENCE = "baseline"  # the phase drift is measured against (else the timeline's first)


def drift_phases(timeline: list[tuple[str, list[str]]]) -> tuple[str | None, list[str]]:
    """The reference phase of post-upgrade drift and the phases compared with it, from (phase, action names).

    The reference is the phase named `baseline`, else the timeline's first phase. Compared: every later phase
    that only soaks (no actions but `soak`), or whose name starts with `post_`: the steady state after a
    change, not the change itself (docs/summary-json.md, DriftRow)."""
    names = [name for name, _ in timeline]
    if not names:
        return None, []
    reference = DRIFT_REFERENCE if DRIFT_REFERENCE in names else names[0]
    later = timeline[names.index(reference) + 1:]
    return reference, [name for name, actions in later
                       if name.startswith("post_") or all(action == "soak" for action in actions)]


LOAD_MODELS = ("closed", "open")
DEFAULT_MAX_CONCURRENCY = 1000


@dataclass(frozen=True)
class LoadOptions:
    """[load] beyond users: the workload model, and Locust's distributed mode.

    model "closed": `users` loop as fast as the service answers. "open": arrivals at `rate`/s in total (any task,
    by weight) and/or `rates` (task name -> /s), reached after a linear `ramp_s`; at most `max_concurrency`
    arrivals in flight, later ones dropped and counted. `workers` > 0: a Locust master and that many local
    workers (the rate split between them); `remote_workers` more are expected from other machines, which needs
    the master bound to `master_bind_host` (loopback, 127.0.0.1, unless the plan says otherwise)."""

    model: str = "closed"
    rate: float | None = None
    rates: dict[str, float] = field(default_factory=dict)
    ramp_s: float = 0.0
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    workers: int = 0
    remote_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int | None = None

    @property
    def open(self) -> bool:
        return self.model == "open"

    @property
    def processes(self) -> int:
        """Locust processes that run users: the workers, or the one process."""
        return max(1, self.workers + self.remote_workers)

    @property
    def total_rate(self) -> float:
        return (self.rate or 0.0) + sum(self.rates.values())


@dataclass(frozen=True)
class RunnerOptions:
    """How SQL migrations run: lock_timeout / statement_timeout of the migration session, retries on lock
    timeouts (55P03) after a fixed or exponential (doubling) backoff, and the unit of commit: as the files say,
    one per statement, or one per file (CONCURRENTLY and other non-transactional statements always run on
    their own)."""

    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    lock_retries: int = 0
    retry_backoff_ms: int = 200
    transaction: str = "as_written"
    step_deadline_s: float = 600.0  # the harness cancels a statement still running after this (DEFAULT_STEP_DEADLINE_S)
    retry_backoff: str = "exponential"  # one of RETRY_BACKOFFS

    def backoff_s(self, attempt: int, cap_s: float = 5.0) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) before the next one."""
        base = self.retry_backoff_ms / 1000
        return min(cap_s, base if self.retry_backoff == "fixed" else base * 2 ** (attempt - 1))


RUNNER_OPTION_KEYS = ("lock_timeout_ms", "statement_timeout_ms", "lock_retries", "retry_backoff_ms", "transaction",
                      "step_deadline_s", "retry_backoff")
DEFAULT_STEP_DEADLINE_S = 600.0  # a migration statement or command still running after this is cancelled
DEFAULT_SEED_DEADLINE_S = 3600.0  # a seed command still running after this is killed (environment failure)


@dataclass(frozen=True)
class SqlMigrations:
    """NNN_name.up.sql / NNN_name.down.sql files in a directory, run statement by statement."""

    dir: Path
    options: RunnerOptions


@dataclass(frozen=True)
class CommandMigrations:
    """A migration tool's commands (alembic upgrade / downgrade, flyway, a script), run in `cwd`.

    `sql_command` / `down_sql_command` print, without touching a database, the SQL that up / down would run
    (e.g. `alembic upgrade A:B --sql`): what `rehearse lint` reads."""

    up: list[str]
    down: list[str]
    cwd: Path
    sql_command: list[str] | None = None
    down_sql_command: list[str] | None = None
    deadline_s: float = DEFAULT_STEP_DEADLINE_S  # each command is killed after this (and its backends cancelled)


Migrations = SqlMigrations | CommandMigrations | None


@dataclass(frozen=True)
class Release:
    version: str
    dir: Path  # a package release: the package itself until the run unpacks it (plan.packages.unpacked)
    upgrades_from: str | None
    migrations: Migrations
    command: list[str]
    image: str | None = None
    # Plan releases: over service.env; package releases: a manifest's, under service.env (the plan adapts it).
    env: dict[str, str] = field(default_factory=dict)
    health_path: str | None = "/health"  # None: no health endpoint, healthy once its port accepts connections
    python: Path | None = None  # interpreter of this release's commands ({python}); None: the harness's own
    # What this release's down-migrations leave in place on purpose (expand/contract: the contract step is
    # deferred): "table" or "table.column" names; such leftovers do not fail the rollback's schema check.
    allow_leftover: tuple[str, ...] = ()
    package: PackageSource | None = None  # where it comes from, when it comes from a package

    @property
    def venv(self) -> Path | None:
        """The virtualenv `python` belongs to (its bin/ goes first on PATH), if it is one."""
        if self.python is None:
            return None
        root = self.python.parent.parent
        return root if (root / "pyvenv.cfg").is_file() else None


@dataclass(frozen=True)
class AcknowledgedSpec:
    """[rollback] acknowledged: the table the load's acknowledged keys are in, its key column, and the
    service's URL for one row ({key} filled in), to check each one after the rollback."""

    table: str
    key: str
    url: str | None = None


@dataclass(frozen=True)
class FlagsSpec:
    """[rollback.flags]: where feature flags live (a JSON file or a table) and how the service shows them."""

    file: Path | None = None
    table: str | None = None
    key: str = "name"  # the table's flag-name column
    value: str = "value"  # the table's value column
    probe: str | None = None  # GET URL whose JSON holds each flag (at its top level or under "flags")
    probe_timeout_s: float = 5.0


@dataclass(frozen=True)
class RollbackSpec:
    """[rollback]: what must be back after the rollback."""

    tables: tuple[str, ...] = ()  # rows compared whole (checksums)
    keys_only: tuple[str, ...] = ()  # tables traffic updates: rows matched by key
    acknowledged: tuple[AcknowledgedSpec, ...] = ()
    config_files: tuple[Path, ...] = ()
    environment: bool = True  # the service's process environment (names and value hashes)
    flags: FlagsSpec | None = None
    version_table: str | None = None  # the migration tool's own table (alembic_version, flyway_schema_history)
    # table -> the columns its rows are matched by (a natural key) instead of its primary key
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ignore_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> columns not compared

    @property
    def checked_tables(self) -> list[str]:
        return list(dict.fromkeys([*self.tables, *self.keys_only]))


@dataclass(frozen=True)
class Gate:
    metric: str
    phase: str | None
    endpoint: str | None
    max: float | None
    min: float | None
    cause: str | None = None  # one of CAUSES: only what happened in that cause's windows counts
    dependency: str | None = None  # DEPENDENCY_METRICS: only the calls to this [[dependencies]] stub count

    @property
    def name(self) -> str:
        where = ",".join(x for x in (self.phase, self.endpoint, self.cause and f"cause={self.cause}",
                                     self.dependency and f"dependency={self.dependency}") if x)
        bound = f"<= {self.max:g}" if self.max is not None else f">= {self.min:g}"
        return f"{self.metric}{f'[{where}]' if where else ''} {bound}"


@dataclass(frozen=True)
class Contention:
    """A [[contention]] entry: a session that holds a lock on `table` (or runs its own `query`) from the start
    of `phase` for `seconds`; the phase's first action starts `lead_s` after the session holds its lock."""

    kind: str  # one of CONTENTION_KINDS
    table: str | None
    phase: str
    seconds: float
    query: str | None = None
    lead_s: float = 0.0

    @property
    def target(self) -> str:
        """What it contends on, for people: the table, else its query."""
        return self.table or f"query {' '.join((self.query or '').split())[:60]}"


@dataclass(frozen=True)
class StubSettings:
    """How a dependency stub answers: after `latency_ms`; with `status` for a share `error_rate` of the calls
    (each call on its own, or, with `error_burst_ms`, whole windows of that length: a brownout); not at all
    (the connection closed) during an `outage`."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    status: int = 503
    error_burst_ms: float = 0.0
    outage: bool = False


@dataclass(frozen=True)
class Dependency:
    """A [[dependencies]] entry: a third-party API the service calls, replaced in the rehearsal by a loopback stub
    whose base URL the service finds in the environment variable `env`. The stub reads the upstream request a call
    belongs to from `correlation_header` and its attempt number from `attempt_header` (docs/timeline.md)."""

    name: str
    env: str
    settings: StubSettings = field(default_factory=StubSettings)
    correlation_header: str = "Idempotency-Key"
    attempt_header: str = "X-Attempt"
    key: str = "dependencies"  # where the plan says it


@dataclass(frozen=True)
class Targets:
    """[targets]: hosts outside the harness's own environment that the plan may point the service or a command
    at (a staging database, say). Honoured only with the run's confirmation (`--allow-targets`)."""

    allow: tuple[str, ...] = ()
    confirmed: bool = False


@dataclass(frozen=True)
class ActionCall:
    """An action as the plan names it; timeline.actions turns it into an Action before anything starts."""

    name: str
    args: dict[str, Any]
    key: str  # where the plan says it, e.g. timeline[1].actions[0]


@dataclass(frozen=True)
class TimelinePhase:
    name: str
    actions: tuple[ActionCall, ...]
    soak_s: float
    key: str


@dataclass(frozen=True)
class Plan:
    path: Path
    scenario: str
    environment: str
    network: str
    postgres_bin: Path | None
    postgres_image: str
    database: str
    from_version: str
    to_version: str
    releases: dict[str, Release]
    health_path: str | None  # None: no health endpoint (releases may say otherwise)
    service_env: dict[str, str]
    start_timeout_s: float
    stop_timeout_s: float
    seed_command: list[str] | None
    seed_rows: int
    locustfile: Path
    users: int
    spawn_rate: float
    load_env: dict[str, str]
    timeline: tuple[TimelinePhase, ...]
    lock_sample_interval_ms: float
    rollback_tables: list[str]
    gates: list[Gate] = field(default_factory=list)
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    contention: list[Contention] = field(default_factory=list)
    rollback: RollbackSpec = field(default_factory=RollbackSpec)
    overrides: dict[str, Any] = field(default_factory=dict)  # the --set values this plan was loaded with
    server_settings: dict[str, str] = field(default_factory=dict)  # environment.server_settings, at server start
    default_gates: bool = False  # the plan has no [[gates]]: `gates` is the documented default set
    seed_deadline_s: float = DEFAULT_SEED_DEADLINE_S
    targets: Targets = field(default_factory=Targets)
    health_interval_ms: float = 500.0  # [observe] the service's health check is probed this often
    postgres_version: int | None = None  # the server's major version (production's); None: whatever is found
    extensions: list[str] = field(default_factory=list)  # contrib / extensions the server must offer
    swap: str = "restart"  # one of SWAP_STRATEGIES
    load_profile: Path | None = None  # load.profile: the production profile the load follows (harness/profile)
    load_profile_values: dict[str, Any] = field(default_factory=dict)  # load.profile_values, as in the plan
    load_options: LoadOptions = field(default_factory=LoadOptions)  # [load] model, rate(s), workers
    dependencies: tuple[Dependency, ...] = ()  # [[dependencies]]: third-party APIs stubbed on loopback

    @property
    def dir(self) -> Path:
        return self.path.parent

    def error(self, key: str, problem: str) -> PlanError:
        """A PlanError about `key`, saying so when the value came from --set."""
        return PlanError(source_of(self.path, key, set(self.overrides)), key, problem)

    @property
    def phase_names(self) -> list[str]:
        return [phase.name for phase in self.timeline]

    @property
    def phase_seconds(self) -> dict[str, float]:
        """Each phase's soak, after its actions."""
        return {phase.name: phase.soak_s for phase in self.timeline}

    @property
    def baseline_phase(self) -> str:
        """The phase other phases are measured against: the first of the timeline."""
        return self.timeline[0].name

    def allowed_leftovers(self) -> list[str]:
        """What the upgrade's releases leave behind on purpose when rolled back."""
        return [entry for release in self.upgrade_path() for entry in release.allow_leftover]

    def upgrade_path(self) -> list[Release]:
        """Releases whose migrations take the database from `from_version` to `to_version`, in order."""
        return self._chain(self.to_version, stop_at=self.from_version)

    def setup_path(self) -> list[Release]:
        """Releases whose migrations build the `from_version` schema on an empty database, in order."""
        return self._chain(self.from_version, stop_at=None)

    def _chain(self, version: str, stop_at: str | None) -> list[Release]:
        chain: list[Release] = []
        current: str | None = version
        while current != stop_at:
            if current is None or current in [r.version for r in chain] or current not in self.releases:
                raise PlanError(self.path, "versions", f"no upgrade path from {stop_at} to {version}")
            release = self.releases[current]
            chain.append(release)
            current = release.upgrades_from
        return list(reversed(chain))
