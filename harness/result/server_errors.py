"""SQLSTATEs of failed requests from the server's log, for services that answer a plain 500 without one.

Every error a backend of the service hit is in logs/postgres.log with its time, backend, application and
SQLSTATE (observe.server_log). A failed request whose response named no SQLSTATE is given the SQLSTATE of a
server error raised while it was in flight. Requests and errors are matched one to one: first the pairs that
can only be each other (one error in the request's window, no other request around it), which teach what
each endpoint fails with; then, where several requests failed at once, an optimal assignment
(scipy's linear_sum_assignment) that prefers errors close to the request's end and SQLSTATEs its endpoint
was seen failing with. Errors of the harness's own backends (rehearse-*) are left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from harness.observe.server_log import LogEntry

# The load and the server read the same clock (loopback, one kernel), and the service answers after the error:
# an error of a request was logged within its flight. The server prints milliseconds, truncated.
EARLY_S = 0.001
LATE_S = 0.0005
AFFINITY_S = 1.0  # how many seconds of distance an endpoint's known SQLSTATE outweighs
UNMATCHED = 1e6
SOURCES = ["response", "server log"]  # where a request's SQLSTATE came from


def correlate(requests: pd.DataFrame, errors: list[LogEntry]) -> pd.DataFrame:
    """`requests` with `sqlstate` filled from `errors` where the response named none, and `sqlstate_source`
    ("response", "server log", or None) saying where each SQLSTATE came from."""
    frame = requests.copy(deep=False)  # columns are replaced, never written into
    named = frame["sqlstate"].notna().to_numpy()
    frame["sqlstate_source"] = pd.Categorical.from_codes(np.where(named, 0, -1), categories=SOURCES)
    # 0: no response; 502, 504: a proxy's, the service never answered: no database error of theirs to find
    status = frame["status"].to_numpy()
    candidates = frame["error"].notna().to_numpy() & ~named & (status != 0) & (status != 502) & (status != 504)
    failed = frame[candidates]
    found = sorted((e for e in errors if e.sqlstate and e.is_error and not e.from_harness), key=lambda e: e.at)
    if failed.empty or not found:
        return frame
    times = np.array([e.at for e in found])
    starts = failed["start"].to_numpy(dtype="float64")
    ends = starts + failed["latency_ms"].fillna(0).to_numpy(dtype="float64") / 1000
    low = np.searchsorted(times, starts - EARLY_S, side="left")
    high = np.searchsorted(times, ends + LATE_S, side="right")
    names = failed["name"].astype(str).tolist()

    claims: dict[int, list[int]] = defaultdict(list)  # error -> requests whose window holds it
    for r in range(len(failed)):
        for e in range(low[r], high[r]):
            claims[e].append(r)
    matched: dict[int, int] = {}
    affinity: Counter[tuple[str, str]] = Counter()
    for r in range(len(failed)):
        if high[r] - low[r] == 1 and claims[int(low[r])] == [r]:
            matched[r] = int(low[r])
            affinity[(names[r], str(found[int(low[r])].sqlstate))] += 1
    seen = Counter(name for name, _ in affinity.elements())

    for cluster in _clusters([r for r in range(len(failed)) if r not in matched and high[r] > low[r]], low, high):
        columns = sorted({e for r in cluster for e in range(low[r], high[r])} - set(matched.values()))
        if not columns:
            continue
        cost = np.full((len(cluster), len(columns)), UNMATCHED)
        for i, r in enumerate(cluster):
            for j, e in enumerate(columns):
                if low[r] <= e < high[r]:
                    prior = affinity[(names[r], str(found[e].sqlstate))] / seen[names[r]] if seen[names[r]] else 0.0
                    cost[i, j] = abs(times[e] - ends[r]) - AFFINITY_S * prior
        for i, j in zip(*linear_sum_assignment(cost), strict=True):
            if cost[i, j] < UNMATCHED:
                matched[cluster[i]] = columns[j]
    if matched:
        positions = np.flatnonzero(candidates)[list(matched)]
        frame["sqlstate"] = _with_values(frame["sqlstate"], positions, [found[e].sqlstate for e in matched.values()])
        frame["sqlstate_source"] = _with_values(frame["sqlstate_source"], positions, ["server log"] * len(matched))
    return frame


def _with_values(column: pd.Series, positions: np.ndarray, values: list) -> pd.Series:
    """A copy of `column` with `values` at `positions` (a categorical gains the categories it lacks)."""
    column = column.copy()
    if isinstance(column.dtype, pd.CategoricalDtype):
        new = [v for v in dict.fromkeys(values) if v not in column.cat.categories]
        column = column.cat.add_categories(new) if new else column
    column.iloc[positions] = values
    return column


def _clusters(rows: list[int], low: np.ndarray, high: np.ndarray) -> list[list[int]]:
    """Requests whose windows of candidate errors overlap, grouped (each group is assigned on its own)."""
    groups: list[list[int]] = []
    reach = -1
    for r in sorted(rows, key=lambda r: (low[r], high[r])):
        if groups and low[r] < reach:
            groups[-1].append(r)
            reach = max(reach, int(high[r]))
        else:
            groups.append([r])
            reach = int(high[r])
    return groups
