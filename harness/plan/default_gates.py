"""The gates a plan without [[gates]] is judged by: meaningful out of the box (docs/gates.md).

They judge the migration and the service, not the harness's way of swapping: a harmless migration with a
swap that drops no request passes; a statement that makes requests wait more than half a second, makes one
fail, or fails itself, fails the run. Requests lost while a stop-then-start swap restarts the service are
left to `downtime_s` (gate them with `failed_requests`, cause = "swap", to demand a zero-downtime swap).
"""

from __future__ import annotations

from harness.plan.model import Gate, TimelinePhase

REQUEST_WAIT_LIMIT_MS = 500.0  # a request waiting longer than this on a migration's lock counts as hurt
SERVICE_ERROR_RATE = 0.01  # errors of the service outside migration statements and swaps
DOWNTIME_LIMIT_S = 5.0


def default_gates(timeline: tuple[TimelinePhase, ...]) -> list[Gate]:
    """The default gate set for a timeline (rollback_safe only when it reverts something)."""
    gates = [
        Gate("migration_errors", None, None, max=0.0, min=None),
        Gate("request_lock_wait_max_ms", None, None, max=REQUEST_WAIT_LIMIT_MS, min=None, cause="statements"),
        Gate("failed_requests", None, None, max=0.0, min=None, cause="statements"),
        Gate("error_rate", None, None, max=SERVICE_ERROR_RATE, min=None, cause="service"),
        Gate("downtime_s", None, None, max=DOWNTIME_LIMIT_S, min=None),
    ]
    if any(action.name == "revert" for phase in timeline for action in phase.actions):
        gates.append(Gate("rollback_safe", None, None, max=None, min=1.0))
    return gates
