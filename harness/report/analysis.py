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
    frame = locks.assign(waitstart=(locks["sampled_at"] - locks["waiting_s"].fillna(0)).round(3),
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
    """Per migration step of the upgrade and rollback: duration, outcome, locks, and whom it held up.

    A lock wait involving the migration's backend (root blocker, direct blocker or the waiter) is blamed on the
    step running when the wait began, with the whole wait's length. Held-up requests: requests that started
    during the step and took longer than their endpoint's baseline p99 (only for steps that caused waits).
    Added p99: p99 latency of the requests started during the step minus the baseline phase's p99."""
    steps = frames.statements[frames.statements["phase"].isin(PHASE_NAMES)]
    locks = frames.locks
    involved = waits(locks[migration_lock_rows(locks, migration_pids)]) if not locks.empty else waits(locks)
    requests = frames.requests
    bar = requests["name"].map(baseline_p99(requests)).fillna(np.inf)
    baseline = requests[requests["phase"] == "baseline"]["latency_ms"]
    baseline_p99_ms = float(np.percentile(baseline, 99)) if len(baseline) else None
    txn_end = steps.groupby("txn")["ended"].max() if steps["txn"].notna().any() else pd.Series(dtype=float)
    rows = []
    for step in steps.itertuples():
        ended = step.ended if pd.notna(step.ended) else step.started
        begun = involved[(involved["waitstart"] >= step.started - 0.01) & (involved["waitstart"] <= ended)]
        others = begun[begun["pid"] != step.pid] if pd.notna(step.pid) else begun
        own = begun[begun["pid"] == step.pid] if pd.notna(step.pid) else begun.iloc[0:0]
        started_during = (requests["start"] >= step.started) & (requests["start"] <= ended)
        held_up = started_during & (requests["latency_ms"] > bar) if len(others) else started_during & False
        failed = started_during & requests["error"].notna()
        during = requests.loc[started_during, "latency_ms"]
        p99_during = float(np.percentile(during, 99)) if len(during) else None
        held_until = txn_end.get(step.txn, ended) if pd.notna(step.txn) else ended
        rows.append({
            "phase": step.phase, "seq": int(step.seq), "version": step.version, "direction": step.direction,
            "source": step.source, "origin": step.origin, "sql": step.sql, "started": step.started,
            "ended": step.ended,
            "duration_ms": step.duration_ms, "sqlstate": step.sqlstate, "error": step.error,
            "attempt": int(step.attempt) if pd.notna(step.attempt) else 1,
            "statement_index": int(step.statement_index) if pd.notna(step.statement_index) else None,
            "locks": step.locks, "locks_held": step.locks_held, "rewrites": step.rewrites,
            "held_ms": (held_until - step.started) * 1000 if step.locks else None,
            "blocked_backends": int(others["pid"].nunique()),
            "max_wait_ms": float(others["waiting_s"].max() * 1000) if len(others) else 0.0,
            "waited_ms": float(own["waiting_s"].max() * 1000) if len(own) else 0.0,
            "blocked_requests": int(held_up.sum()),
            "failed_requests": int(failed.sum()),
            "p99_during_ms": p99_during,
            "added_p99_ms": p99_during - baseline_p99_ms if p99_during is not None and baseline_p99_ms else None,
            "errors_by_sqlstate": _counts(requests.loc[failed, "sqlstate"].fillna("http")),
            "errors_by_endpoint": _counts(requests.loc[failed, "name"]),
        })
    return sorted(rows, key=lambda r: (r["seq"], r["started"]))


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().items()}


SQLSTATE_CLASSES = {"55P03": "lock timeout", "57014": "statement timeout (or cancel)", "40P01": "deadlock",
                    "42703": "undefined column (schema mismatch)", "42P01": "undefined table (schema mismatch)"}


def error_table(requests: pd.DataFrame) -> list[dict[str, Any]]:
    """Failed requests per phase, endpoint and SQLSTATE (from the response body; "http" when none given)."""
    failed = requests[requests["error"].notna() & requests["phase"].isin(PHASE_NAMES)]
    if failed.empty:
        return []
    order = {name: i for i, name in enumerate(PHASE_NAMES)}
    grouped = failed.assign(sqlstate=failed["sqlstate"].fillna("http")).groupby(
        ["phase", "name", "sqlstate"], as_index=False).agg(errors=("start", "size"), status=("status", "max"))
    rows = [{"phase": r.phase, "name": r.name, "sqlstate": r.sqlstate,
             "meaning": SQLSTATE_CLASSES.get(r.sqlstate, ""), "errors": int(r.errors), "status": int(r.status)}
            for r in grouped.itertuples()]
    return sorted(rows, key=lambda r: (order[r["phase"]], -r["errors"]))


def top_offenders(statements: list[dict[str, Any]], limit: int = 5) -> list[dict[str, Any]]:
    """The statements that hurt traffic most: held-up requests, then longest wait, then failed requests."""
    hurting = [s for s in statements if s["blocked_requests"] or s["max_wait_ms"] or s["failed_requests"]]
    return sorted(hurting, key=lambda s: (s["blocked_requests"], s["max_wait_ms"], s["failed_requests"]),
                  reverse=True)[:limit]
