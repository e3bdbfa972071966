"""summary.json: the machine-readable contract that users' CI, `rehearse compare` and the tests read.

Every key is a field of a dataclass below (docs/summary-json.md says what each means). Keys are added, never
renamed or dropped. `to_json` writes a Summary; `contract_problems` checks a parsed summary.json against it.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Literal

from harness.records.run import (
    ActionRecord,
    CheckWindow,
    CleanupRecord,
    ContentionRecord,
    DependencySettings,
    Fault,
    FlagChange,
    Lock,
    PackageRecord,
    QuarantineRecord,
    RollbackResult,
    Stop,
    StubTraffic,
)

CONTRACT_VERSION = 1
HELD_UP_MARGIN_MS = 200.0  # a request slower than its endpoint's baseline p99 by at least this much ...
HELD_UP_FACTOR = 3.0  # ... and by at least this factor is held up (docs/gates.md)
Verdict = Literal["pass", "fail"]


@dataclass
class PhaseFigures:
    """One phase of the timeline: its versions, its traffic and latency."""

    name: str
    started: float
    ended: float
    from_version: str
    to_version: str
    duration_s: float
    requests: int
    errors: int
    error_rate: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors_by_cause: dict[str, int] = field(default_factory=dict)  # swap, statements, service (result.attribution)
    excluded_requests: int = 0  # started inside a check window of the harness: left out of these figures


@dataclass
class EndpointFigures:
    """One endpoint within one phase."""

    phase: str
    name: str
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors_by_cause: dict[str, int] = field(default_factory=dict)


@dataclass
class StatementFigures:
    """One migration step (statement or command) and whom it held up."""

    phase: str
    seq: int
    version: str
    direction: str
    source: str
    origin: str
    sql: str
    started: float
    ended: float | None
    duration_ms: float | None
    sqlstate: str | None
    error: str | None
    attempt: int
    statement_index: int | None
    locks: list[str] | None  # "Mode relation" of lock_records, as text
    locks_held: list[str] | None
    rewrites: list[str] | None
    held_ms: float | None
    blocked_backends: int
    max_wait_ms: float
    waited_ms: float
    blocked_requests: int
    failed_requests: int
    p99_during_ms: float | None
    added_p99_ms: float | None
    errors_by_sqlstate: dict[str, int]
    errors_by_endpoint: dict[str, int]
    lock_records: list[Lock] | None = None
    held_lock_records: list[Lock] | None = None
    chatter: bool = False  # a driver's or tool's own statement (version check, SET, savepoint, bookkeeping)
    blamed_waits: int = 0  # waits of others blamed on it because it took the lock they waited for
    request_wait_ms: float = 0.0  # longest wait it caused to one of the service's backends
    held_up_by_lock: int = 0  # requests that waited on a lock it caused (docs/gates.md)
    held_up_slow: int = 0  # requests during it slower than their endpoint's baseline by the held-up margin
    retried: bool = False  # a failed lock_timeout attempt that the runner retried


@dataclass
class Offender:
    """A statement that hurt traffic, for the blast-radius table."""

    phase: str
    seq: int
    sql: str
    blocked_requests: int
    max_wait_ms: float
    added_p99_ms: float | None
    failed_requests: int
    rank: int = 0  # 1 = the worst statement of its phase
    held_up_by_lock: int = 0
    held_up_slow: int = 0


@dataclass
class ErrorGroup:
    """Failed requests of one phase, endpoint, SQLSTATE and cause."""

    phase: str
    name: str
    sqlstate: str
    meaning: str
    errors: int
    status: int
    cause: str = "service"  # swap, statements, service (result.attribution)
    statuses: dict[str, int] = field(default_factory=dict)  # HTTP status -> count ("0": no response)
    sqlstate_source: str | None = None  # response, server log (None: no SQLSTATE known)
    steps: list[int] = field(default_factory=list)  # seqs of the migration steps blamed


@dataclass
class LintCheck:
    """The lint's prediction for one SQL statement, checked against what it was seen to do."""

    phase: str
    seq: int
    sql: str
    observed_locks: list[str]
    held_locks: list[str]
    observed_rewrites: list[str]
    verdict: str  # confirmed | not confirmed | unexpected
    predicted_locks: list[str]
    predicted_rewrites: list[str]
    differences: list[str]


