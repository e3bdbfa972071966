"""The verdict: every reason the run fails (gates, failed migrations, phases without traffic, faults, a stop),
and the exit code the run ends with.

A run passes only when nothing is wrong: a failed migration step (upgrade, rollback, re-upgrade) fails it
unless the plan expects that failure (`expect_failure = true` on the action, or a `migration_errors` gate that
judges migration errors itself); a phase of a second or more without a single request fails it (the load was
not running); every fault fails it, and makes the exit code 3 (the environment broke, not the upgrade).
"""

from __future__ import annotations

from dataclasses import replace

from harness.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_GATES_FAILED,
    EXIT_HARNESS_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PASS,
)
from harness.plan import Plan
from harness.records.summary import Failure, GateResult, Summary
from harness.verify.gates import evaluate

STOP_EXIT_CODES = {"interrupted": EXIT_INTERRUPTED, "environment": EXIT_ENVIRONMENT, "input": EXIT_BAD_INPUT,
                   "crash": EXIT_HARNESS_ERROR, "killed": EXIT_INTERRUPTED}
MIGRATION_ACTIONS = ("migrate", "revert")
NO_TRAFFIC_MIN_S = 1.0  # a phase at least this long with no request at all means the load was not running


def judge(plan: Plan, summary: Summary, phase: str | None = None) -> Summary:
    """The summary with its gates evaluated, its failures listed, its verdict and exit code decided; with
    `phase`, as if the run were that phase alone (gates of other phases left out, the others limited to it:
    verify.gates; failures of other phases left out)."""
    gates = evaluate(plan.gates, summary, phase)
    reasons = failures(plan, summary, gates)
    if phase is not None:
        reasons = [r for r in reasons if r.phase in (None, phase) or r.kind == "stopped"]
    if summary.stopped is not None:
        code = STOP_EXIT_CODES[summary.stopped.kind]
    elif summary.faults:
        code = EXIT_ENVIRONMENT
    else:
        code = EXIT_GATES_FAILED if reasons else EXIT_PASS
    return replace(summary, gates=gates, failures=reasons, verdict="fail" if reasons else "pass", exit_code=code)


def failures(plan: Plan, summary: Summary, gates: list[GateResult]) -> list[Failure]:
    """Every reason the verdict is fail, in the order a reader wants them: how the run ended, faults, migrations,
    traffic, then gates."""
    reasons: list[Failure] = []
    if summary.stopped is not None:
        reasons.append(Failure("stopped", f"the run stopped early ({summary.stopped.kind}): "
                               f"{summary.stopped.message}", summary.reached_phase))
    reasons += [Failure(f.kind, f.message, f.phase) for f in summary.faults]
    # a plan's own migration_errors gate decides; the default set's does not hide the action's own reason
    judged_by_gate = not plan.default_gates and any(g.metric == "migration_errors" for g in plan.gates)
    for action in summary.actions:
        if action.name not in MIGRATION_ACTIONS:
            continue
        if action.status == "failed" and not action.expect_failure and not judged_by_gate:
            reasons.append(Failure("migration_failed", f"{action.phase}: {action.name} failed: {action.message}",
                                   action.phase))
        elif action.status == "ok" and action.expect_failure:
            reasons.append(Failure("expected_failure_missing", f"{action.phase}: {action.name} was expected to "
                                   "fail (expect_failure = true) and succeeded", action.phase))
    for phase in summary.phases:
        if phase.requests == 0 and phase.duration_s >= NO_TRAFFIC_MIN_S:
            reasons.append(Failure("no_traffic", f"{phase.name}: no request in {phase.duration_s:.1f} s: the load "
                                   "was not running, so nothing was measured", phase.name))
    said = any(r.kind == "migration_failed" for r in reasons)  # the default migration_errors gate says it again
    reasons += [Failure("gate", f"gate {g.name}: observed {g.observed}", g.phase) for g in gates
                if not g.passed and not (said and plan.default_gates and g.metric == "migration_errors")]
    return reasons
