"""Blame by time window: what each request and lock wait is blamed on, who was held up, and the figures per
phase and cause that gates judge (docs/gates.md).

Causes: `statements` (a request that overlapped a migration statement; a lock wait the migration was part
of), `swap` (a request that overlapped a service swap, stopped to healthy; a wait that began in one),
`service` (everything else: the service on its own). A swap outranks a statement, a statement the service.

Held up: a request that did not fail (failed ones are counted as such) and waited on a lock the migration
caused (the sampler saw one of the service's backends wait, the migration in its chain, for a stretch within
the request's own time), or was slower than its endpoint's baseline p99 by both margins below. Both counts
are kept apart, and their union is "held up".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.core.postgres import HARNESS_APPLICATION_PREFIX, MIGRATION_APPLICATION
from harness.records.summary import (
    HELD_UP_FACTOR,
    HELD_UP_MARGIN_MS,
    CauseFigures,
    HeldUpRule,
    SwapFigures,
    WaitFigures,
)
from harness.result import groups

if TYPE_CHECKING:
    from harness.result.analysis import RequestArrays

HELD_UP_RULE = HeldUpRule(margin_ms=HELD_UP_MARGIN_MS, factor=HELD_UP_FACTOR)
CONTAIN_TOLERANCE_S = 0.05  # client and server clocks are the same host's; the sampler is coarser than this
ALL = "all"
CAUSES = ("statements", "swap", "service")
WHOSE = ("requests", "migration")
CHUNK_ROWS = 1_000_000  # rows per step of the passes over every request that need temporaries
WAIT_COLUMNS = ["pid", "waitstart", "waitend", "waiting_s", "phase", "involved", "whose", "application_name",
                "relation", "mode"]


def intervals(starts: pd.Series, ends: pd.Series) -> np.ndarray:
    """(n, 2) array of [start, end] windows (an open end is its start)."""
    start = starts.to_numpy(dtype="float64")
    end = ends.to_numpy(dtype="float64")
    return np.column_stack([start, np.where(np.isnan(end), start, end)]) if len(start) else np.empty((0, 2))


def statement_windows(steps: pd.DataFrame) -> np.ndarray:
    """Windows of the migration's own steps (SQL statements and commands; traced statements lie within)."""
    own = steps[steps["origin"] != "traced"] if len(steps) else steps
    return intervals(own["started"], own["ended"])


def swap_windows(swaps: list[SwapFigures]) -> np.ndarray:
    rows = [(s.stopped_at, s.healthy_at) for s in swaps if s.stopped_at is not None and s.healthy_at is not None]
    return np.array(rows, dtype="float64") if rows else np.empty((0, 2))


