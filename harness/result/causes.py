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

HELD_UP_RULE = HeldUpRule(margin_ms=HELD_UP_MARGIN_MS, factor=HELD_UP_FACTOR)
CONTAIN_TOLERANCE_S = 0.05  # client and server clocks are the same host's; the sampler is coarser than this
ALL = "all"
CAUSES = ("statements", "swap", "service")
WHOSE = ("requests", "migration")
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
    return starts, starts + requests["latency_ms"].fillna(0).to_numpy(dtype="float64") / 1000


def request_causes(requests: pd.DataFrame, statements: np.ndarray, swaps: np.ndarray) -> pd.Series:
    """The cause of each request: swap, statements or service. A failed request keeps the finer cause
    result.attribution gave it (column `cause`: a SQLSTATE, a blue_green switch, a schema the version serving
    was not written for), when the frame has one."""
    starts, ends = request_spans(requests)
    cause = np.where(overlapping(starts, ends, swaps), "swap",
                     np.where(overlapping(starts, ends, statements), "statements", "service"))
    found = pd.Series(cause, index=requests.index, dtype="object")
    if "cause" in requests.columns:
        attributed = requests["cause"].notna() & requests["error"].notna()
        found[attributed] = requests.loc[attributed, "cause"]
    return found


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
    starts, ends = request_spans(requests)
    held = np.zeros(len(requests), dtype=bool)
    relevant = waits[waits["involved"].astype(bool) & (waits["whose"] == "requests")] if len(waits) else waits
    for begin, finish in zip(relevant["waitstart"], relevant["waitend"], strict=True):
        held |= (starts <= begin + CONTAIN_TOLERANCE_S) & (ends >= finish - CONTAIN_TOLERANCE_S)
    return held & requests["error"].isna().to_numpy()


def slow_bars(requests: pd.DataFrame, baseline: str) -> pd.Series:
    """Per request, the latency (ms) above which it counts as slow: its endpoint's baseline p99 times the
    factor, and plus the margin, whichever is higher (the whole baseline's p99 for an endpoint it lacks)."""
    reference = requests[requests["phase"] == baseline]
    overall = float(np.percentile(reference["latency_ms"], 99)) if len(reference) else 0.0
    per_endpoint = {name: float(np.percentile(g["latency_ms"], 99)) for name, g in reference.groupby("name")}
    p99 = requests["name"].map(per_endpoint).fillna(overall).astype("float64")
    return np.maximum(p99 * HELD_UP_FACTOR, p99 + HELD_UP_MARGIN_MS)


def slower_than_baseline(requests: pd.DataFrame, baseline: str) -> np.ndarray:
    """Requests that did not fail and took at least their slow bar."""
    slow = requests["latency_ms"].astype("float64") >= slow_bars(requests, baseline)
    return (slow & requests["error"].isna()).to_numpy()


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
    frame = requests.assign(cause=causes, by_lock=by_lock, slow=slow)
    rows: list[CauseFigures] = []
    for phase in phases.itertuples():
        ended = phase.ended if not np.isnan(phase.ended) else phase.started
        both = np.vstack([statements, swaps]) if len(statements) or len(swaps) else np.empty((0, 2))
        swap_s = covered_seconds(swaps, phase.started, ended)
        seconds = {ALL: ended - phase.started, "swap": swap_s,
                   "statements": covered_seconds(both, phase.started, ended) - swap_s}
        seconds["service"] = max(0.0, seconds[ALL] - seconds["swap"] - seconds["statements"])
        in_phase = frame[frame["phase"] == phase.name]
        for cause in (ALL, *CAUSES):
            subset = in_phase if cause == ALL else in_phase[in_phase["cause"] == cause]
            rows.append(_row(str(phase.name), cause, None, seconds[cause], subset))
            for endpoint, group in subset.groupby("name", sort=True):
                rows.append(_row(str(phase.name), cause, str(endpoint), seconds[cause], group))
    return rows


def _row(phase: str, cause: str, endpoint: str | None, seconds: float, subset: pd.DataFrame) -> CauseFigures:
    from harness.result.analysis import latency_stats  # the one definition of the latency figures (no cycle)

    stats = latency_stats(subset, seconds)
    stats.pop("errors_by_cause", None)  # the row is one cause already
    by_lock, slow = subset["by_lock"].astype(bool), subset["slow"].astype(bool)
    return CauseFigures(phase=phase, cause=cause, endpoint=endpoint, seconds=seconds, **stats,
                        held_up_requests=int((by_lock | slow).sum()), held_up_by_lock=int(by_lock.sum()),
                        held_up_slow=int(slow.sum()))


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
