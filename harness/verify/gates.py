"""Evaluate the plan's gates against the summary figures."""

from __future__ import annotations

from typing import Any

from harness.plan import PHASE_METRICS, Gate


def observe(gate: Gate, summary: dict[str, Any]) -> float | None:
    """The value a gate judges: per phase (and endpoint) when named, else the worst phase; run-wide metrics."""
    if gate.metric in PHASE_METRICS:
        rows = summary["endpoints"] if gate.endpoint else summary["phases"]
        rows = [r for r in rows if (gate.phase is None or r.get("phase", r.get("name")) == gate.phase)
                and (gate.endpoint is None or r["name"] == gate.endpoint)]
        values = [r[gate.metric] for r in rows if r.get(gate.metric) is not None]
        if not values:
            return None
        return min(values) if gate.min is not None else max(values)
    lock_waits = summary["lock_waits"]
    return {
        "lock_wait_max_ms": lock_waits["max_ms"],
        "lock_wait_total_ms": lock_waits["total_ms"],
        "downtime_s": summary["downtime_s"],
        "rollback_safe": 1.0 if summary["rollback"]["safe"] else 0.0,
        "migration_errors": float(sum(1 for s in summary["statements"] if s["error"])),
    }[gate.metric]


def evaluate(gates: list[Gate], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per gate: name, metric, limit, observed, passed (a gate with nothing observed fails)."""
    rows = []
    for gate in gates:
        observed = observe(gate, summary)
        limit = gate.max if gate.max is not None else gate.min
        if observed is None:
            passed = False
        elif gate.max is not None:
            passed = observed <= gate.max
        else:
            passed = observed >= gate.min
        rows.append({"name": gate.name, "metric": gate.metric, "phase": gate.phase, "endpoint": gate.endpoint,
                     "bound": "max" if gate.max is not None else "min", "limit": limit, "observed": observed,
                     "passed": passed})
    return rows
