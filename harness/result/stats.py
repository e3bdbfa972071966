"""The statistics behind a "shifted" call: latency on per-second aggregates, error rates on counts.

Per-request latencies are autocorrelated (a lock queue delays a whole burst), so two samples of requests are not
independent draws; one aggregate per second is closer to it, as Kayenta's judge does. The latency test is a
two-sided Mann-Whitney U on those aggregates with the rank-biserial correlation as its effect size; error rates
use Fisher's exact test on the counts. A shift is called only when it is significant *and* large enough to matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact, mannwhitneyu

Call = Literal["better", "worse", "same", "too few"]

ALPHA = 0.01  # significance level of both tests
MIN_RATIO = 1.10  # a latency shift smaller than 10% of the median is "same", however significant
MIN_EFFECT = 0.3  # rank-biserial |r| below this is a small effect: "same"
MIN_SECONDS = 3  # fewer per-second aggregates than this on either side: "too few" to judge
# (the test is exact at such sizes: 3 seconds against 16 can reach p = 0.002, 3 against 3 no lower than 0.1, so
# the guard only keeps one or two seconds from being judged; a stalled upgrade under the closed model starts
# requests in few seconds, which is what it must still be compared on)
MIN_RATE_DIFF = 0.001  # error rates closer than 0.1 percentage point are "same"


@dataclass(frozen=True)
class LatencyShift:
    """B against A for one latency statistic: medians of the per-second aggregates, the test, the call."""

    stat: str  # the per-second aggregate: "p50", "p95", "p99", "mean"
    seconds_a: int
    seconds_b: int
    median_a_ms: float | None
    median_b_ms: float | None
    ratio: float | None  # median_b / median_a
    u: float | None
    p_value: float | None
    effect: float | None  # rank-biserial correlation, -1..1; positive: B is slower
    call: Call


@dataclass(frozen=True)
class RateShift:
    """B against A for an error (or retry) rate: the counts, Fisher's exact test, the call."""

    failed_a: int
    total_a: int
    failed_b: int
    total_b: int
    rate_a: float | None
    rate_b: float | None
    odds_ratio: float | None
    p_value: float | None
    call: Call


def per_second(start: pd.Series | np.ndarray, latency_ms: pd.Series | np.ndarray, stat: str = "p99") -> np.ndarray:
    """One value per whole second of `start` (epoch seconds): that second's `stat` of `latency_ms`."""
    _, values = per_second_stats(start, latency_ms, [stat])
    return values[stat]


CHUNK_ROWS = 1 << 20  # rows of whole seconds sorted at a time when the requests come in time order


