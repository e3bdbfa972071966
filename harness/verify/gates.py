"""Judge the plan's gates on the run's typed figures."""

from __future__ import annotations

from harness.plan import PHASE_METRICS, Gate
from harness.records.summary import EndpointFigures, GateResult, PhaseFigures, Summary, failed_steps


def observe(gate: Gate, summary: Summary) -> float | None:
    """The value a gate judges: per phase (and endpoint) when named, else the worst phase; run-wide metrics."""
    if gate.metric in PHASE_METRICS:
        if gate.endpoint:
            rows = [(r.phase, _value(gate, r)) for r in summary.endpoints if r.name == gate.endpoint]
        else:
            rows = [(r.name, _value(gate, r)) for r in summary.phases]
        found = [float(v) for phase, v in rows if v is not None and gate.phase in (None, phase)]
        if not found:
            return None
        return min(found) if gate.min is not None else max(found)
    return {
        "lock_wait_max_ms": summary.lock_waits.max_ms,
        "lock_wait_total_ms": summary.lock_waits.total_ms,
        "downtime_s": summary.downtime_s,
        "outage_s": summary.outage_s,
        "rollback_safe": 1.0 if summary.rollback.safe else 0.0,
        "migration_errors": float(failed_steps(summary.statements)),
        "cleanup_failures": float(sum(1 for c in summary.cleanup if c.status != "ok")),
    }[gate.metric]


def _value(gate: Gate, figures: PhaseFigures | EndpointFigures) -> float | None:
    """The metric of one phase (or endpoint); error_rate and errors count only `gate.cause` when it names one."""
    if gate.cause is None:
        value = getattr(figures, gate.metric, None)
        return None if value is None else float(value)
    errors = figures.errors_by_cause.get(gate.cause, 0)
    if gate.metric == "errors":
        return float(errors)
    return errors / figures.requests if figures.requests else 0.0


def evaluate(gates: list[Gate], summary: Summary) -> list[GateResult]:
    """One result per gate; a gate with nothing observed fails."""
    results = []
    for gate in gates:
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
                                  passed=passed))
    return results
