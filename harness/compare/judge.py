"""Run B against run A: the better / worse / same table per phase and endpoint, the run-wide checks, the verdict;
and the versions of a matrix side by side, with the best one.

Latency and error rates are judged by `harness.result.stats` (Mann-Whitney U on per-second aggregates, Fisher's
exact test on counts); lock waits, downtime and the rollback by the thresholds of `Thresholds`. B is worse when
any phase or endpoint's p99, p50 or error rate is worse, its rollback is no longer safe, or its lock waits or
downtime grew beyond the thresholds (docs/compare.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from harness.compare.runs import ALL_ENDPOINTS, RunFigures
from harness.result.stats import (
    ALPHA,
    MIN_EFFECT,
    MIN_RATE_DIFF,
    MIN_RATIO,
    Call,
    LatencyShift,
    RateShift,
    latency_shift,
    rate_shift,
)

Verdict = Literal["worse", "better", "same"]
LATENCY_STATS = ("p99", "p50")


@dataclass(frozen=True)
class Thresholds:
    """When a difference counts: the tests' significance and size, and how much lock waits and downtime may grow."""

    alpha: float = ALPHA
    min_ratio: float = MIN_RATIO
    min_effect: float = MIN_EFFECT
    min_rate_diff: float = MIN_RATE_DIFF
    lock_wait_ms: float = 500.0  # the run's longest lock wait may grow by this much
    lock_wait_total_ms: float = 2000.0  # the run's total lock wait may grow by this much
    downtime_s: float = 1.0  # the swaps' downtime may grow by this much


@dataclass(frozen=True)
class Row:
    """One endpoint (or all of them: ALL_ENDPOINTS) of one phase, B against A."""

    phase: str
    endpoint: str
    requests_a: int
    requests_b: int
    p99: LatencyShift
    p50: LatencyShift
    errors: RateShift
    call: Call  # worse if any test is worse; better if one is better and none worse


@dataclass(frozen=True)
class LockTest:
    """The longest lock wait in progress, per second of a phase, B against A (Mann-Whitney U): the statistics
    behind the lock-wait check, which itself is judged by its thresholds."""

    phase: str
    total_ms_a: float
    total_ms_b: float
    max_ms_a: float
    max_ms_b: float
    shift: LatencyShift


@dataclass(frozen=True)
class Check:
    """A run-wide figure of A and B against its threshold."""

    name: str  # longest lock wait, lock wait total, downtime, rollback
    a: str
    b: str
    limit: str
    call: Call
    detail: str = ""


@dataclass(frozen=True)
class Comparison:
    a: str  # the runs' labels and directories
    b: str
    a_dir: str
    b_dir: str
    thresholds: Thresholds
    rows: list[Row]
    lock_tests: list[LockTest]
    checks: list[Check]
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)  # why B is worse (or better), one line each


def compare_runs(a: RunFigures, b: RunFigures, thresholds: Thresholds | None = None) -> Comparison:
    """B against A, every phase both ran (in A's order), each endpoint and all endpoints together."""
    limits = thresholds or Thresholds()
    phases = [p.name for p in a.phases if b.phase(p.name) is not None]
    rows = [row(a, b, phase, endpoint, limits) for phase in phases
            for endpoint in [ALL_ENDPOINTS, *sorted(set(a.endpoints(phase)) | set(b.endpoints(phase)))]]
    lock_tests = [lock_test(a, b, phase, limits) for phase in phases]
    checks = run_checks(a, b, limits)
    reasons = [f"{r.phase} {r.endpoint}: {what}" for r in rows for what in _worse(r)]
    reasons += [f"{c.name}: {c.a} -> {c.b} ({c.limit})" for c in checks if c.call == "worse"]
    if reasons:
        verdict: Verdict = "worse"
    else:
        better = [f"{r.phase} {r.endpoint}" for r in rows if r.call == "better"]
        better += [c.name for c in checks if c.call == "better"]
        verdict = "better" if better else "same"
        reasons = [f"better: {', '.join(better)}"] if better else []
    return Comparison(a.label, b.label, str(a.path), str(b.path), limits, rows, lock_tests, checks, verdict, reasons)