@dataclass
class ChainLink:
    """One backend of the longest lock chain, root first."""

    pid: int
    role: str  # root blocker | waiting
    application: str | None
    state: str | None
    mode: str | None
    relation: str | None
    waiting_ms: float | None
    query: str | None


@dataclass
class LockWaits:
    count: int
    max_ms: float
    total_ms: float
    longest_chain: list[ChainLink]


@dataclass
class SwapFigures:
    from_version: str
    to_version: str
    downtime_s: float
    phase: str | None = None
    stopped_at: float | None = None
    healthy_at: float | None = None
    strategy: str = "restart"  # restart | blue_green
    started_at: float | None = None  # the swap window (blue_green: the new version's start to the old one's stop)
    ended_at: float | None = None
    in_flight_at_stop: int = 0  # blue_green: requests still in flight on the old version when it was stopped
    failed_requests: int = 0  # failed requests blamed on this swap (cause swap)


@dataclass
class LockOrderRisk:
    """Two tables the migration locks in the opposite order to the service's transactions: a deadlock risk,
    whether or not this run deadlocked (result.lock_order)."""

    tables: list[str]
    migration_order: list[str]  # "Mode table (#seq statement)", first taken first
    app_order: list[str]  # "Mode table", as the service's transactions took them
    applications: list[str]  # the service's application names seen taking them in that order
    app_transactions: int  # how many sampled transactions of the service showed that order
    statements: list[str]  # the migration statements that took them ("#seq SQL")
    deadlocks_observed: int  # requests or steps that failed with 40P01 in this run


@dataclass
class FailedRevert:
    """A revert whose down-migrations failed, its policy (revert on_failure), and what served afterwards."""

    phase: str
    on_failure: str  # stay | swap_back
    error: str
    serving_before: str  # the version serving when the revert failed
    served_after: str  # the version serving at the end of that phase (stay: the same)


@dataclass
class ServerFacts:
    """The PostgreSQL server that ran: its version, where it came from, the extensions required and created."""

    version: str
    version_num: int
    major: int
    source: str  # the binaries (local) or the image (docker)
    extensions_required: list[str]
    extensions_installed: list[str]  # "name version", once the from-version schema was set up


@dataclass
class UpgradeFigures:
    """One phase that ran migrations (an upgrade, a rollback, a re-upgrade), for side-by-side comparison."""

    phase: str
    direction: str  # up | down
    steps: int
    failed_steps: int
    duration_ms: float
    max_wait_ms: float
    blocked_requests: int
    failed_requests: int
    p99_ms: float | None
    errors: int
    retried_steps: int = 0  # failed lock_timeout attempts that were retried (not in failed_steps)


@dataclass
class CauseFigures:
    """Requests of one phase (and endpoint; null: all) blamed on one cause: all, statements (they overlapped
    a migration statement), swap (they overlapped a service swap, stopped to healthy), service (neither)."""

    phase: str
    cause: str
    endpoint: str | None
    seconds: float  # how long this cause's windows lasted within the phase
    requests: int
    errors: int
    error_rate: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    held_up_requests: int
    held_up_by_lock: int
    held_up_slow: int


@dataclass
class WaitFigures:
    """Distinct lock waits of one phase and cause, by whose wait it was: all, requests (the service's
    backends), migration (the migration's own backends waiting for their locks)."""

    phase: str
    cause: str
    whose: str
    count: int
    max_ms: float
    total_ms: float


