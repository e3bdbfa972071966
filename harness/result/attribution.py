"""What each failed request is blamed on: the service swap, the migration's statements, or the service itself.
result.causes blames the requests that did not fail by time window alone; a failed one takes this finer cause.

In this order:
  swap       it was in flight during a swap window (restart: stop to healthy; blue_green: start of the new
             version to the old one's stop) and no SQLSTATE says the database refused it: a restart's closed
             port, reset connection or 5xx; for blue_green only what the switch itself can cause (no response
             at all, or the proxy's 503), and when the old version was drained before its stop only requests
             sent from the switch on: a version that answers badly during the window fails on its own;
  statements it was in flight while a migration step ran (`cause_step` names the step; inside a command,
             the traced statement running then), or it failed between a migration (migrate or revert) and
             the swap that follows it, while the version serving does not match the schema;
  service    anything else: the service failed on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

CAUSES = ["statements", "swap", "service"]
STATEMENTS, SWAP, SERVICE = range(3)
SWAP_GRACE_S = 0.25  # a request refused just after the window still met the swap (its retry, its socket)


BLUE_GREEN = "blue_green"  # drained: the old version was stopped with nothing in flight
BLUE_GREEN_CUT = "blue_green_cut"  # the drain timed out: the old version was stopped with requests in flight


def swap_windows(swaps: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """[start, end, strategy] of each swap as streamed in run.jsonl. A drained blue_green swap's window starts
    at the switch: before it only the old version served, untouched, and the drain let every request it had
    finish, so only requests sent from the switch on can have met the swap."""
    windows = []
    for swap in swaps:
        strategy = str(swap.get("strategy") or "restart")
        start = swap.get("started_at") or swap["stopped_at"]
        if strategy == BLUE_GREEN and int(swap.get("in_flight_at_stop") or 0) == 0:
            start = swap.get("stopped_at") or start  # a blue_green swap's stopped_at is its switch
        elif strategy == BLUE_GREEN:
            strategy = BLUE_GREEN_CUT
        end = swap.get("ended_at") or swap["healthy_at"]
        windows.append((float(start), float(end) + SWAP_GRACE_S, strategy))
    return windows


def mismatch_windows(actions: list[dict[str, Any]], run_end: float) -> list[tuple[float, float]]:
    """From the start of each migrate / revert that changed the schema to the end of the swap that follows it
    (or the end of the run): while the version serving was not written for the schema."""
    windows = []
    open_at: float | None = None
    for action in sorted(actions, key=lambda a: a.get("started") or 0.0):
        name, status = action.get("name"), action.get("status")
        if name in ("migrate", "revert") and status != "skipped":
            open_at = open_at if open_at is not None else float(action["started"])
        elif name in ("swap", "swap_back") and open_at is not None and status == "ok":
            windows.append((open_at, float(action.get("ended") or action["started"])))
            open_at = None
    if open_at is not None:
        windows.append((open_at, run_end))
    return windows


def attribute(requests: pd.DataFrame, steps: pd.DataFrame, swaps: list[tuple[float, float, str]],
              mismatches: list[tuple[float, float]]) -> pd.DataFrame:
    """`requests` with `cause` (swap, statements, service; None for requests that did not fail) and
    `cause_step` (the seq of the migration step blamed, or NA)."""
    frame = requests.copy(deep=False)  # columns are added, never written into
    failed = np.flatnonzero(frame["error"].notna().to_numpy())  # only requests that failed get a cause
    start = frame["start"].to_numpy(dtype="float64")[failed]
    end = start + frame["latency_ms"].to_numpy(dtype="float64")[failed] / 1000
    end = np.where(np.isnan(end), start, end)  # no latency: it ended as it started
    known_sqlstate = frame["sqlstate"].notna().to_numpy()[failed]
    cause = np.full(len(failed), SERVICE, dtype="int8")  # codes of CAUSES, of each failed request
    step_of = np.full(len(failed), -1, dtype="int64")

    def overlapping(window_start: float, window_end: float) -> np.ndarray:
        return (start <= window_end) & (end >= window_start)

    timed = steps[steps["started"].notna()] if not steps.empty else steps
    outer = timed[timed["origin"] != "traced"].sort_values("started") if not timed.empty else timed
    for window_start, window_end in mismatches:
        hit = overlapping(window_start, window_end)
        cause[hit] = STATEMENTS
        done = outer[(outer["started"] >= window_start) & (outer["started"] <= window_end)]
        if not done.empty:  # the last step that had changed the schema when the request started
            ended = done["ended"].fillna(done["started"]).to_numpy(dtype="float64")
            last = np.searchsorted(ended, start, side="right") - 1
            seqs = done["seq"].to_numpy()
            step_of[hit & (last >= 0)] = seqs[np.clip(last, 0, None)][hit & (last >= 0)]
    # outer steps (SQL statements, commands) first, then the statements traced inside commands: the inner wins
    for level in (timed[timed["origin"] != "traced"], timed[timed["origin"] == "traced"]):
        for step in level.itertuples():
            step_end = step.ended if pd.notna(step.ended) else step.started
            hit = overlapping(float(step.started), float(step_end))
            cause[hit] = STATEMENTS
            step_of[hit] = int(step.seq)
    status = frame["status"].to_numpy()[failed]
    switch_failures = (status == 0) | (status == 503)  # what a blue_green switch itself could cause
    for window_start, window_end, strategy in swaps:
        if strategy == BLUE_GREEN:  # sent to the new version, or to the old one just as it was switched away from
            hit = ~known_sqlstate & switch_failures & (start >= window_start) & (start <= window_end)
        else:
            hit = ~known_sqlstate & overlapping(window_start, window_end)
            if strategy == BLUE_GREEN_CUT:
                hit &= switch_failures
        cause[hit] = SWAP
        step_of[hit] = -1
    every_cause = np.full(len(frame), -1, dtype="int8")  # -1: none (did not fail)
    every_cause[failed] = cause
    # the seq of a step: as narrow an Int as every seq fits (2 bytes a row of a frame of millions, not 8)
    highest = int(step_of.max()) if len(step_of) else 0
    every_step = np.full(len(frame), -1, dtype="int16" if highest < 2**15 else "int32" if highest < 2**31 else "int64")
    every_step[failed] = step_of
    cause, step_of = every_cause, every_step
    frame["cause"] = pd.Categorical.from_codes(cause, categories=CAUSES)
    frame["cause_step"] = pd.arrays.IntegerArray(step_of, step_of < 0)
    return frame
