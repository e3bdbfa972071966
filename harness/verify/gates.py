"""Judge the plan's gates on the run's typed figures (docs/gates.md says what each metric measures).

Every metric but rollback_safe can be limited to a phase; request and lock-wait metrics to a cause
(statements, swap, service) too, and request metrics to an endpoint. Without a phase, a latency or rate
metric takes its worst phase, a count or a total sums over the phases, a longest wait takes the longest.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.plan import PHASE_METRICS, REQUEST_METRICS, Gate
from harness.plan.model import DRIFT_METRICS, drift_phases
from harness.records.summary import GateResult, Summary

ALL = "all"  # result.causes: the rows over every cause (or every backend)
WAIT_METRIC_PARTS = {  # metric -> (whose wait, max or total)
    "lock_wait_max_ms": (ALL, "max"), "lock_wait_total_ms": (ALL, "total"),
    "request_lock_wait_max_ms": ("requests", "max"), "request_lock_wait_total_ms": ("requests", "total"),
    "migration_lock_wait_max_ms": ("migration", "max"), "migration_lock_wait_total_ms": ("migration", "total"),
}


def observe(gate: Gate, summary: Summary) -> float | None:
    """The value a gate judges (None: nothing was measured there)."""
    if gate.metric in PHASE_METRICS and gate.cause is None and gate.metric != "errors":  # errors: a count, summed
        if gate.endpoint:
            rows = [(r.phase, getattr(r, gate.metric, None)) for r in summary.endpoints if r.name == gate.endpoint]
        else:
            rows = [(r.name, getattr(r, gate.metric, None)) for r in summary.phases]
        return _worst(gate, [float(v) for phase, v in rows if v is not None and gate.phase in (None, phase)])
    if gate.metric in PHASE_METRICS or gate.metric in REQUEST_METRICS:
        return _requests(gate, summary)
    if gate.metric in WAIT_METRIC_PARTS:
        return _waits(gate, summary)
    if gate.metric in DRIFT_METRICS:
        return _drift(gate, summary)
    if gate.metric == "retry_rate":  # the worst of the dependencies, phases and calling versions it covers
        return _worst(gate, [d.retry_rate for d in summary.dependencies if d.retry_rate is not None
                             and gate.dependency in (None, d.dependency) and gate.phase in (None, d.phase)])
    statements = [s for s in summary.statements if gate.phase in (None, s.phase)]
    if gate.metric == "migration_errors":
        return float(sum(1 for s in statements if s.error and not s.retried and s.origin != "traced"))
    if gate.metric == "migration_retries":
        return float(sum(1 for s in statements if s.error and s.retried))
    if gate.metric == "downtime_s":
        if gate.phase is None:
            return summary.downtime_s
        return sum(s.downtime_s for s in summary.swaps if s.phase == gate.phase)
    if gate.metric == "outage_s":
        if gate.phase is None:
            return summary.outage_s
        return sum(o.seconds for o in summary.outages if o.phase == gate.phase)
    if gate.metric == "cleanup_failures":
        return float(sum(1 for c in summary.cleanup if c.status != "ok" and gate.phase in (None, c.phase)))
    if gate.metric == "rollback_safe":
        return 1.0 if summary.rollback.safe else 0.0
    raise KeyError(gate.metric)


def _worst(gate: Gate, values: list[float]) -> float | None:
    if not values:
        return None
    return min(values) if gate.min is not None else max(values)


def _requests(gate: Gate, summary: Summary) -> float | None:
    if not summary.causes:  # a summary without the split by cause: whole phases (the stricter reading)
        return _whole_phases(gate, summary)
    rows = [r for r in summary.causes if r.cause == (gate.cause or ALL) and r.endpoint == gate.endpoint
            and gate.phase in (None, r.phase)]
    if gate.metric in REQUEST_METRICS or gate.metric == "errors":  # errors: failed_requests, by its phase name
        column = "held_up_requests" if gate.metric == "held_up_requests" else "errors"
        measured = rows or [r for r in summary.causes if r.cause == ALL and r.endpoint is None
                            and gate.phase in (None, r.phase)]
        return float(sum(getattr(r, column) for r in rows)) if measured else None
    # A cause without requests in a phase has no percentiles (None) but an error rate of 0: none failed.
    return _worst(gate, [float(v) for r in rows if (v := getattr(r, gate.metric)) is not None])


def _whole_phases(gate: Gate, summary: Summary) -> float | None:
    rows: list[Any] = [r for r in summary.endpoints if r.name == gate.endpoint] if gate.endpoint else summary.phases
    rows = [r for r in rows if gate.phase in (None, getattr(r, "phase", None) or getattr(r, "name", None))]
    if gate.metric in ("failed_requests", "errors"):
        return float(sum(r.errors for r in rows)) if rows else None
    if gate.metric == "held_up_requests":
        return None
    return _worst(gate, [float(v) for r in rows if (v := getattr(r, gate.metric, None)) is not None])


def _drift(gate: Gate, summary: Summary) -> float | None:
    """drift_p99_ratio: the largest p99 ratio (phase / baseline) of the rows called worse; 1.0 when rows were
    judged and none is worse (a ratio the test does not call worse is noise, not drift); None when no row could
    be judged (too few seconds on a side, or no such phase or endpoint)."""
    rows = [r for r in summary.drift if r.call != "too few" and gate.phase in (None, r.phase)
            and gate.endpoint in (None, r.endpoint)]
    if not rows:
        return None
    return max((r.ratio for r in rows if r.call == "worse" and r.ratio is not None), default=1.0)


def _drift_compared(summary: Summary) -> list[str]:
    return drift_phases([(t.phase, list(t.actions)) for t in summary.timeline])[1]


def _waits(gate: Gate, summary: Summary) -> float | None:
    whose, kind = WAIT_METRIC_PARTS[gate.metric]
    rows = [r for r in summary.waits if r.cause == (gate.cause or ALL) and r.whose == whose
            and gate.phase in (None, r.phase)]
    if not rows and not summary.waits:  # a run reported before waits were split: the run-wide figures
        return summary.lock_waits.max_ms if kind == "max" else summary.lock_waits.total_ms
    if not rows:
        return None
    return max(r.max_ms for r in rows) if kind == "max" else sum(r.total_ms for r in rows)


def evaluate(gates: list[Gate], summary: Summary, phase: str | None = None) -> list[GateResult]:
    """One result per gate; a gate with nothing observed fails. With `phase`, only that phase is judged:
    gates of other phases are left out, and those of no phase are limited to it."""
    results = []
    for gate in gates:
        if phase is not None:
            if gate.phase not in (None, phase) or gate.metric == "rollback_safe":
                continue
            if gate.metric in DRIFT_METRICS and phase not in _drift_compared(summary):  # not a drift phase
                continue
            gate = replace(gate, phase=phase)
        observed = observe(gate, summary)
        limit = gate.max if gate.max is not None else gate.min
        assert limit is not None
        if observed is None:
            passed = False
        elif gate.max is not None:
            passed = observed <= gate.max
        else:
            passed = observed >= limit
        results.append(GateResult(name=gate.name, metric=gate.metric, phase=gate.phase, endpoint=gate.endpoint,
                                  bound="max" if gate.max is not None else "min", limit=limit, observed=observed,
                                  passed=passed, cause=gate.cause, dependency=gate.dependency))
    return results
