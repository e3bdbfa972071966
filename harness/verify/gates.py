"""Judge the plan's gates on the run's typed figures."""

from __future__ import annotations

from harness.plan import PHASE_METRICS, Gate
from harness.records.summary import GateResult, Summary


def observe(gate: Gate, summary: Summary) -> float | None:
    """The value a gate judges: per phase (and endpoint) when named, else the worst phase; run-wide metrics."""
    if gate.metric in PHASE_METRICS:
        if gate.endpoint:
            rows = [(r.phase, getattr(r, gate.metric, None)) for r in summary.endpoints if r.name == gate.endpoint]
        else:
            rows = [(r.name, getattr(r, gate.metric, None)) for r in summary.phases]
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
        "migration_errors": float(sum(1 for s in summary.statements if s.error)),
        "cleanup_failures": float(sum(1 for c in summary.cleanup if c.status != "ok")),
    }[gate.metric]


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
