"""The rollback's figures from the streams: the verdict the check recorded, completed with what only the whole
run shows: endpoints that fail more after the rollback than in the baseline (the old version on data the new
one wrote), the re-upgrade, the check windows, and the figures per version that served (mixed versions)."""

from __future__ import annotations

from dataclasses import replace

from scipy.stats import fisher_exact

from harness.core.streams import read_json_lines
from harness.load.contract import ERROR_BODIES_STREAM
from harness.plan import Plan
from harness.records.run import CheckWindow, EndpointRegression, ReupgradeResult, RollbackResult
from harness.records.summary import VersionFigures
from harness.result.analysis import RequestArrays, figures_by, measured_mask
from harness.result.frames import CHECKS_STREAM, Frames
from harness.rundir import RunDir
from harness.verify import reasons
from harness.verify.rollback import STREAM as ROLLBACK_STREAM

MIN_ERRORS = 3  # fewer errors after the rollback than this never fail the verdict
SIGNIFICANCE = 0.01  # one-sided Fisher exact test: more errors after the rollback than in the baseline
BODIES = 3


def check_windows(run: RunDir) -> list[CheckWindow]:
    return [CheckWindow(**row) for row in read_json_lines(run.stream(CHECKS_STREAM))]


def version_table(frames: Frames) -> list[VersionFigures]:
    """Per phase, version that served and endpoint: requests the loopback proxy tagged."""
    requests = frames.requests
    if "served_by" not in requests.columns:
        return []
    tagged = measured_mask(requests).to_numpy() & (requests["served_by"].fillna("") != "").to_numpy()
    order = {name: i for i, name in enumerate(frames.phases["name"])}
    figures = RequestArrays(requests)
    rows = [VersionFigures(phase=str(phase), version=str(version), name=str(name), **figures.stats(found))
            for (phase, version, name), found in figures_by(requests, ["phase", "served_by", "name"], tagged)
            if phase in order]
    return sorted(rows, key=lambda r: (order[r.phase], r.version, r.name))


def after_rollback_phases(plan: Plan, revert_phase: str | None) -> list[str]:
    """The phases after the rollback's phase, up to the next migrate (a re-upgrade) exclusive."""
    names = plan.phase_names
    if revert_phase not in names:
        return []
    found = []
    for phase in plan.timeline[names.index(revert_phase) + 1:]:
        if any(a.name == "migrate" for a in phase.actions):
            break
        found.append(phase.name)
    return found


def regressions(plan: Plan, frames: Frames, run: RunDir, revert_phase: str | None) -> list[EndpointRegression]:
    """Endpoints whose error rate after the rollback exceeds the baseline's (one-sided Fisher exact test,
    p < SIGNIFICANCE, at least MIN_ERRORS errors), with the first error bodies recorded there."""
    requests = frames.requests
    measured = measured_mask(requests).to_numpy()
    failing = requests["error"].notna().to_numpy()
    # (endpoint, requests, errors) per phase
    by_phase: dict[str, list[tuple[str, int, int]]] = {}
    for (phase_name, name), rows in figures_by(requests, ["phase", "name"], measured):
        failed = failing[rows]
        by_phase.setdefault(str(phase_name), []).append((str(name), len(failed), int(failed.sum())))
    base = {name: (count, errors) for name, count, errors in by_phase.get(plan.baseline_phase, [])}
    bodies = read_json_lines(run.stream(ERROR_BODIES_STREAM))
    phases = frames.phases.set_index("name")
    found = []
    for phase in after_rollback_phases(plan, revert_phase):
        for name, count, errors in sorted(by_phase.get(phase, []), key=lambda g: g[0]):
            base_count, base_errors = base.get(str(name), (0, 0))
            if errors < MIN_ERRORS or errors / count <= (base_errors / base_count if base_count else 0.0):
                continue
            _, p_value = fisher_exact([[errors, count - errors], [base_errors, base_count - base_errors]],
                                      alternative="greater")
            if p_value >= SIGNIFICANCE:
                continue
            started, ended = float(phases.loc[phase, "started"]), float(phases.loc[phase, "ended"])
            quoted = [f"HTTP {b.get('status')}: {b.get('body')}" for b in bodies
                      if b.get("name") == name and started <= float(b.get("at") or 0) <= (ended if ended == ended
                                                                                        else float("inf"))]
            found.append(EndpointRegression(phase, str(name), base_count, base_errors, count, errors,
                                            errors / count, base_errors / base_count if base_count else 0.0,
                                            float(p_value), quoted[:BODIES]))
    return found


def rollback_result(plan: Plan, frames: Frames, run: RunDir) -> RollbackResult:
    """The verdict the check streamed, completed with the regressions after the rollback and the re-upgrade."""
    rows = read_json_lines(run.stream(ROLLBACK_STREAM))
    verdicts = [r for r in rows if r.get("kind", "verdict") == "verdict"]
    if not verdicts:
        return RollbackResult(safe=False, checked=False, error=None if any(
            a.name == "revert" for p in plan.timeline for a in p.actions) else "the timeline has no revert")
    result = RollbackResult.from_row(verdicts[0])
    if not result.checked:
        return result
    reupgrade = next((ReupgradeResult(**{k: v for k, v in r.items() if k != "kind"})
                      for r in rows if r.get("kind") == "reupgrade"), None)
    found = regressions(plan, frames, run, result.phase) if not frames.requests.empty else []
    extra = reasons.regression_reason(found) + reasons.reupgrade_reason(reupgrade)
    all_reasons = [r for r in result.reasons if r.check not in ("old_version_fails", "reupgrade_failed")] + extra
    return replace(result, reupgrade=reupgrade or result.reupgrade, regressions=found, reasons=all_reasons,
                   safe=result.checked and not all_reasons)

