"""Build the run's Summary from its streams alone, so that any run directory (finished, interrupted, or
killed) can be reported again: `rehearse report RUN_DIR`. Gates and the verdict are judged later (verify/)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.core.streams import read_json_lines
from harness.inject.contention import STREAM as CONTENTION_STREAM
from harness.plan import Plan
from harness.records.run import ActionRecord, ContentionRecord, RollbackResult, Stop
from harness.records.summary import CauseFigures, LoadSettings, Summary, SwapFigures, TimelineEntry, WaitFigures
from harness.result import analysis, causes
from harness.result.frames import Frames, load_frames
from harness.result.lint_check import check_statements
from harness.rundir import RUN_LOG, RunDir
from harness.verify.rollback import STREAM as ROLLBACK_STREAM


@dataclass
class RunFacts:
    """What the timeline logged in streams/run.jsonl."""

    started: float = 0.0
    ended: float | None = None
    environment: str = ""
    environment_reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    swaps: list[SwapFigures] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    observer_errors: list[str] = field(default_factory=list)
    invalid_indexes: list[str] = field(default_factory=list)
    stop: Stop | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    plan: str | None = None


def read_facts(run: RunDir) -> RunFacts:
    facts = RunFacts()
    for row in read_json_lines(run.stream(RUN_LOG)):
        event = row.pop("event", None)
        at = row.pop("at", None)
        if event == "run":
            facts.started, facts.overrides, facts.plan = at or 0.0, row.get("overrides") or {}, row.get("plan")
        elif event == "environment":
            facts.environment, facts.environment_reason = row.get("name", ""), row.get("reason", "")
        elif event == "timing":
            facts.timings[row["name"]] = row["seconds"]
        elif event == "swap":
            facts.swaps.append(SwapFigures(from_version=row["from_version"], to_version=row["to_version"],
                                           downtime_s=row["healthy_at"] - row["stopped_at"], phase=row.get("phase"),
                                           stopped_at=row["stopped_at"], healthy_at=row["healthy_at"]))
        elif event == "action":
            facts.actions.append(ActionRecord(**row))
        elif event == "observer_error":
            facts.observer_errors.append(f"{row['source']}: {row['message']}")
        elif event == "invalid_indexes":
            facts.invalid_indexes = list(row.get("indexes") or [])
        elif event == "stop":
            facts.stop = Stop(row["kind"], row["message"])
        elif event == "ended":
            facts.ended = at
    return facts


def build_summary(plan: Plan, run: RunDir) -> tuple[Summary, Frames]:
    """Every figure of the run from its streams; gates and verdict are left for verify.verdict.judge."""
    facts = read_facts(run)
    frames = load_frames(run)
    ended = facts.ended or time.time()
    phases = analysis.phase_table(frames)
    statements = analysis.statement_table(frames)
    rollbacks = [RollbackResult.from_row(row) for row in read_json_lines(run.stream(ROLLBACK_STREAM))]
    rollback = rollbacks[0] if rollbacks else RollbackResult(
        safe=False, checked=False, error=None if any(a.name == "revert" for p in plan.timeline for a in p.actions)
        else "the timeline has no revert")
    contention = [ContentionRecord(**row) for row in read_json_lines(run.stream(CONTENTION_STREAM))]
    by_cause, waits = blame(frames, facts.swaps)
    summary = Summary(
        scenario=plan.scenario, from_version=plan.from_version, to_version=plan.to_version,
        environment=facts.environment, verdict="fail", exit_code=1,
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(facts.started or ended)),
        duration_s=ended - (facts.started or ended),
        incomplete=None if facts.stop is None else facts.stop.kind if facts.stop.kind == "interrupted"
        else facts.stop.message,
        phases=phases,
        endpoints=analysis.endpoint_table(frames),
        statements=statements,
        top_offenders=analysis.top_offenders(statements),
        errors=analysis.error_table(frames),
        lint_check=check_statements(plan, statements),
        lock_waits=analysis.lock_wait_summary(frames),
        downtime_s=sum(s.downtime_s for s in facts.swaps),
        swaps=facts.swaps,
        rollback=rollback,
        invalid_indexes=facts.invalid_indexes,
        contention=contention,
        timings=facts.timings,
        load=LoadSettings(users=plan.users, spawn_rate=plan.spawn_rate,
                          lock_sample_interval_ms=plan.lock_sample_interval_ms, seed_rows=plan.seed_rows),
        observer_errors=facts.observer_errors[:10],
        artifacts={},
        gates=[],
        environment_reason=facts.environment_reason,
        timeline=[TimelineEntry(p.name, [a.name for a in p.actions], p.soak_s) for p in plan.timeline],
        actions=facts.actions,
        upgrades=analysis.upgrade_table(statements, phases),
        stopped=facts.stop,
        reached_phase=phases[-1].name if phases else None,
        migration_errors=analysis.migration_errors(statements),
        migration_retries=analysis.migration_retries(statements),
        causes=by_cause,
        waits=waits,
        held_up_rule=causes.HELD_UP_RULE,
        default_gates=plan.default_gates,
    )
    return summary, frames


def blame(frames: Frames, swaps: list[SwapFigures]) -> tuple[list[CauseFigures], list[WaitFigures]]:
    """Requests and lock waits of the timeline's phases by cause (result.causes), as gates read them."""
    names = analysis.phase_names(frames)
    steps = frames.statements[frames.statements["phase"].isin(names)]
    statement_windows, swap_windows = causes.statement_windows(steps), causes.swap_windows(swaps)
    requests = frames.requests
    pids = analysis.migration_pids(frames)
    involved = analysis.migration_lock_rows(frames.locks, pids) if not frames.locks.empty else None
    waits = causes.distinct_waits(frames.locks, involved if involved is not None else pd.Series(dtype=bool), pids)
    by_lock = causes.waited_on_migration(requests, waits)
    slow = causes.slower_than_baseline(requests, names[0] if names else "")
    request_causes = causes.request_causes(requests, statement_windows, swap_windows)
    by_cause = causes.cause_table(requests, request_causes, by_lock, slow, frames.phases, statement_windows,
                                  swap_windows)
    return by_cause, causes.wait_table(waits, causes.wait_causes(waits, swap_windows), names)