def per_second_stats(start: pd.Series | np.ndarray, latency_ms: pd.Series | np.ndarray, stats: list[str],
                     mask: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The whole seconds of `start` that have a latency, ascending, and per `stat` one value for each: the mean,
    or a percentile interpolated linearly between the closest ranks (as pandas' quantile); of the rows where
    `mask` holds, when given. The requests are sorted by second and latency; in time order (a run's frame), a
    chunk of whole seconds at a time, so a long soak's millions of rows never need more than a chunk's
    temporaries."""
    start = np.asarray(start)
    if start.dtype.kind != "f":  # float32 whole seconds stay as they are: widened a chunk at a time
        start = start.astype("float64")
    latency = np.asarray(latency_ms, dtype="float64")
    ordered = len(start) > CHUNK_ROWS and bool((start[1:] >= start[:-1]).all())
    found = (_chunk_stats(start[rows], latency[rows], None if mask is None else mask[rows], stats)
             for rows in (_whole_seconds(start) if ordered else [slice(0, len(start))]))
    parts = [part for part in found if part is not None]
    if not parts:
        return np.array([], dtype="float64"), {stat: np.array([], dtype="float64") for stat in stats}
    if len(parts) == 1:
        return parts[0]
    return (np.concatenate([seconds for seconds, _ in parts]),
            {stat: np.concatenate([values[stat] for _, values in parts]) for stat in stats})


def _whole_seconds(start: np.ndarray) -> list[slice]:
    """Slices of about CHUNK_ROWS rows of non-decreasing `start`, each ending where a whole second does."""
    cuts = [0]
    while cuts[-1] + CHUNK_ROWS < len(start):
        second = np.floor(start[cuts[-1] + CHUNK_ROWS])
        cuts.append(int(np.searchsorted(start, second, side="left")))
        if cuts[-1] <= cuts[-2]:  # one second of more than CHUNK_ROWS rows: it is a chunk of its own
            cuts[-1] = int(np.searchsorted(start, second + 1, side="left"))
    return [slice(a, b) for a, b in zip(cuts, [*cuts[1:], len(start)], strict=True) if b > a]


def _chunk_stats(start: np.ndarray, latency: np.ndarray, mask: np.ndarray | None,
                 stats: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    second = np.floor(start.astype("float64", copy=False))
    keep = ~(np.isnan(second) | np.isnan(latency))
    if mask is not None:
        keep &= mask
    if not keep.all():
        second, latency = second[keep], latency[keep]
    return _sorted_stats(second, latency, stats) if len(second) else None


def _sorted_stats(second: np.ndarray, latency: np.ndarray,
                  stats: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    # one float key orders by second, then latency (lexsort's two passes cost twice as much): seconds apart by
    # more than the latencies' range; its spacing (1e-7 ms at 1e9) is far under the recorder's 0.001 ms
    low, span = float(latency.min()), float(latency.max() - latency.min()) + 1.0
    order = np.argsort((second - second[0]) * span + (latency - low))
    second, latency = second[order], latency[order]
    first = np.flatnonzero(np.r_[True, second[1:] != second[:-1]])
    count = np.diff(np.r_[first, len(second)])
    values = {}
    for stat in stats:
        if stat == "mean":
            values[stat] = np.add.reduceat(latency, first) / count
            continue
        rank = (count - 1) * _quantile(stat)
        below_rank = np.floor(rank).astype("int64")
        above_rank = np.minimum(below_rank + 1, count - 1)
        below, above = latency[first + below_rank], latency[first + above_rank]
        values[stat] = below + (above - below) * (rank - below_rank)
    return second[first], values


def latency_shift(a: np.ndarray, b: np.ndarray, stat: str = "p99", *, alpha: float = ALPHA,
                  min_ratio: float = MIN_RATIO, min_effect: float = MIN_EFFECT) -> LatencyShift:
    """Compare per-second aggregates `b` against `a` (higher is worse)."""
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    med_a = float(np.median(a)) if len(a) else None
    med_b = float(np.median(b)) if len(b) else None
    ratio = med_b / med_a if med_a and med_b is not None else None
    if len(a) < MIN_SECONDS or len(b) < MIN_SECONDS:
        return LatencyShift(stat, len(a), len(b), med_a, med_b, ratio, None, None, None, "too few")
    result = mannwhitneyu(b, a, alternative="two-sided")
    u, p = float(result.statistic), float(result.pvalue)
    effect = 2 * u / (len(a) * len(b)) - 1  # rank-biserial: P(b > a) - P(b < a)
    call: Call = "same"
    if p < alpha and abs(effect) >= min_effect and ratio is not None:
        if effect > 0 and ratio >= min_ratio:
            call = "worse"
        elif effect < 0 and ratio <= 1 / min_ratio:
            call = "better"
    return LatencyShift(stat, len(a), len(b), med_a, med_b, ratio, u, p, effect, call)


def rate_shift(failed_a: int, total_a: int, failed_b: int, total_b: int, *, alpha: float = ALPHA,
               min_diff: float = MIN_RATE_DIFF) -> RateShift:
    """Compare the rate failed_b/total_b against failed_a/total_a (higher is worse) with Fisher's exact test."""
    rate_a = failed_a / total_a if total_a else None
    rate_b = failed_b / total_b if total_b else None
    if not total_a or not total_b:
        return RateShift(failed_a, total_a, failed_b, total_b, rate_a, rate_b, None, None, "too few")
    odds, p = fisher_exact([[failed_b, total_b - failed_b], [failed_a, total_a - failed_a]])
    call: Call = "same"
    assert rate_a is not None and rate_b is not None
    if p < alpha and abs(rate_b - rate_a) >= min_diff:
        call = "worse" if rate_b > rate_a else "better"
    return RateShift(failed_a, total_a, failed_b, total_b, rate_a, rate_b,
                     None if np.isnan(odds) or np.isinf(odds) else float(odds), float(p), call)


def _quantile(stat: str) -> float:
    if stat.startswith("p") and stat[1:].isdigit():
        return int(stat[1:]) / 100
    raise ValueError(f"unknown per-second statistic {stat!r} (p50, p95, p99 or mean)")
