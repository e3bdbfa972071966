"""Figures from the frames: latency per phase and endpoint, lock waits, and which statement caused them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.plan import PHASE_NAMES
from harness.upgrade.steps import MIGRATION_APPLICATION

PERCENTILES = {"p50_ms": 50, "p95_ms": 95, "p99_ms": 99}


def latency_stats(requests: pd.DataFrame, seconds: float | None = None) -> dict[str, Any]:
    """requests, errors, error_rate, rps (when `seconds` is known), p50/p95/p99/max latency in ms."""
    count = len(requests)
    errors = int(requests["error"].notna().sum()) if count else 0
    stats: dict[str, Any] = {"requests": count, "errors": errors, "error_rate": errors / count if count else 0.0}
    if seconds is not None:
        stats["rps"] = count / seconds if seconds > 0 else 0.0
    latencies = requests["latency_ms"].to_numpy(dtype="float64")
    for key, q in PERCENTILES.items():
        stats[key] = float(np.percentile(latencies, q)) if count else None
    stats["max_ms"] = float(latencies.max()) if count else None
    return stats


def phase_table(frames) -> list[dict[str, Any]]:
    """One row per rehearsal phase, in timeline order."""
    rows = []
    for phase in frames.phases.itertuples():
        if phase.name not in PHASE_NAMES:
            continue
        ended = phase.ended if not np.isnan(phase.ended) else phase.started
        subset = frames.requests[frames.requests["phase"] == phase.name]
        rows.append({"name": phase.name, "started": phase.started, "ended": ended,
                     "from_version": phase.from_version, "to_version": phase.to_version,
                     "duration_s": ended - phase.started, **latency_stats(subset, ended - phase.started)})
    return rows


def endpoint_table(frames) -> list[dict[str, Any]]:
    """One row per (phase, endpoint), phases in timeline order."""
    order = {name: i for i, name in enumerate(PHASE_NAMES)}
    requests = frames.requests[frames.requests["phase"].isin(PHASE_NAMES)]
    rows = []
    for (phase, name), subset in requests.groupby(["phase", "name"], sort=False):
        stats = latency_stats(subset)
        rows.append({"phase": phase, "name": name, **stats})
    return sorted(rows, key=lambda r: (order[r["phase"]], r["name"]))


def migration_lock_rows(locks: pd.DataFrame, migration_pids: set[int]) -> pd.Series:
    """Which sampled waits involve a migration: it is the root blocker, a direct blocker, or the waiter."""
    if locks.empty:
        return pd.Series(dtype=bool)
    by_app = (locks["root_application"] == MIGRATION_APPLICATION) | (locks["application_name"] == MIGRATION_APPLICATION)
    by_pid = locks["root_blocker"].isin(migration_pids) | locks["pid"].isin(migration_pids) | \
        locks["blocked_by"].map(lambda pids: bool(migration_pids.intersection(pids)))
    return (by_app | by_pid).fillna(False).astype(bool)


def waits(locks: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct wait (a backend waiting for one lock), with the longest wait observed for it."""
    if locks.empty:
        return pd.DataFrame(columns=["pid", "locktype", "relation", "mode", "waitstart", "waiting_s", "phase"])
    frame = locks.assign(waitstart=(locks["sampled_at"] - locks["waiting_s"].fillna(0)).round(2),
                         relation=locks["relation"].fillna(""))
    return frame.groupby(["pid", "locktype", "relation", "mode", "waitstart"], as_index=False, dropna=False).agg(
        waiting_s=("waiting_s", "max"), phase=("phase", "first"))


def lock_wait_summary(locks: pd.DataFrame) -> dict[str, Any]:
    """count / max_ms / total_ms of the waits in the rehearsal phases, and the longest chain seen."""
    in_phases = locks[locks["phase"].isin(PHASE_NAMES)] if not locks.empty else locks
    distinct = waits(in_phases)
    return {"count": len(distinct),
            "max_ms": float(distinct["waiting_s"].max() * 1000) if len(distinct) else 0.0,
            "total_ms": float(distinct["waiting_s"].sum() * 1000) if len(distinct) else 0.0,
            "longest_chain": longest_chain(in_phases)}


