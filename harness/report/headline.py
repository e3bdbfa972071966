"""The few numbers that say how a run went, for the first screen of summary.md and report.html.

Picked from the typed Summary (nothing is measured here): the latency tail, failed requests, downtime and outage,
the longest lock wait and its statement, migration errors, the gates and the rollback verdict.
"""

from __future__ import annotations

from harness.records.summary import Summary


def headline(s: Summary) -> list[tuple[str, str]]:
    """(label, value) pairs, in reading order; a value is "-" when it was not measured."""
    measured = [p for p in s.phases if p.requests and p.p99_ms is not None]
    p99 = "-"
    if measured:
        baseline, worst = measured[0], max(measured, key=lambda p: p.p99_ms or 0.0)
        p99 = f"{_ms(baseline.p99_ms)} {baseline.name}" + (
            f" → {_ms(worst.p99_ms)} {worst.name}" if worst is not baseline else "")
    requests, errors = sum(p.requests for p in s.phases), sum(p.errors for p in s.phases)
    blocker = max(s.statements, key=lambda t: t.max_wait_ms, default=None)
    wait = _ms(s.lock_waits.max_ms) if s.lock_waits.count else "none"
    if s.lock_waits.count and blocker is not None and blocker.max_wait_ms:
        wait += f" (#{blocker.seq})"
    failed_gates = [g for g in s.gates if not g.passed]
    gates = ("none" if not s.gates else f"all {len(s.gates)} passed" if not failed_gates
             else f"{len(failed_gates)} of {len(s.gates)} failed")
    return [("p99", p99),
            ("failed requests", f"{errors:,} of {requests:,}" + (f" ({errors / requests:.2%})" if requests else "")),
            ("downtime", f"{s.downtime_s:.2f} s"),
            ("outage", f"{s.outage_s:.2f} s"),
            ("longest lock wait", wait),
            ("migration errors", str(s.migration_errors)),
            ("gates", gates),
            ("rollback safe", rollback_verdict(s))]


def rollback_verdict(s: Summary) -> str:
    """yes, NO (the failed checks), or not checked."""
    rollback = s.rollback
    if not rollback.checked:
        return "not checked"
    if rollback.safe:
        return "yes"
    return "NO" + (f" ({', '.join(r.check.replace('_', ' ') for r in rollback.reasons)})" if rollback.reasons else "")


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"
