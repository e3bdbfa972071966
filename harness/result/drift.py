"""Post-upgrade drift: each soak-only phase against the baseline, endpoint by endpoint.

An upgrade can go well and still hurt days later: one endpoint's tail a little slower, one dependency failing a
little more. The soak-only phases (plan.model.drift_phases: post_upgrade, post_rollback in the default timeline)
are the steady state after each change; their per-second p95 and p99 and their error rate are compared with the
baseline's by result.stats (Mann-Whitney U on per-second aggregates, Fisher's exact test on error counts).
Requests started inside the harness's check windows are left out, as in every other figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.plan.model import drift_phases
from harness.records.summary import DriftRow
from harness.result.analysis import figures_by, measured_mask
from harness.result.groups import Rows
from harness.result.stats import latency_shift, per_second_stats, rate_shift


def drift_table(requests: pd.DataFrame, timeline: list[tuple[str, list[str]]]) -> list[DriftRow]:
    """One row per (compared phase, endpoint seen there or in the reference), phases in timeline order."""
    reference, compared = drift_phases(timeline)
    if reference is None or not compared or requests.empty:
        return []
    by_phase: dict[str, dict[str, Rows]] = {}
    for (phase, name), found in figures_by(requests, ["phase", "name"], measured_mask(requests).to_numpy()):
        by_phase.setdefault(str(phase), {})[str(name)] = found
    base = by_phase.get(reference)
    if base is None:
        return []
    columns = _Columns(requests)
    rows = []
    for phase in compared:
        endpoints = by_phase.get(phase)
        if endpoints is None:  # the run stopped before it, or it had no traffic
            continue
        for name in sorted(set(endpoints) | set(base)):
            rows.append(columns.row(name, phase, reference, base.get(name, NONE), endpoints.get(name, NONE)))
    return rows


NONE = np.zeros(0, dtype="int64")  # an endpoint without requests in a phase


class _Columns:
    """The columns drift reads, as arrays: each group's figures from its rows alone (millions of rows)."""

    def __init__(self, requests: pd.DataFrame) -> None:
        self.start = requests["start"].to_numpy(dtype="float64")
        self.latency = requests["latency_ms"].to_numpy(dtype="float64")
        self.failed = requests["error"].notna().to_numpy()

    def row(self, endpoint: str, phase: str, against: str, a: Rows, b: Rows) -> DriftRow:
        _, tails_a = per_second_stats(self.start[a], self.latency[a], ["p95", "p99"])
        _, tails_b = per_second_stats(self.start[b], self.latency[b], ["p95", "p99"])
        p95 = latency_shift(tails_a["p95"], tails_b["p95"], "p95")
        p99 = latency_shift(tails_a["p99"], tails_b["p99"], "p99")
        count_a, count_b = len(self.start[a]), len(self.start[b])
        errors_a, errors_b = int(self.failed[a].sum()), int(self.failed[b].sum())
        rate = rate_shift(errors_a, count_a, errors_b, count_b)
        return DriftRow(endpoint=endpoint, phase=phase, against=against, requests_a=count_a, requests_b=count_b,
                        seconds_a=p99.seconds_a, seconds_b=p99.seconds_b,
                        p95_a_ms=p95.median_a_ms, p95_b_ms=p95.median_b_ms, p95_ratio=p95.ratio,
                        p95_p_value=p95.p_value, p95_effect=p95.effect, p95_call=p95.call,
                        p99_a_ms=p99.median_a_ms, p99_b_ms=p99.median_b_ms, ratio=p99.ratio, p_value=p99.p_value,
                        effect=p99.effect, call=p99.call, errors_a=errors_a, errors_b=errors_b,
                        error_rate_a=rate.rate_a, error_rate_b=rate.rate_b, error_p_value=rate.p_value,
                        error_call=rate.call)
