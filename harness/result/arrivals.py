"""The load's accounting per phase, by intended start: arrivals meant, requests sent and answered, arrivals
dropped (harness.load.open_model). In the closed model every request is its own arrival, sent on time."""

from __future__ import annotations

import pandas as pd

from harness.load.contract import LATE_TOLERANCE_MS
from harness.records.summary import PhaseArrivals
from harness.result.frames import Frames, phase_categories


def arrival_table(frames: Frames, model: str) -> list[PhaseArrivals]:
    """One row per phase of the timeline, in order."""
    requests = frames.requests
    intended = requests["intended"] if "intended" in requests.columns else requests["start"]
    phase = phase_categories(intended, frames.phases).cat  # codes: one comparison of small integers per phase
    delay_ms = (requests["start"].to_numpy(dtype="float64") - intended.to_numpy(dtype="float64")) * 1000
    answered = requests["status"].to_numpy() > 0
    dropped = frames.dropped["phase"].value_counts() if len(frames.dropped) else pd.Series(dtype="int64")
    codes = phase.codes.to_numpy()
    rows = []
    for name in frames.phases["name"]:
        mine = codes == list(phase.categories).index(name)
        sent = int(mine.sum())
        lost = int(dropped.get(name, 0))
        delays = delay_ms[mine]
        rows.append(PhaseArrivals(
            phase=str(name), model=model, intended=sent + lost, sent=sent,
            completed=int((mine & answered).sum()), dropped=lost,
            late=int((delays > LATE_TOLERANCE_MS).sum()), late_tolerance_ms=LATE_TOLERANCE_MS,
            max_delay_ms=float(max(0.0, delays.max())) if sent else None))
    return rows
