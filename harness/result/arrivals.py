"""The load's accounting per phase, by intended start: arrivals meant, requests sent and answered, arrivals
dropped (harness.load.open_model). In the closed model every request is its own arrival, sent on time."""

from __future__ import annotations

import pandas as pd

from harness.load.contract import LATE_TOLERANCE_MS
from harness.records.summary import PhaseArrivals
from harness.result.frames import Frames, tag_phases


def arrival_table(frames: Frames, model: str) -> list[PhaseArrivals]:
    """One row per phase of the timeline, in order."""
    requests = frames.requests
    intended = requests["intended"] if "intended" in requests.columns else requests["start"]
    phase = tag_phases(intended, frames.phases)
    delay_ms = (requests["start"] - intended) * 1000
    dropped = frames.dropped["phase"].value_counts() if len(frames.dropped) else pd.Series(dtype="int64")
    rows = []
    for name in frames.phases["name"]:
        mine = phase == name
        sent = int(mine.sum())
        lost = int(dropped.get(name, 0))
        delays = delay_ms[mine]
        rows.append(PhaseArrivals(
            phase=str(name), model=model, intended=sent + lost, sent=sent,
            completed=int((mine & (requests["status"] > 0)).sum()), dropped=lost,
            late=int((delays > LATE_TOLERANCE_MS).sum()), late_tolerance_ms=LATE_TOLERANCE_MS,
            max_delay_ms=float(max(0.0, delays.max())) if sent else None))
    return rows