@dataclass
class HeldUpRule:
    """When a request counts as held up: it waited on a lock the migration caused (seen by the lock sampler),
    or it took at least `factor` times its endpoint's baseline p99 and at least `margin_ms` more than it."""

    margin_ms: float = HELD_UP_MARGIN_MS
    factor: float = HELD_UP_FACTOR


@dataclass
class VersionFigures:
    """One phase, version and endpoint, for requests the loopback proxy tagged with who served them."""

    phase: str
    version: str
    name: str
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors_by_cause: dict[str, int] = field(default_factory=dict)  # swap, statements, service (result.attribution)


@dataclass
class GateResult:
    name: str
    metric: str
    phase: str | None
    endpoint: str | None
    bound: Literal["max", "min"]
    limit: float
    observed: float | None
    passed: bool
    cause: str | None = None
    dependency: str | None = None  # retry_rate: the dependency it is limited to


@dataclass
class LoadSettings:
    users: int
    spawn_rate: float
    lock_sample_interval_ms: float
    seed_rows: int
    model: str = "closed"  # closed (users loop) or open (arrivals at a rate)
    rate: float | None = None  # open: arrivals/s in total, any task
    rates: dict[str, float] = field(default_factory=dict)  # open: arrivals/s per task
    ramp_s: float = 0.0
    max_concurrency: int | None = None  # open: arrivals in flight at most (later ones dropped)
    workers: int = 0  # Locust workers (0: one Locust process)
    remote_workers: int = 0


@dataclass
class PhaseArrivals:
    """One phase's arrivals by intended start: meant, sent, answered, dropped (the open model's accounting)."""

    phase: str
    model: str
    intended: int  # arrivals meant to start in the phase: sent + dropped
    sent: int  # requests that went out (recorded)
    completed: int  # of those, answered with an HTTP status
    dropped: int  # arrivals not sent: every slot was busy (max_concurrency)
    late: int  # sent more than late_tolerance_ms after their intended start (their latency counts from it)
    late_tolerance_ms: float
    max_delay_ms: float | None  # the longest a request waited to be sent after its intended start


@dataclass
class TimelineEntry:
    """A phase of the plan's timeline as planned: its actions and its soak."""

    phase: str
    actions: list[str]
    soak_s: float


@dataclass
class Outage:
    """A stretch of time the service did not answer: failed health probes, or refused requests."""

    started: float
    ended: float
    seconds: float
    phase: str | None  # where it began
    source: str  # health (failed probes), requests (refused requests), or both


@dataclass
class MixEndpoint:
    """One endpoint template: its share in the production profile and in the rehearsal's load."""

    endpoint: str  # "METHOD /template"
    requests: int  # the rehearsal's requests to it
    profile_share: float  # 0..1
    achieved_share: float  # 0..1
    difference: float  # achieved_share - profile_share (fractions: 0.01 is one percentage point)
    relative_difference: float | None  # difference / profile_share; None when the profile has no share


@dataclass
class ProfileMix:
    """The achieved mix of a load that followed a production profile (load.profile), against the profile."""

    profile: str  # the profile file the load followed
    requests: int  # every request the load sent (all phases, warmup and teardown too)
    endpoints: list[MixEndpoint] = field(default_factory=list)
    max_difference: float = 0.0  # the largest |difference| of any endpoint
    max_relative_difference: float | None = None  # the largest |relative_difference| of endpoints of >= 5% share


@dataclass
class Failure:
    """One reason the verdict is fail: a failed migration, a phase without traffic, a fault, a stop, a gate."""

    kind: str  # migration_failed, expected_failure_missing, no_traffic, gate, stopped, or a fault's kind
    message: str
    phase: str | None = None


DriftCall = Literal["better", "worse", "same", "too few"]  # result.stats.Call


