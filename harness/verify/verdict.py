"""The verdict: gates judged on the figures, and the exit code the run ends with."""

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
from harness.records.summary import Summary
from harness.verify.gates import evaluate

STOP_EXIT_CODES = {"interrupted": EXIT_INTERRUPTED, "environment": EXIT_ENVIRONMENT, "input": EXIT_BAD_INPUT,
                   "crash": EXIT_HARNESS_ERROR}


def judge(plan: Plan, summary: Summary, phase: str | None = None) -> Summary:
    """The summary with its gates evaluated, its verdict and exit code decided; with `phase`, as if the run
    were that phase alone (gates of other phases left out, the others limited to it: verify.gates)."""
    gates = evaluate(plan.gates, summary, phase)
    if summary.stopped is not None:
        return replace(summary, gates=gates, verdict="fail", exit_code=STOP_EXIT_CODES[summary.stopped.kind])
    passed = all(g.passed for g in gates)
    return replace(summary, gates=gates, verdict="pass" if passed else "fail",
                   exit_code=EXIT_PASS if passed else EXIT_GATES_FAILED)
