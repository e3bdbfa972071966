"""Build the run's Summary from its streams alone, so that any run directory (finished, interrupted, or
killed) can be reported again: `rehearse report RUN_DIR`. Gates and the verdict are judged later (verify/)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.core.postgres import DEADLOCK_DETECTED
from harness.core.streams import read_json_lines
from harness.inject.contention import STREAM as CONTENTION_STREAM
from harness.observe.app_locks import STREAM as APP_LOCKS_STREAM
from harness.plan import Plan
from harness.records.run import (
    CLEANUP_STREAM,
    QUARANTINE_STREAM,
    STUB_STREAM,
    ActionRecord,
    CleanupRecord,
    ContentionRecord,
    Fault,
    FlagChange,
    PackageRecord,
    QuarantineRecord,
    Stop,
    StubTraffic,
)
from harness.records.summary import (
    CauseFigures,
    FailedRevert,
    LoadSettings,
    ServerFacts,
    Summary,
    SwapFigures,
    TimelineEntry,
    WaitFigures,
)
from harness.result import analysis, causes
from harness.result.arrivals import arrival_table
from harness.result.dependencies import dependency_figures, with_retry_drift
from harness.result.drift import drift_table
from harness.result.frames import Frames, load_frames
from harness.result.lint_check import check_statements
from harness.result.lock_order import lock_order_risks
from harness.result.profile_mix import profile_mix
from harness.result.rollback import check_windows, rollback_result, version_table
from harness.rundir import RUN_LOG, RunDir


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
    flags: list[FlagChange] = field(default_factory=list)
    stop: Stop | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    plan: str | None = None
    server: ServerFacts | None = None
    failed_reverts: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    stage: str | None = None  # the last stage that started
    last_at: float | None = None  # the last fact's time


def read_facts(run: RunDir) -> RunFacts:
    facts = RunFacts()
    for row in read_json_lines(run.stream(RUN_LOG)):
        event = row.pop("event", None)
        at = row.pop("at", None)
        facts.last_at = at if isinstance(at, int | float) else facts.last_at
        if event == "run":
            facts.started, facts.overrides, facts.plan = at or 0.0, row.get("overrides") or {}, row.get("plan")
        elif event == "environment":
            facts.environment, facts.environment_reason = row.get("name", ""), row.get("reason", "")
        elif event == "timing":
            facts.timings[row["name"]] = row["seconds"]
        elif event == "swap":
            facts.swaps.append(SwapFigures(from_version=row["from_version"], to_version=row["to_version"],
                                           downtime_s=row["healthy_at"] - row["stopped_at"], phase=row.get("phase"),
                                           stopped_at=row["stopped_at"], healthy_at=row["healthy_at"],
                                           strategy=row.get("strategy", "restart"),
                                           started_at=row.get("started_at", row["stopped_at"]),
                                           ended_at=row.get("ended_at", row["healthy_at"]),
                                           in_flight_at_stop=int(row.get("in_flight_at_stop") or 0)))
        elif event == "revert_failed":
            facts.failed_reverts.append(row)
        elif event == "server":
            facts.server = ServerFacts(version=str(row.get("version", "")), version_num=int(row.get("version_num", 0)),
                                       major=int(row.get("major", 0)), source=str(row.get("source", "")),
                                       extensions_required=list(row.get("extensions_required") or []),
                                       extensions_installed=list(row.get("extensions_installed") or []))
        elif event == "action":
            facts.actions.append(ActionRecord(**row))
        elif event == "fault":
            known = {k: v for k, v in row.items() if k in Fault.__dataclass_fields__}
            facts.faults.append(Fault(**(known | {"at": at or 0.0})))  # the fault's own time is the row's
        elif event == "stage":
            facts.stage = row.get("name")
        elif event == "observer_error":
            facts.observer_errors.append(f"{row['source']}: {row['message']}")
        elif event == "invalid_indexes":
            facts.invalid_indexes = list(row.get("indexes") or [])
        elif event == "flag":
            facts.flags.append(FlagChange(**row))
        elif event == "stop":
            facts.stop = Stop(row["kind"], row["message"])
        elif event == "ended":
            facts.ended = at
    if facts.ended is None and facts.stop is None and facts.started:
        # No end was recorded: the harness was killed (SIGKILL, OOM, power) before it could say so.
        facts.stop = Stop("killed", "the harness died before the run ended (no end was recorded); this report "
                          "is built from what its streams hold")
    return facts


def build_summary(plan: Plan, run: RunDir) -> tuple[Summary, Frames]:
    """Every figure of the run from its streams; gates and verdict are left for verify.verdict.judge."""
    facts = read_facts(run)
    frames = load_frames(run)
    ended = facts.ended or facts.last_at or time.time()
    outages = analysis.outages(frames, plan.health_interval_ms / 1000)
    phases = analysis.phase_table(frames)
    statements = analysis.statement_table(frames)
    rollback = rollback_result(plan, frames, run)
    contention = [ContentionRecord(**row) for row in read_json_lines(run.stream(CONTENTION_STREAM))]
    for swap in facts.swaps:
        swap.failed_requests = analysis.swap_failures(frames, swap)
    by_cause, waits = blame(frames, facts.swaps)
    dependencies, dependency_settings = dependency_figures(run, frames.phases)
    dependencies = with_retry_drift(dependencies, [(p.name, [a.name for a in p.actions]) for p in plan.timeline])
    summary = Summary(
        scenario=plan.scenario, from_version=plan.from_version, to_version=plan.to_version,
        environment=facts.environment, verdict="fail", exit_code=1,
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(facts.started or ended)),
        duration_s=ended - (facts.started or ended),
        incomplete=None if facts.stop is None else facts.stop.kind if facts.stop.kind in ("interrupted", "killed")
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
        load=load_settings(plan),
        observer_errors=facts.observer_errors[:10],
        artifacts={},
        gates=[],
        environment_reason=facts.environment_reason,
        timeline=[TimelineEntry(p.name, [a.name for a in p.actions], p.soak_s) for p in plan.timeline],
        actions=facts.actions,
        upgrades=analysis.upgrade_table(statements, phases),
        stopped=facts.stop,
        reached_phase=phases[-1].name if phases else None,
        server=facts.server,
        lock_order_risks=lock_order_risks(
            frames.statements, analysis.phase_names(frames), read_json_lines(run.stream(APP_LOCKS_STREAM)),
            deadlocks=int((frames.requests["sqlstate"] == DEADLOCK_DETECTED).sum())
            + sum(1 for s in statements if s.sqlstate == DEADLOCK_DETECTED)),
        failed_reverts=[FailedRevert(phase=str(r["phase"]), on_failure=str(r["on_failure"]), error=str(r["error"]),
                                     serving_before=str(r["serving"]),
                                     served_after=next((p.to_version for p in phases if p.name == r["phase"]),
                                                       str(r["serving"])))
                        for r in facts.failed_reverts],
        migration_errors=analysis.migration_errors(statements),
        migration_retries=analysis.migration_retries(statements),
        causes=by_cause,
        waits=waits,
        held_up_rule=causes.HELD_UP_RULE,
        default_gates=plan.default_gates,
        versions=version_table(frames),
        check_windows=check_windows(run),
        flags=facts.flags,
        **package_figures(run),
        faults=facts.faults,
        outage_s=sum(o.seconds for o in outages),
        outages=outages,
        reached_stage=facts.stage,
        profile_mix=profile_mix(run, frames.requests),
        drift=drift_table(frames.requests, [(p.name, [a.name for a in p.actions]) for p in plan.timeline]),
        arrivals=arrival_table(frames, plan.load_options.model),
        dependencies=dependencies,
        dependency_settings=dependency_settings,
    )
    return summary, frames


def load_settings(plan: Plan) -> LoadSettings:
    """The load settings of the plan (the closed model's users, or the open model's rates), and its workers."""
    options = plan.load_options
    return LoadSettings(users=plan.users, spawn_rate=plan.spawn_rate,
                        lock_sample_interval_ms=plan.lock_sample_interval_ms, seed_rows=plan.seed_rows,
                        model=options.model, rate=options.rate, rates=dict(options.rates), ramp_s=options.ramp_s,
                        max_concurrency=options.max_concurrency if options.open else None,
                        workers=options.workers, remote_workers=options.remote_workers)


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
def package_figures(run: RunDir) -> dict[str, Any]:
    """packages, quarantine (with whether each was reverted), stub_traffic and cleanup, from their streams."""
    packages: list[PackageRecord] = []
    quarantine: list[QuarantineRecord] = []
    for row in read_json_lines(run.stream(QUARANTINE_STREAM)):
        event = row.pop("event", None)
        if event == "package":
            packages.append(PackageRecord(**row))
        elif event == "applied":
            quarantine.append(QuarantineRecord(**row))
        elif event == "reverted":
            problems = row.get("problems") or []
            for record in quarantine:
                if record.release == row.get("release") and record.status == "applied":
                    record.reverted = not problems
                    record.message = record.message or ("; ".join(problems) if problems else None)
    traffic: dict[str, StubTraffic] = {}
    for row in read_json_lines(run.stream(STUB_STREAM)):
        host, at = str(row.get("host") or "?"), float(row.get("at") or 0.0)
        entry = traffic.setdefault(host, StubTraffic(host, 0, at, at))
        entry.requests += 1
        entry.first_at, entry.last_at = min(entry.first_at, at), max(entry.last_at, at)
        method = str(row.get("method"))
        entry.methods[method] = entry.methods.get(method, 0) + 1
        if row.get("path") not in entry.paths and len(entry.paths) < 5:
            entry.paths.append(str(row.get("path")))
    cleanup = [CleanupRecord(**row) for row in read_json_lines(run.stream(CLEANUP_STREAM))]
    return {"packages": packages, "quarantine": quarantine,
            "stub_traffic": sorted(traffic.values(), key=lambda t: -t.requests), "cleanup": cleanup}