@dataclass
class DriftRow:
    """One endpoint of one soak-only phase against the baseline (result/drift.py): tail latency and error rate,
    each with the test behind its call. Latencies are medians over the phase's seconds of each second's p95 / p99
    (what the Mann-Whitney U test compares); ratios are b / a (the phase over the baseline)."""

    endpoint: str
    phase: str  # b: the phase judged
    against: str  # a: the reference phase (baseline)
    requests_a: int
    requests_b: int
    seconds_a: int  # seconds with requests: the per-second aggregates each side has
    seconds_b: int
    p95_a_ms: float | None
    p95_b_ms: float | None
    p95_ratio: float | None
    p95_p_value: float | None
    p95_effect: float | None  # rank-biserial correlation, -1..1; positive: the phase is slower
    p95_call: DriftCall
    p99_a_ms: float | None
    p99_b_ms: float | None
    ratio: float | None  # p99_b_ms / p99_a_ms
    p_value: float | None  # Mann-Whitney U, two-sided, on the per-second p99s
    effect: float | None  # rank-biserial correlation of the per-second p99s
    call: DriftCall  # the p99's call: what the drift_p99_ratio gate reads
    errors_a: int
    errors_b: int
    error_rate_a: float | None
    error_rate_b: float | None
    error_p_value: float | None  # Fisher's exact test, two-sided
    error_call: DriftCall

    @property
    def shifted(self) -> bool:
        """Whether anything shifted, either way: p95, p99 or the error rate."""
        return any(c in ("better", "worse") for c in (self.p95_call, self.call, self.error_call))


@dataclass
class DependencyFigures:
    """The service's calls to one dependency stub in one phase, by the version that made them (result.dependencies).

    A call is a retry when an earlier call of the same version carried its correlation id (without one: when its
    attempt number is above 1); every other call starts an upstream request. A backoff is the gap from one attempt's
    answer to the next attempt of its correlation id (0 when the next came before the answer: a client timeout)."""

    dependency: str
    phase: str
    served_by: str
    calls: int
    upstream_requests: int
    retries: int
    retry_rate: float | None  # retries / upstream_requests (None: no upstream request began in the phase)
    failed_calls: int  # answered with an error status, or not at all
    gave_up: int  # upstream requests whose last attempt failed (counted in the phase of their first call)
    max_attempts: int  # the most calls one upstream request made
    backoffs: int  # how many gaps the backoff percentiles are of
    backoff_p50_ms: float | None
    backoff_p95_ms: float | None
    latency_p50_ms: float | None  # the stub's answer times (its injected latency, and the machine's)
    latency_p95_ms: float | None
    # drift (soak-only phases, as DriftRow): the share of calls that were retries against the reference phase's
    # (every version's calls to this dependency there), by Fisher's exact test; None where not judged
    retries_against: str | None = None  # the reference phase (baseline)
    retry_share_a: float | None = None  # retries / calls in the reference phase
    retry_share_b: float | None = None  # retries / calls here
    retry_p_value: float | None = None
    retry_call: DriftCall | None = None


