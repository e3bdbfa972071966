"""The service's calls to its dependency stubs (streams/dependency_calls.jsonl): per dependency, phase and version
that called, the calls, retries, retry rate and backoff intervals (records.summary.DependencyFigures), and every
change of how a stub answered, in its phase."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.core.streams import read_json_lines
from harness.plan.model import drift_phases
from harness.records.run import DEPENDENCY_STREAM, DependencySettings
from harness.records.summary import DependencyFigures
from harness.result.frames import tag_phases
from harness.result.stats import rate_shift
from harness.rundir import RunDir

CALL_COLUMNS = ["dependency", "served_by", "at", "method", "path", "status", "latency_ms", "attempt", "correlation",
                "fault"]


def dependency_figures(run: RunDir, phases: pd.DataFrame) -> tuple[list[DependencyFigures], list[DependencySettings]]:
    """The figures of every dependency stub's calls, and its settings changes, from the run's stream."""
    rows = read_json_lines(run.stream(DEPENDENCY_STREAM))
    calls = call_frame([r for r in rows if r.get("kind") == "call"], phases)
    settings = [DependencySettings(**{k: v for k, v in r.items() if k in DependencySettings.__dataclass_fields__})
                for r in rows if r.get("kind") == "settings"]
    if settings:
        stamps = tag_phases(pd.Series([s.at for s in settings], dtype="float64"), phases)
        for record, phase in zip(settings, stamps, strict=True):
            record.phase = str(phase)
    return figures(calls, list(phases["name"])), settings


def call_frame(rows: list[dict[str, Any]], phases: pd.DataFrame) -> pd.DataFrame:
    """One row per call, in time order, with its phase, whether it is a retry, its attempt within its upstream
    request (`upstream`: an id of that request) and the gap since the previous attempt's answer (`backoff_ms`)."""
    frame = pd.DataFrame(rows, columns=CALL_COLUMNS)
    frame["at"] = pd.to_numeric(frame["at"], errors="coerce").astype("float64")
    frame = frame.dropna(subset=["at"]).sort_values("at", kind="stable").reset_index(drop=True)
    frame["latency_ms"] = pd.to_numeric(frame["latency_ms"], errors="coerce").fillna(0.0).astype("float64")
    frame["status"] = pd.to_numeric(frame["status"], errors="coerce").fillna(0).astype("int64")
    frame["phase"] = tag_phases(frame["at"], phases)
    correlated = frame["correlation"].notna() & (frame["correlation"].astype(str) != "")
    key = frame["dependency"].astype(str) + "\0" + frame["served_by"].astype(str) + "\0" + \
        frame["correlation"].astype(str)
    key = key.where(correlated, pd.Series(frame.index.astype(str), index=frame.index))  # uncorrelated: its own
    attempt = pd.to_numeric(frame["attempt"], errors="coerce")
    frame["attempt_no"] = frame.groupby(key).cumcount() + 1
    frame["retry"] = (frame["attempt_no"] > 1) | (~correlated & (attempt > 1))
    frame["upstream"] = key
    answered = frame["at"] + frame["latency_ms"] / 1000
    previous = answered.groupby(key).shift(1)
    frame["backoff_ms"] = ((frame["at"] - previous) * 1000).clip(lower=0.0).where(frame["attempt_no"] > 1)
    frame["failed"] = (frame["status"] == 0) | (frame["status"] >= 400)
    return frame


def figures(calls: pd.DataFrame, phase_order: list[str]) -> list[DependencyFigures]:
    """Per dependency, phase (of the timeline, in order) and calling version."""
    if calls.empty:
        return []
    firsts = calls[~calls["retry"]]
    lasts = calls.groupby("upstream").tail(1).set_index("upstream")
    attempts = calls.groupby("upstream").size()
    order = {name: index for index, name in enumerate(phase_order)}
    found = []
    for (dependency, phase, version), group in calls.groupby(["dependency", "phase", "served_by"], sort=False):
        if phase not in order:
            continue
        started = firsts[(firsts["dependency"] == dependency) & (firsts["phase"] == phase)
                         & (firsts["served_by"] == version)]["upstream"]
        upstream = int(len(group) - group["retry"].sum())
        retries = int(group["retry"].sum())
        gaps = group["backoff_ms"].dropna().to_numpy(dtype="float64")
        latencies = group["latency_ms"].to_numpy(dtype="float64")
        found.append(DependencyFigures(
            dependency=str(dependency), phase=str(phase), served_by=str(version), calls=len(group),
            upstream_requests=upstream, retries=retries, retry_rate=retries / upstream if upstream else None,
            failed_calls=int(group["failed"].sum()), gave_up=int(lasts.loc[started, "failed"].sum()),
            max_attempts=max(int(attempts.loc[group["upstream"].unique()].max()),
                             int(pd.to_numeric(group["attempt"], errors="coerce").fillna(1).max())),
            backoffs=len(gaps),
            backoff_p50_ms=_percentile(gaps, 50), backoff_p95_ms=_percentile(gaps, 95),
            latency_p50_ms=_percentile(latencies, 50), latency_p95_ms=_percentile(latencies, 95)))
    return sorted(found, key=lambda f: (f.dependency, order[f.phase], f.served_by))


def _percentile(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def with_retry_drift(found: list[DependencyFigures], timeline: list[tuple[str, list[str]]]) -> list[DependencyFigures]:
    """`found` with each soak-only phase's retry share judged against the reference phase's, per dependency
    (plan.model.drift_phases, as the endpoints' drift): the retry shift a new backoff strategy makes."""
    reference, compared = drift_phases(timeline)
    base: dict[str, tuple[int, int]] = {}
    for figure in found:
        if figure.phase == reference:
            retries, calls = base.get(figure.dependency, (0, 0))
            base[figure.dependency] = (retries + figure.retries, calls + figure.calls)
    for figure in found:
        if figure.phase not in compared or figure.dependency not in base:
            continue
        shift = rate_shift(*base[figure.dependency], figure.retries, figure.calls)
        figure.retries_against, figure.retry_p_value, figure.retry_call = reference, shift.p_value, shift.call
        figure.retry_share_a, figure.retry_share_b = shift.rate_a, shift.rate_b
    return found