def overlapping(starts: np.ndarray, ends: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """For each [start, end], whether it overlaps any window."""
    hit = np.zeros(len(starts), dtype=bool)
    for begin, finish in windows:
        hit |= (starts <= finish) & (ends >= begin)
    return hit


def request_spans(requests: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each request's [start, end] in epoch seconds."""
    starts = requests["start"].to_numpy(dtype="float64")
    ends = requests["latency_ms"].to_numpy(dtype="float64") / 1000
    ends[np.isnan(ends)] = 0.0  # no latency recorded: it ended as it started
    ends += starts
    return starts, ends


def request_causes(requests: pd.DataFrame, statements: np.ndarray, swaps: np.ndarray) -> pd.Series:
    """The cause of each request: swap, statements or service (a categorical). A failed request keeps the finer
    cause result.attribution gave it (column `cause`: a SQLSTATE, a blue_green switch, a schema the version
    serving was not written for), when the frame has one."""
    cause = np.full(len(requests), CAUSES.index("service"), dtype="int8")
    for rows, starts, ends in spans_in_chunks(requests):
        cause[rows][overlapping(starts, ends, statements)] = CAUSES.index("statements")
        cause[rows][overlapping(starts, ends, swaps)] = CAUSES.index("swap")  # a swap outranks a statement
    names = list(CAUSES)
    if "cause" in requests.columns:
        given, values = groups.codes(requests["cause"])
        for value in values:
            if value not in names:
                names.append(value)
        recode = np.array([names.index(v) for v in values], dtype="int8" if len(names) < 2**7 else "int16")
        cause = cause.astype(recode.dtype)
        attributed = (given >= 0) & requests["error"].notna().to_numpy()
        cause[attributed] = recode[given[attributed]]
    return pd.Series(pd.Categorical.from_codes(cause, categories=names), index=requests.index)


def whose_wait(application: pd.Series, pid: pd.Series, migration_pids: set[int]) -> pd.Series:
    """requests (a backend of the service: not one of the harness's), migration, or other (the harness's)."""
    app = application.fillna("").astype(str)
    migration = (app == MIGRATION_APPLICATION) | pid.isin(migration_pids).fillna(False).astype(bool)
    harness = app.str.startswith(HARNESS_APPLICATION_PREFIX)
    return pd.Series(np.where(migration, "migration", np.where(harness, "other", "requests")), index=pid.index,
                     dtype="object")


def distinct_waits(locks: pd.DataFrame, involved: pd.Series, migration_pids: set[int]) -> pd.DataFrame:
    """One row per distinct wait (a backend waiting for one lock): when it began and (last seen) ended,
    whether the migration was part of it in any sample, and whose wait it was."""
    if locks.empty:
        return pd.DataFrame(columns=WAIT_COLUMNS)
    frame = locks.assign(waitstart=(locks["sampled_at"] - locks["waiting_s"].fillna(0)).round(3),
                         relation=locks["relation"].fillna(""), involved=involved.reindex(locks.index).fillna(False))
    grouped = frame.groupby(["pid", "locktype", "relation", "mode", "waitstart"], as_index=False, dropna=False).agg(
        waiting_s=("waiting_s", "max"), phase=("phase", "first"), involved=("involved", "any"),
        application_name=("application_name", "first"))
    grouped["waitend"] = grouped["waitstart"] + grouped["waiting_s"].fillna(0)
    grouped["whose"] = whose_wait(grouped["application_name"], grouped["pid"], migration_pids)
    return grouped[WAIT_COLUMNS].reset_index(drop=True)


def wait_causes(waits: pd.DataFrame, swaps: np.ndarray) -> pd.Series:
    """statements when the migration was part of the wait, else swap when it began in a swap, else service."""
    if waits.empty:
        return pd.Series(dtype="object")
    begun = waits["waitstart"].to_numpy(dtype="float64")
    in_swap = overlapping(begun, begun, swaps)
    return pd.Series(np.where(waits["involved"].astype(bool), "statements", np.where(in_swap, "swap", "service")),
                     index=waits.index, dtype="object")


def waited_on_migration(requests: pd.DataFrame, waits: pd.DataFrame) -> np.ndarray:
    """Requests (that did not fail: those are failed requests) whose own time holds a wait of the service's
    backends that the migration was part of."""
    held = np.zeros(len(requests), dtype=bool)
    for rows, starts, ends in spans_in_chunks(requests):
        held[rows] = holding(starts, ends, waits)
    return held & requests["error"].isna().to_numpy()


def spans_in_chunks(requests: pd.DataFrame) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """request_spans a CHUNK_ROWS slice of rows at a time (its temporaries stay a few MB): (rows, starts, ends)."""
    start = requests["start"].to_numpy(dtype="float64")
    latency = requests["latency_ms"].to_numpy(dtype="float64")
    for at in range(0, len(start), CHUNK_ROWS):
        rows = slice(at, at + CHUNK_ROWS)
        ends = latency[rows] / 1000
        ends[np.isnan(ends)] = 0.0  # as request_spans: no latency recorded, it ended as it started
        ends += start[rows]
        yield rows, start[rows], ends


def holding(starts: np.ndarray, ends: np.ndarray, waits: pd.DataFrame) -> np.ndarray:
    """For each [start, end], whether it holds (within CONTAIN_TOLERANCE_S) a wait of the service's backends
    that the migration was part of: by binary search over the waits sorted by start (a request holds one iff
    among the waits that began after it started, the one that ended first ended before it did)."""
    relevant = waits[waits["involved"].astype(bool) & (waits["whose"] == "requests")] if len(waits) else waits
    begin = relevant["waitstart"].to_numpy(dtype="float64") + CONTAIN_TOLERANCE_S if len(relevant) else np.empty(0)
    finish = relevant["waitend"].to_numpy(dtype="float64") - CONTAIN_TOLERANCE_S if len(relevant) else np.empty(0)
    known = ~np.isnan(begin) & ~np.isnan(finish)
    begin, finish = begin[known], finish[known]
    if not len(begin):
        return np.zeros(len(starts), dtype=bool)
    order = np.argsort(begin, kind="stable")
    # past the last wait: none began after the start, so none is held (an end is never above infinity)
    begin, earliest_end = begin[order], np.append(np.minimum.accumulate(finish[order][::-1])[::-1], np.inf)
    held = np.zeros(len(starts), dtype=bool)
    for at in range(0, len(starts), CHUNK_ROWS):  # a chunk at a time: temporaries of a few MB
        first = np.searchsorted(begin, starts[at:at + CHUNK_ROWS], side="left")  # the first wait begun at/after it
        held[at:at + CHUNK_ROWS] = ends[at:at + CHUNK_ROWS] >= earliest_end[first]
    return held


class Spans:
    """Each request's [start, end] (request_spans), indexed by start: the requests in a window are found by
    binary search, not by a pass over every request (a long rehearsal has millions)."""

    def __init__(self, requests: pd.DataFrame) -> None:
        self.starts, self.ends = request_spans(requests)
        ordered = len(self.starts) < 2 or bool((self.starts[1:] >= self.starts[:-1]).all())
        self.order = None if ordered else np.argsort(self.starts, kind="stable")
        self.sorted = self.starts if self.order is None else self.starts[self.order]
        longest = max((np.nanmax(self.ends[at:at + CHUNK_ROWS] - self.starts[at:at + CHUNK_ROWS], initial=0.0)
                       for at in range(0, len(self.starts), CHUNK_ROWS)), default=0.0)
        # any request overlapping [b, e] started after b - longest (a second more: the sums' rounding)
        self.longest = float(longest) + 1.0

    def _positions(self, low: int, high: int) -> np.ndarray:
        return np.arange(low, high) if self.order is None else np.sort(self.order[low:high])

    def started(self, begin: float, end: float) -> np.ndarray:
        """Positions (ascending) of the requests started in [begin, end]."""
        if np.isnan(begin) or np.isnan(end):
            return np.zeros(0, dtype="int64")
        return self._positions(int(np.searchsorted(self.sorted, begin, side="left")),
                               int(np.searchsorted(self.sorted, end, side="right")))

    def overlapping(self, begin: float, end: float) -> np.ndarray:
        """Positions (ascending) of the requests whose [start, end] overlaps [begin, end]."""
        if np.isnan(begin) or np.isnan(end):
            return np.zeros(0, dtype="int64")
        found = self._positions(int(np.searchsorted(self.sorted, begin - self.longest, side="left")),
                                int(np.searchsorted(self.sorted, end, side="right")))
        return found[self.ends[found] >= begin]


def _endpoint_bars(requests: pd.DataFrame, baseline: str) -> tuple[np.ndarray, np.ndarray]:
    """The slow bar of each endpoint (by code; the last: the whole baseline's), and each request's code."""
    latency = requests["latency_ms"].to_numpy(dtype="float64")
    phases, phase_values = groups.codes(requests["phase"])
    reference: groups.Rows = next((rows for code, rows in groups.split(phases) if phase_values[code] == baseline),
                                  np.zeros(0, dtype="int64"))
    overall = float(np.percentile(latency[reference], 99)) if len(latency[reference]) else 0.0
    names, values = groups.codes(requests["name"])
    per_endpoint = np.full(len(values) + 1, overall)  # the last: a request without a name
    for (code,), found in groups.group_rows([names], reference):
        p99 = float(np.percentile(latency[found], 99))
        per_endpoint[code] = overall if np.isnan(p99) else p99  # as a missing p99 is: the whole baseline's
    bars = np.maximum(per_endpoint * HELD_UP_FACTOR, per_endpoint + HELD_UP_MARGIN_MS)  # per endpoint, then per row
    return bars, names


def slow_bars(requests: pd.DataFrame, baseline: str) -> pd.Series:
    """Per request, the latency (ms) above which it counts as slow: its endpoint's baseline p99 times the
    factor, and plus the margin, whichever is higher (the whole baseline's p99 for an endpoint it lacks)."""
    bars, names = _endpoint_bars(requests, baseline)
    return pd.Series(bars[names], index=requests.index)  # code -1 (no name): the last bar, the whole baseline's


def slower_than_baseline(requests: pd.DataFrame, baseline: str) -> np.ndarray:
    """Requests that did not fail and took at least their slow bar."""
    bars, names = _endpoint_bars(requests, baseline)
    latency = requests["latency_ms"].to_numpy(dtype="float64")
    slow = np.zeros(len(latency), dtype=bool)
    for at in range(0, len(latency), CHUNK_ROWS):
        slow[at:at + CHUNK_ROWS] = latency[at:at + CHUNK_ROWS] >= bars[names[at:at + CHUNK_ROWS]]
    return slow & requests["error"].isna().to_numpy()


def covered_seconds(windows: np.ndarray, begin: float, end: float) -> float:
    """Seconds of [begin, end] inside the union of `windows`."""
    clipped = sorted((max(b, begin), min(e, end)) for b, e in windows if e >= begin and b <= end)
    total, cursor = 0.0, begin
    for b, e in clipped:
        b = max(b, cursor)
        if e > b:
            total += e - b
            cursor = e
    return total


def cause_table(requests: pd.DataFrame, causes: pd.Series, by_lock: np.ndarray, slow: np.ndarray,
                phases: pd.DataFrame, statements: np.ndarray, swaps: np.ndarray) -> list[CauseFigures]:
    """Per phase: one row per cause (all, statements, swap, service) over every endpoint, and one per
    endpoint and cause that had requests."""
    from harness.result.analysis import RequestArrays  # the one definition of the latency figures (no cycle)

    figures = RequestArrays(requests)
    figures.cause = None  # a row is one cause already
    held_up = np.asarray(by_lock, dtype=bool) | np.asarray(slow, dtype=bool)
    phase_codes, phase_values = groups.codes(requests["phase"])
    by_phase = {str(phase_values[code]): found for code, found in groups.split(phase_codes)}
    cause_codes, cause_values = groups.codes(causes)
    name_codes, name_values = groups.codes(requests["name"])
    # endpoints by the rank of their name: each phase's and cause's groups come out in the order of the report
    names = sorted(str(v) for v in name_values)
    rank = np.array([names.index(str(v)) for v in name_values] + [-1], dtype="int16")[name_codes]
    rows: list[CauseFigures] = []
    for phase in phases.itertuples():
        ended = phase.ended if not np.isnan(phase.ended) else phase.started
        both = np.vstack([statements, swaps]) if len(statements) or len(swaps) else np.empty((0, 2))
        swap_s = covered_seconds(swaps, phase.started, ended)
        seconds = {ALL: ended - phase.started, "swap": swap_s,
                   "statements": covered_seconds(both, phase.started, ended) - swap_s}
        seconds["service"] = max(0.0, seconds[ALL] - seconds["swap"] - seconds["statements"])
        in_phase = by_phase.get(str(phase.name), np.zeros(0, dtype="int64"))
        for cause in (ALL, *CAUSES):
            code = cause_values.index(cause) if cause in cause_values else -2
            subset = in_phase if cause == ALL else groups.select(in_phase, cause_codes == code)
            rows.append(_row(str(phase.name), cause, None, seconds[cause], figures, held_up, by_lock, slow, subset))
            for (key,), found in groups.group_rows([rank], subset):
                rows.append(_row(str(phase.name), cause, names[key], seconds[cause], figures, held_up, by_lock, slow,
                                 found))
    return rows


def _row(phase: str, cause: str, endpoint: str | None, seconds: float, figures: RequestArrays, held_up: np.ndarray,
         by_lock: np.ndarray, slow: np.ndarray, rows: groups.Rows) -> CauseFigures:
    stats = figures.stats(rows, seconds)
    return CauseFigures(phase=phase, cause=cause, endpoint=endpoint, seconds=seconds, **stats,
                        held_up_requests=int(held_up[rows].sum()), held_up_by_lock=int(np.asarray(by_lock)[rows].sum()),
                        held_up_slow=int(np.asarray(slow)[rows].sum()))


def wait_table(waits: pd.DataFrame, causes: pd.Series, phase_names: list[str]) -> list[WaitFigures]:
    """Per phase and cause (all included), the distinct waits of everyone, of the requests, of the migration."""
    frame = waits.assign(cause=causes) if len(waits) else waits.assign(cause=pd.Series(dtype="object"))
    rows = []
    for phase in phase_names:
        in_phase = frame[frame["phase"] == phase]
        for cause in (ALL, *CAUSES):
            by_cause = in_phase if cause == ALL else in_phase[in_phase["cause"] == cause]
            for whose in (ALL, *WHOSE):
                subset = by_cause if whose == ALL else by_cause[by_cause["whose"] == whose]
                seconds = subset["waiting_s"].fillna(0).astype("float64")
                rows.append(WaitFigures(phase=phase, cause=cause, whose=whose, count=len(subset),
                                        max_ms=float(seconds.max() * 1000) if len(subset) else 0.0,
                                        total_ms=float(seconds.sum() * 1000) if len(subset) else 0.0))
    return rows