def row(a: RunFigures, b: RunFigures, phase: str, endpoint: str, limits: Thresholds) -> Row:
    shifts = {stat: latency_shift(a.per_second(phase, endpoint, stat), b.per_second(phase, endpoint, stat), stat,
                                  alpha=limits.alpha, min_ratio=limits.min_ratio, min_effect=limits.min_effect)
              for stat in LATENCY_STATS}
    rows_a, rows_b = a.selected(phase, endpoint), b.selected(phase, endpoint)
    errors = rate_shift(int(rows_a["failed"].sum()), len(rows_a), int(rows_b["failed"].sum()), len(rows_b),
                        alpha=limits.alpha, min_diff=limits.min_rate_diff)
    return Row(phase, endpoint, len(rows_a), len(rows_b), shifts["p99"], shifts["p50"], errors,
               combined([shifts["p99"].call, shifts["p50"].call, errors.call]))


def combined(calls: list[Call]) -> Call:
    """Worse if any is worse; better if any is better; same if any could be judged; else too few."""
    for call in ("worse", "better", "same"):
        if call in calls:
            return call
    return "too few"


def lock_test(a: RunFigures, b: RunFigures, phase: str, limits: Thresholds) -> LockTest:
    wa, wb = a.phase_waits.get(phase), b.phase_waits.get(phase)
    shift = latency_shift(a.lock_wait_per_second(phase), b.lock_wait_per_second(phase), "max",
                          alpha=limits.alpha, min_ratio=limits.min_ratio, min_effect=limits.min_effect)
    return LockTest(phase, wa.total_ms if wa else 0.0, wb.total_ms if wb else 0.0, wa.max_ms if wa else 0.0,
                    wb.max_ms if wb else 0.0, shift)


def run_checks(a: RunFigures, b: RunFigures, limits: Thresholds) -> list[Check]:
    return [
        _growth("longest lock wait", a.waits.max_ms, b.waits.max_ms, limits.lock_wait_ms, "ms", limits.min_ratio,
                b.waits.statement or ""),
        _growth("lock wait total", a.waits.total_ms, b.waits.total_ms, limits.lock_wait_total_ms, "ms",
                limits.min_ratio),
        _growth("downtime", a.downtime_s, b.downtime_s, limits.downtime_s, "s", limits.min_ratio),
        _rollback(a, b)]


def growth_call(a: float, b: float, limit: float, min_ratio: float) -> Call:
    """Worse when B grew by more than `limit` and by `min_ratio`; better when it shrank as much; else same."""
    def beyond(low: float, high: float) -> bool:
        return high - low > limit and (low <= 0 or high / low >= min_ratio)

    return "worse" if beyond(a, b) else "better" if beyond(b, a) else "same"


def _growth(name: str, a: float, b: float, limit: float, unit: str, min_ratio: float, detail: str = "") -> Check:
    digits = 0 if unit == "ms" else 2
    return Check(name, f"{a:.{digits}f} {unit}", f"{b:.{digits}f} {unit}",
                 f"may grow by {limit:g} {unit} and x{min_ratio:g}", growth_call(a, b, limit, min_ratio), detail)


def _rollback(a: RunFigures, b: RunFigures) -> Check:
    def text(run: RunFigures) -> str:
        return "safe" if run.rollback.safe else "not checked" if not run.rollback.checked else "unsafe"

    call: Call = ("worse" if a.rollback.safe and not b.rollback.safe else
                  "better" if b.rollback.safe and not a.rollback.safe else "same")
    return Check("rollback", text(a), text(b), "safe may not become unsafe", call, b.rollback.why or a.rollback.why)


def _worse(r: Row) -> list[str]:
    found = [f"{s.stat} {_ms(s.median_a_ms)} -> {_ms(s.median_b_ms)} ms per second (p={s.p_value:.2g}, "
             f"effect {s.effect:+.2f})" for s in (r.p99, r.p50) if s.call == "worse"
             and s.p_value is not None and s.effect is not None]
    if r.errors.call == "worse" and r.errors.p_value is not None:
        found.append(f"error rate {_pct(r.errors.rate_a)} -> {_pct(r.errors.rate_b)} (p={r.errors.p_value:.2g})")
    return found


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"
