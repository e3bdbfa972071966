"""The versions of `rehearse matrix` side by side: how each one's upgrade and rollback went, the tests between
every pair of them, and the best one.

Best: among the versions whose rollback was checked and found safe, the one with the lowest upgrade-phase p99;
a tie goes to the shorter longest lock wait, then to fewer failed requests in the upgrade phase, then to the
earlier --to. None when no version rolled back safely (docs/compare.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from harness.compare.judge import Thresholds, growth_call
from harness.compare.runs import ALL_ENDPOINTS, RunFigures
from harness.result.stats import Call, LatencyShift, RateShift, latency_shift, rate_shift


@dataclass(frozen=True)
class VersionRow:
    """One version's rehearsal, as the comparison table shows it."""

    version: str
    p99_ms_upgrade: float | None
    errors_upgrade: int
    requests_upgrade: int
    max_lock_wait_ms: float
    lock_wait_total_ms: float
    lock_statement: str | None  # the statement the longest lock wait is blamed on
    downtime_s: float
    rollback_safe: bool
    rollback_why: str  # why it is not safe ("" when safe)
    verdict: str  # the run's own verdict (its gates)
    run_dir: str


@dataclass(frozen=True)
class PairTest:
    """One statistical test of version b against version a (b earlier in --to order is a)."""

    a: str
    b: str
    phase: str
    test: str  # what is compared, and how
    a_value: float | None
    b_value: float | None
    ratio: float | None
    p_value: float | None
    effect: float | None  # rank-biserial (latency, lock waits) or the odds ratio (error rate)
    call: Call  # b against a
    unit: str = "ms"  # of a_value and b_value: ms, or rate (a fraction of the requests)


@dataclass(frozen=True)
class MatrixComparison:
    scenario: str
    from_version: str
    versions: list[VersionRow]
    best: str | None
    best_reason: str
    tests: list[PairTest]


def compare_versions(runs: list[RunFigures], thresholds: Thresholds | None = None) -> MatrixComparison:
    """The runs of a matrix (one per target version, in --to order)."""
    limits = thresholds or Thresholds()
    rows = [version_row(run) for run in runs]
    tests = [test for a, b in combinations(runs, 2) for test in pair_tests(a, b, limits)]
    best, reason = pick_best(rows)
    first = runs[0] if runs else None
    return MatrixComparison(first.scenario if first else "", first.from_version if first else "", rows, best,
                            reason, tests)


def version_row(run: RunFigures) -> VersionRow:
    phase = run.phase(run.upgrade_phase)
    return VersionRow(
        version=run.to_version, p99_ms_upgrade=phase.p99_ms if phase else None,
        errors_upgrade=phase.errors if phase else 0, requests_upgrade=phase.requests if phase else 0,
        max_lock_wait_ms=run.waits.max_ms, lock_wait_total_ms=run.waits.total_ms, lock_statement=run.waits.statement,
        downtime_s=run.downtime_s, rollback_safe=run.rollback.safe, rollback_why=run.rollback.why,
        verdict=run.verdict, run_dir=str(run.path))


def pick_best(rows: list[VersionRow]) -> tuple[str | None, str]:
    safe = [r for r in rows if r.rollback_safe]
    if not safe:
        return None, "no version rolled back safely"
    def key(r: VersionRow) -> tuple[float, float, int, int]:
        return (float("inf") if r.p99_ms_upgrade is None else r.p99_ms_upgrade, r.max_lock_wait_ms,
                r.errors_upgrade, rows.index(r))

    best = min(safe, key=key)
    unsafe = [r.version for r in rows if not r.rollback_safe]
    return best.version, (f"safe rollback, and the lowest upgrade-phase p99 ({best.p99_ms_upgrade or 0:.1f} ms) "
                          f"of the versions that roll back safely"
                          + (f"; not safe: {', '.join(unsafe)}" if unsafe else ""))


def pair_tests(a: RunFigures, b: RunFigures, limits: Thresholds) -> list[PairTest]:
    """b against a in the upgrade phase: p99 and p50 per second, the error rate, the longest lock wait per second."""
    phase_a, phase_b = a.upgrade_phase, b.upgrade_phase
    tests = []
    for stat in ("p99", "p50"):
        shift = latency_shift(a.per_second(phase_a, ALL_ENDPOINTS, stat), b.per_second(phase_b, ALL_ENDPOINTS, stat),
                              stat, alpha=limits.alpha, min_ratio=limits.min_ratio, min_effect=limits.min_effect)
        tests.append(_latency(a, b, phase_b, f"{stat} latency per second (Mann-Whitney U, median ms)", shift))
    rows_a, rows_b = a.selected(phase_a), b.selected(phase_b)
    errors = rate_shift(int(rows_a["failed"].sum()), len(rows_a), int(rows_b["failed"].sum()), len(rows_b),
                        alpha=limits.alpha, min_diff=limits.min_rate_diff)
    tests.append(_rate(a, b, phase_b, errors))
    waits = latency_shift(a.lock_wait_per_second(phase_a), b.lock_wait_per_second(phase_b), "max",
                          alpha=limits.alpha, min_ratio=limits.min_ratio, min_effect=limits.min_effect)
    tests.append(_latency(a, b, phase_b, "longest lock wait per second (Mann-Whitney U, median ms)", waits))
    totals = [w.total_ms if w else 0.0 for w in (a.phase_waits.get(phase_a), b.phase_waits.get(phase_b))]
    tests.append(PairTest(a.to_version, b.to_version, phase_b, "lock wait total (ms; the test above is behind it)",
                          totals[0], totals[1], totals[1] / totals[0] if totals[0] else None, waits.p_value,
                          waits.effect, growth_call(totals[0], totals[1], limits.lock_wait_total_ms,
                                                      limits.min_ratio)))
    return tests


def _latency(a: RunFigures, b: RunFigures, phase: str, test: str, shift: LatencyShift) -> PairTest:
    return PairTest(a.to_version, b.to_version, phase, test, shift.median_a_ms, shift.median_b_ms, shift.ratio,
                    shift.p_value, shift.effect, shift.call)


def _rate(a: RunFigures, b: RunFigures, phase: str, shift: RateShift) -> PairTest:
    return PairTest(a.to_version, b.to_version, phase, "error rate (Fisher's exact test, odds ratio)", shift.rate_a,
                    shift.rate_b, shift.rate_b / shift.rate_a if shift.rate_a and shift.rate_b is not None else None,
                    shift.p_value, shift.odds_ratio, shift.call, unit="rate")
