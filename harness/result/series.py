"""The run over time, for report.html: per-second latency percentiles, throughput and errors, and each lock wait
with the migration statement it is blamed on (records.series)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.records.series import RunSeries, SecondFigures, WaitSpan
from harness.records.summary import Summary
from harness.result import analysis, stats
from harness.result.frames import Frames

QUANTILES = ("p50_ms", "p95_ms", "p99_ms")


def build_series(frames: Frames, summary: Summary) -> RunSeries:
    """From the first phase's start to the last one's end (the Summary's phases: an unended phase ends at its
    last request or probe); nothing when no phase started."""
    if not summary.phases:
        return RunSeries(origin=0.0, end=0.0, seconds=[], waits=[])
    origin, end = summary.phases[0].started, max(p.ended for p in summary.phases)
    return RunSeries(origin=origin, end=end, seconds=per_second(frames, origin, end), waits=wait_spans(frames))


def per_second(frames: Frames, origin: float, end: float) -> list[SecondFigures]:
    """One row per second of [origin, end): requests started in it (the phase figures' requests: check windows
    left out), their errors by cause and their latency percentiles (as latency_stats computes them)."""
    requests = frames.requests
    keep = (analysis.measured_mask(requests) & requests["phase"].isin(analysis.phase_names(frames))).to_numpy()
    count = max(1, math.ceil(end - origin))
    start = requests["start"].to_numpy(dtype="float64")[keep]
    second = np.clip(np.floor(start - origin), 0, count - 1).astype("int64")
    totals = np.bincount(second, minlength=count)
    failed = requests["error"].notna().to_numpy()[keep]
    errors = np.bincount(second[failed], minlength=count)
    causes: dict[int, dict[str, int]] = {}
    cause = requests["cause"].to_numpy(dtype=object)[keep][failed]
    cause_of = pd.Series(cause).where(pd.notna(cause), "service")  # no finer cause known
    for (at, name), n in pd.DataFrame({"at": second[failed], "cause": cause_of.to_numpy()}).groupby(
            ["at", "cause"]).size().items():
        causes.setdefault(int(at), {})[str(name)] = int(n)
    seconds, values = stats.per_second_stats(second, requests["latency_ms"].to_numpy(dtype="float64")[keep],
                                             [key.removesuffix("_ms") for key in QUANTILES])
    at = {int(i): n for n, i in enumerate(seconds)}
    return [SecondFigures(at=origin + i, requests=int(totals[i]), errors=int(errors[i]),
                          **{key: _value(values[key.removesuffix("_ms")], at.get(i)) for key in QUANTILES},
                          errors_by_cause=causes.get(i, {}))
            for i in range(count)]


def wait_spans(frames: Frames) -> list[WaitSpan]:
    """Each distinct lock wait in the timeline's phases, in the order they began. A wait of another backend the
    migration was part of is blamed as statement_table blames it (the statement that took the lock it waited
    for, else the one running when it began); the migration's own wait is its running statement's."""
    steps, waits, holders = analysis.wait_blame(frames)
    waits = waits[waits["phase"].isin(analysis.phase_names(frames))] if len(waits) else waits
    spans = []
    for index, wait in waits.sort_values("waitstart", kind="stable").iterrows():
        running = _running(steps, float(wait["waitstart"]), int(wait["pid"]) if wait["whose"] == "migration" else None)
        blamed = _specific(steps, holders.get(index, set())) if wait["involved"] else None
        if blamed is None and wait["involved"] and wait["whose"] == "migration":
            blamed = running
        waited = wait["waiting_s"]
        spans.append(WaitSpan(
            pid=int(wait["pid"]), application=_text(wait["application_name"]), whose=str(wait["whose"]),
            mode=_text(wait["mode"]), relation=_text(wait["relation"]), started=float(wait["waitstart"]),
            ended=float(wait["waitend"]), waited_ms=float(waited) * 1000 if pd.notna(waited) else 0.0,
            phase=str(wait["phase"]), seq=None if blamed is None else int(steps.loc[blamed, "seq"]),
            statement=None if blamed is None else str(steps.loc[blamed, "sql"]),
            running_seq=None if running is None else int(steps.loc[running, "seq"])))
    return spans


def _running(steps: pd.DataFrame, at: float, pid: int | None) -> Any:
    """The step running at `at` (of backend `pid` when given): a statement traced in a command before the
    command itself; None when none ran."""
    ended = steps["ended"].fillna(steps["started"])
    during = steps[(steps["started"] - analysis.BLAME_MARGIN_S <= at) & (ended >= at)]
    if pid is not None:
        during = during[during["pid"].isna() | (during["pid"] == pid)]
    return _specific(steps, set(during.index))


def _specific(steps: pd.DataFrame, indices: set[Any]) -> Any:
    """Of the steps at `indices`, a statement traced in a command rather than the command; the latest begun."""
    if not indices:
        return None
    chosen = steps.loc[sorted(indices)]
    chosen = chosen.sort_values(["started"], kind="stable")
    traced = chosen[chosen["origin"] == "traced"]
    return (traced if len(traced) else chosen).index[-1]


def _value(values: np.ndarray, position: int | None) -> float | None:
    return None if position is None else float(values[position])


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) or value == "" else str(value)
