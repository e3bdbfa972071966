"""Post-upgrade drift: each soak-only phase against the baseline, endpoint by endpoint.

An upgrade can go well and still hurt days later: one endpoint's tail a little slower, one dependency failing a
little more. The soak-only phases (plan.model.drift_phases: post_upgrade, post_rollback in the default timeline)
are the steady state after each change; their per-second p95 and p99 and their error rate are compared with the
baseline's by result.stats (Mann-Whitney U on per-second aggregates, Fisher's exact test on error counts).
Requests started inside the harness's check windows are left out, as in every other figure.
"""

from __future__ import annotations

import pandas as pd

from harness.plan.model import drift_phases
from harness.records.summary import DriftRow
from harness.result.analysis import measured_mask
from harness.result.stats import latency_shift, per_second_stats, rate_shift


def drift_table(requests: pd.DataFrame, timeline: list[tuple[str, list[str]]]) -> list[DriftRow]:
    """One row per (compared phase, endpoint seen there or in the reference), phases in timeline order."""
    reference, compared = drift_phases(timeline)
    needed = [c for c in ("phase", "name", "start", "latency_ms", "error") if c in requests.columns]
    measured = requests[needed][measured_mask(requests)]  # a copy of the columns drift reads only: millions of rows
    if reference is None or not compared or measured.empty:
        return []
    by_phase = {str(phase): group for phase, group in measured.groupby("phase", sort=False)}
    base = by_phase.get(reference)
    if base is None:
        return []
    base_endpoints = {str(name): group for name, group in base.groupby("name", sort=False)}
    rows = []
    for phase in compared:
        subset = by_phase.get(phase)
        if subset is None:  # the run stopped before it, or it had no traffic
            continue
        endpoints = {str(name): group for name, group in subset.groupby("name", sort=False)}
        for name in sorted(set(endpoints) | set(base_endpoints)):
            rows.append(_row(name, phase, reference, base_endpoints.get(name, base.iloc[:0]),
                             endpoints.get(name, subset.iloc[:0])))
    return rows


def _row(endpoint: str, phase: str, against: str, a: pd.DataFrame, b: pd.DataFrame) -> DriftRow:
    _, tails_a = per_second_stats(a["start"], a["latency_ms"], ["p95", "p99"])
    _, tails_b = per_second_stats(b["start"], b["latency_ms"], ["p95", "p99"])
    p95 = latency_shift(tails_a["p95"], tails_b["p95"], "p95")
    p99 = latency_shift(tails_a["p99"], tails_b["p99"], "p99")
    errors_a, errors_b = int(a["error"].notna().sum()), int(b["error"].notna().sum())
    rate = rate_shift(errors_a, len(a), errors_b, len(b))
    return DriftRow(endpoint=endpoint, phase=phase, against=against, requests_a=len(a), requests_b=len(b),
                    seconds_a=p99.seconds_a, seconds_b=p99.seconds_b,
                    p95_a_ms=p95.median_a_ms, p95_b_ms=p95.median_b_ms, p95_ratio=p95.ratio,
                    p95_p_value=p95.p_value, p95_effect=p95.effect, p95_call=p95.call,
                    p99_a_ms=p99.median_a_ms, p99_b_ms=p99.median_b_ms, ratio=p99.ratio, p_value=p99.p_value,
                    effect=p99.effect, call=p99.call, errors_a=errors_a, errors_b=errors_b,
                    error_rate_a=rate.rate_a, error_rate_b=rate.rate_b, error_p_value=rate.p_value,
                    error_call=rate.call)
