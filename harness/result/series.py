"""The run over time, for report.html: per-second latency percentiles, throughput and errors, and each lock wait
with the migration statement it is blamed on (records.series)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from harness.records.series import RunSeries, SecondFigures, WaitSpan
from harness.records.summary import Summary
from harness.result import analysis, groups, stats
from harness.result.frames import Frames

QUANTILES = ("p50_ms", "p95_ms", "p99_ms")
CHUNK_ROWS = 1 << 20


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
    phase, phases = groups.codes(requests["phase"])  # on the codes: a few bytes a row, not a frame's column
    keep = np.isin(phase, [i for i, name in enumerate(phases) if name in set(analysis.phase_names(frames))])
    keep &= analysis.measured_mask(requests).to_numpy()
    count = max(1, math.ceil(end - origin))
    start = requests["start"].to_numpy(dtype="float64")
    failing = requests["error"].notna().to_numpy()
    codes, known = groups.codes(requests["cause"])
    names = [str(v) for v in known] + ["service"]  # no finer cause known: the service's
    totals = np.zeros(count, dtype="int64")
    errors = np.zeros(count, dtype="int64")
    by_cause = np.zeros(count * len(names), dtype="int64")
    # the second of [origin, end) each request counts in: whole numbers, exact in float32 below 2**24 (194 days)
    second = np.empty(len(start), dtype="float32" if count < 2**24 else "float64")
    for first in range(0, len(start), CHUNK_ROWS):  # a chunk at a time: millions of rows, few MB of temporaries
        rows = slice(first, first + CHUNK_ROWS)
        second[rows] = np.clip(np.floor(start[rows] - origin), 0, count - 1)
        kept = keep[rows]
        whole = second[rows][kept].astype("int64")
        totals += np.bincount(whole, minlength=count)
        failed = failing[rows][kept]
        errors += np.bincount(whole[failed], minlength=count)
        cause = codes[rows][kept][failed].astype("int64")
        cause[cause < 0] = len(known)
        by_cause += np.bincount(whole[failed] * len(names) + cause, minlength=count * len(names))
    table = by_cause.reshape(count, len(names))
    causes: dict[int, dict[str, int]] = {}
    for index, code in zip(*np.nonzero(table), strict=True):
        of_second = causes.setdefault(int(index), {})
        of_second[names[code]] = of_second.get(names[code], 0) + int(table[index, code])
    causes = {index: dict(sorted(found.items())) for index, found in causes.items()}
    seconds, values = stats.per_second_stats(second, requests["latency_ms"].to_numpy(dtype="float64"),
                                             [key.removesuffix("_ms") for key in QUANTILES], keep)
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
    pick = _Steps(steps)
    spans = []
    for wait in waits.sort_values("waitstart", kind="stable").reset_index().itertuples(index=False):
        running = pick.running(float(wait.waitstart), int(wait.pid) if wait.whose == "migration" else None)
        blamed = pick.specific(holders.get(wait.index, ())) if wait.involved else None
        if blamed is None and wait.involved and wait.whose == "migration":
            blamed = running
        waited = wait.waiting_s
        spans.append(WaitSpan(
            pid=int(wait.pid), application=_text(wait.application_name), whose=str(wait.whose),
            mode=_text(wait.mode), relation=_text(wait.relation), started=float(wait.waitstart),
            ended=float(wait.waitend), waited_ms=float(waited) * 1000 if pd.notna(waited) else 0.0,
            phase=str(wait.phase), seq=None if blamed is None else pick.seq[blamed],
            statement=None if blamed is None else pick.sql[blamed],
            running_seq=None if running is None else pick.seq[running]))
    return spans


class _Steps:
    """The timeline's steps as arrays, to find a wait's statement in a few array operations (a long rehearsal
    has thousands of waits: a filter of the steps' frame per wait costs more than every other figure)."""

    def __init__(self, steps: pd.DataFrame) -> None:
        self.labels = list(steps.index)
        self.position = {label: i for i, label in enumerate(self.labels)}
        self.started = steps["started"].to_numpy(dtype="float64")
        self.ended = steps["ended"].fillna(steps["started"]).to_numpy(dtype="float64")
        self.pid = steps["pid"].to_numpy(dtype="float64")
        self.traced = (steps["origin"] == "traced").to_numpy()
        # the latest begun wins; of steps begun together, the one of the higher label (as a stable sort would)
        self.rank = np.lexsort((np.asarray(self.labels), self.started)).argsort()
        self.seq = dict(zip(self.labels, (int(v) for v in steps["seq"]), strict=True))
        self.sql = dict(zip(self.labels, (str(v) for v in steps["sql"]), strict=True))

    def running(self, at: float, pid: int | None) -> Any:
        """The step running at `at` (of backend `pid` when given): a statement traced in a command before the
        command itself; None when none ran."""
        during = (self.started - analysis.BLAME_MARGIN_S <= at) & (self.ended >= at)
        if pid is not None:
            during &= np.isnan(self.pid) | (self.pid == pid)
        return self._chosen(np.flatnonzero(during))

    def specific(self, labels: Iterable[Any]) -> Any:
        """Of the steps of `labels`, a statement traced in a command rather than the command; the latest begun."""
        return self._chosen(np.array([self.position[label] for label in labels], dtype="int64"))

    def _chosen(self, found: np.ndarray) -> Any:
        if not len(found):
            return None
        traced = found[self.traced[found]]
        among = traced if len(traced) else found
        return self.labels[int(among[np.argmax(self.rank[among])])]


def _value(values: np.ndarray, position: int | None) -> float | None:
    return None if position is None else float(values[position])


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) or value == "" else str(value)