@dataclass
class Summary:
    scenario: str
    from_version: str
    to_version: str
    environment: str
    verdict: Verdict
    exit_code: int
    started: str  # ISO 8601, UTC
    duration_s: float
    incomplete: str | None  # why the run stopped early (interrupted, environment failure), else null
    phases: list[PhaseFigures]
    endpoints: list[EndpointFigures]
    statements: list[StatementFigures]
    top_offenders: list[Offender]
    errors: list[ErrorGroup]
    lint_check: list[LintCheck]
    lock_waits: LockWaits
    downtime_s: float
    swaps: list[SwapFigures]
    rollback: RollbackResult
    invalid_indexes: list[str]
    contention: list[ContentionRecord]
    timings: dict[str, float]
    load: LoadSettings
    observer_errors: list[str]
    artifacts: dict[str, str]
    gates: list[GateResult]
    contract_version: int = CONTRACT_VERSION
    environment_reason: str = ""
    timeline: list[TimelineEntry] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    upgrades: list[UpgradeFigures] = field(default_factory=list)
    stopped: Stop | None = None
    reached_phase: str | None = None  # the last phase that started
    server: ServerFacts | None = None
    failed_reverts: list[FailedRevert] = field(default_factory=list)
    lock_order_risks: list[LockOrderRisk] = field(default_factory=list)
    versions: list[VersionFigures] = field(default_factory=list)  # per version that served (the proxy's tags)
    check_windows: list[CheckWindow] = field(default_factory=list)
    flags: list[FlagChange] = field(default_factory=list)
    packages: list[PackageRecord] = field(default_factory=list)  # releases that came from packages
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    stub_traffic: list[StubTraffic] = field(default_factory=list)
    cleanup: list[CleanupRecord] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # every reason the verdict is fail (empty: pass)
    faults: list[Fault] = field(default_factory=list)
    outage_s: float = 0.0  # seconds the service did not answer (health probes, refused requests)
    outages: list[Outage] = field(default_factory=list)
    reached_stage: str | None = None  # the last stage of the run that started (setup steps, then the timeline)
    migration_errors: int = 0  # failed migration steps (a lock_timeout attempt retried is not one)
    migration_retries: int = 0  # failed lock_timeout attempts the runner retried
    causes: list[CauseFigures] = field(default_factory=list)
    waits: list[WaitFigures] = field(default_factory=list)
    held_up_rule: HeldUpRule = field(default_factory=HeldUpRule)
    default_gates: bool = False  # the plan had no [[gates]]: the default set was judged (docs/gates.md)
    profile_mix: ProfileMix | None = None  # the load followed load.profile: its mix against the profile's
    drift: list[DriftRow] = field(default_factory=list)  # soak-only phases vs the baseline, per endpoint
    arrivals: list[PhaseArrivals] = field(default_factory=list)  # per phase: intended, sent, completed, dropped
    dependencies: list[DependencyFigures] = field(default_factory=list)  # calls to the [[dependencies]] stubs
    dependency_settings: list[DependencySettings] = field(default_factory=list)  # how each stub answered, and when


def to_json(summary: Summary) -> dict[str, Any]:
    """The summary as plain JSON values (NaN and infinities become null)."""
    return _finite(asdict(summary))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        return _finite(value.item())
    return value


def contract_keys(cls: type | None = None) -> set[str]:
    """The top-level keys of summary.json."""
    return {f.name for f in fields(cls or Summary)}


def contract_problems(data: Any, cls: type | None = None, where: str = "summary") -> list[str]:
    """Where a parsed summary.json departs from the contract: missing keys, unknown keys, wrong types."""
    return _check(data, cls or Summary, where)


def _check(value: Any, expected: Any, where: str) -> list[str]:
    origin = typing.get_origin(expected)
    if expected is Any:
        return []
    if is_dataclass(expected) and isinstance(expected, type):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        hints = typing.get_type_hints(expected)
        problems = [f"{where}.{k}: unknown key" for k in value if k not in hints]
        for f in fields(expected):
            if f.name not in value:
                problems.append(f"{where}.{f.name}: missing")
            else:
                problems += _check(value[f.name], hints[f.name], f"{where}.{f.name}")
        return problems
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if any(not _check(value, option, where) for option in options):
            return []
        return [f"{where}: {value!r:.60} is none of {', '.join(_name(o) for o in options)}"]
    if origin is Literal:
        allowed = typing.get_args(expected)
        return [] if value in allowed else [f"{where}: {value!r} is not one of {allowed}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        (item,) = typing.get_args(expected)
        return [p for i, v in enumerate(value) for p in _check(v, item, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        _, item = typing.get_args(expected)
        return [p for k, v in value.items() for p in _check(v, item, f"{where}.{k}")]
    if expected is type(None):
        return [] if value is None else [f"{where}: expected null"]
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    return [] if ok else [f"{where}: expected {_name(expected)}, got {type(value).__name__} {value!r:.40}"]


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))