def longest_chain(locks: pd.DataFrame) -> list[dict[str, Any]]:
    """The deepest blocking chain sampled (ties: the longest wait), root first."""
    if locks.empty:
        return []
    leaf = locks.sort_values(["chain_depth", "waiting_s"], ascending=False).iloc[0]
    sample = locks[locks["sampled_at"] == leaf["sampled_at"]].set_index("pid")
    chain = [leaf["pid"]]
    while len(chain) <= len(sample):
        blockers = sample.loc[chain[-1], "blocked_by"] if chain[-1] in sample.index else []
        waiting_blockers = [b for b in blockers if b in sample.index and b not in chain]
        if not waiting_blockers:
            break
        chain.append(waiting_blockers[0])
    links = []
    root = leaf["root_blocker"]
    if pd.notna(root):
        links.append({"pid": int(root), "role": "root blocker", "application": leaf["root_application"],
                      "state": leaf["root_state"], "mode": None, "relation": None, "waiting_ms": None,
                      "query": leaf["root_query"]})
    for pid in reversed(chain):
        row = sample.loc[pid]
        links.append({"pid": int(pid), "role": "waiting", "application": row["application_name"],
                      "state": row["state"], "mode": row["mode"], "relation": row["relation"],
                      "waiting_ms": float(row["waiting_s"] * 1000) if pd.notna(row["waiting_s"]) else None,
                      "query": row["query"]})
    return links


def baseline_p99(requests: pd.DataFrame) -> dict[str, float]:
    """Per endpoint, the baseline phase's p99 latency: the bar a request must exceed to count as held up."""
    baseline = requests[requests["phase"] == "baseline"]
    return {name: float(np.percentile(g["latency_ms"], 99)) for name, g in baseline.groupby("name")}


def statement_table(frames, migration_pids: set[int]) -> list[dict[str, Any]]:
    """Per migration step of the upgrade and rollback: duration, outcome, and whom it held up.

    A sampled wait belongs to the step running when it was sampled if the migration's backend is its root
    blocker, a direct blocker or the waiter. Requests held up: requests in flight during the step that took
    longer than their endpoint's baseline p99 (only for steps that caused waits)."""
    steps = frames.statements[frames.statements["phase"].isin(PHASE_NAMES)]
    locks = frames.locks
    involved = locks[migration_lock_rows(locks, migration_pids)] if not locks.empty else locks
    requests = frames.requests
    ends = requests["start"] + requests["latency_ms"] / 1000
    bar = requests["name"].map(baseline_p99(requests)).fillna(np.inf)
    rows = []
    for step in steps.itertuples():
        ended = step.ended if pd.notna(step.ended) else step.started
        in_window = involved[(involved["sampled_at"] >= step.started) & (involved["sampled_at"] <= ended)]
        others = in_window[in_window["pid"] != step.pid] if pd.notna(step.pid) else in_window
        own = in_window[in_window["pid"] == step.pid] if pd.notna(step.pid) else in_window.iloc[0:0]
        overlapping = (requests["start"] <= ended) & (ends >= step.started)
        held_up = overlapping & (requests["latency_ms"] > bar) if len(others) else overlapping & False
        failed = overlapping & requests["error"].notna()
        rows.append({
            "phase": step.phase, "seq": int(step.seq), "version": step.version, "direction": step.direction,
            "source": step.source, "sql": step.sql, "started": step.started, "ended": step.ended,
            "duration_ms": step.duration_ms, "sqlstate": step.sqlstate, "error": step.error,
            "blocked_backends": int(others["pid"].nunique()),
            "max_wait_ms": float(others["waiting_s"].max() * 1000) if len(others) else 0.0,
            "waited_ms": float(own["waiting_s"].max() * 1000) if len(own) else 0.0,
            "blocked_requests": int(held_up.sum()),
            "failed_requests": int(failed.sum()),
        })
    return rows
