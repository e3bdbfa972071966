"""summary.json: the machine-readable contract that CI, compare and tests read (see ARCHITECTURE.md)."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from harness.plan import Plan
from harness.rehearsal import Outcome
from harness.report import analysis
from harness.report.frames import Frames, load_frames
from harness.report.lint_check import check_statements
from harness.report.markdown import render_markdown
from harness.verify import gates

EXIT_PASS, EXIT_GATES_FAILED = 0, 1  # 2 (bad input), 3 (environment), 130 (interrupted): see cli.py


def build_summary(plan: Plan, outcome: Outcome, frames: Frames, artifacts: dict[str, str]) -> dict[str, Any]:
    """Every figure of the run, gates evaluated, verdict decided."""
    ended = outcome.ended or time.time()
    statements = analysis.statement_table(frames, outcome.migration_pids)
    summary: dict[str, Any] = {
        "scenario": plan.scenario, "from_version": plan.from_version, "to_version": plan.to_version,
        "environment": outcome.environment, "verdict": None, "exit_code": None,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome.started)),
        "duration_s": ended - outcome.started,
        "incomplete": outcome.interrupted,
        "phases": analysis.phase_table(frames),
        "endpoints": analysis.endpoint_table(frames),
        "statements": statements,
        "top_offenders": [{"phase": s["phase"], "seq": s["seq"], "sql": s["sql"],
                           "blocked_requests": s["blocked_requests"], "max_wait_ms": s["max_wait_ms"],
                           "added_p99_ms": s["added_p99_ms"], "failed_requests": s["failed_requests"]}
                          for s in analysis.top_offenders(statements)],
        "errors": analysis.error_table(frames.requests),
        "lint_check": check_statements(plan, statements),
        "lock_waits": analysis.lock_wait_summary(frames.locks),
        "downtime_s": sum(swap.downtime_s for swap in outcome.swaps),
        "swaps": [{"from_version": s.from_version, "to_version": s.to_version, "downtime_s": s.downtime_s}
                  for s in outcome.swaps],
        "rollback": outcome.rollback.result() if outcome.rollback else {"safe": False, "checked": False,
                                                                         "schema_diff": [], "data_changes": []},
        "invalid_indexes": outcome.invalid_indexes,
        "contention": outcome.contention,
        "timings": outcome.timings,
        "load": {"users": plan.users, "spawn_rate": plan.spawn_rate,
                 "lock_sample_interval_ms": plan.lock_sample_interval_ms, "seed_rows": plan.seed_rows},
        "observer_errors": outcome.sampler_errors[:10],
        "artifacts": artifacts | {"summary_md": "summary.md"},
    }
    summary["gates"] = gates.evaluate(plan.gates, summary)
    passed = all(g["passed"] for g in summary["gates"]) and outcome.interrupted is None
    summary["verdict"] = "pass" if passed else "fail"
    summary["exit_code"] = EXIT_PASS if passed else EXIT_GATES_FAILED
    return summary


def write_report(plan: Plan, outcome: Outcome, exit_code: int | None = None) -> dict[str, Any]:
    """Frames to Parquet, summary.json and summary.md in the run directory; returns the summary."""
    frames = load_frames(outcome.run)
    artifacts = frames.write_parquet(outcome.run.path)
    summary = build_summary(plan, outcome, frames, artifacts)
    if exit_code is not None:
        summary["exit_code"] = exit_code
    path = outcome.run.path
    (path / "summary.json").write_text(json.dumps(_finite(summary), indent=2, default=_plain) + "\n")
    (path / "summary.md").write_text(render_markdown(summary))
    return summary


def _finite(value: Any) -> Any:
    """JSON has no NaN: turn NaN/inf into null throughout."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """numpy scalars and other leftovers as plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)

