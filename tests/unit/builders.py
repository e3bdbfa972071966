"""Hand-built records.summary values for the unit tests: every field given, nothing measured."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.records.run import RollbackResult
from harness.records.summary import (
    DriftRow,
    EndpointFigures,
    LoadSettings,
    LockWaits,
    PhaseFigures,
    StatementFigures,
    Summary,
)


def phase_figures(name: str, p99_ms: float | None = 20.0, error_rate: float = 0.0, rps: float = 50.0,
                  started: float = 1_700_000_000.0, duration_s: float = 30.0, from_version: str = "1.0",
                  to_version: str = "1.0", **values: Any) -> PhaseFigures:
    requests = values.pop("requests", 0 if p99_ms is None else int(rps * duration_s))
    fields: dict[str, Any] = {
        "name": name, "started": started, "ended": started + duration_s, "from_version": from_version,
        "to_version": to_version, "duration_s": duration_s, "requests": requests,
        "errors": round(requests * error_rate), "error_rate": error_rate, "rps": rps,
        "p50_ms": None if p99_ms is None else p99_ms / 4, "p95_ms": None if p99_ms is None else p99_ms / 2,
        "p99_ms": p99_ms, "max_ms": None if p99_ms is None else p99_ms * 3}
    return PhaseFigures(**(fields | values))


def endpoint_figures(phase: str, name: str, p99_ms: float | None = 20.0, error_rate: float = 0.0,
                     requests: int = 100, **values: Any) -> EndpointFigures:
    fields: dict[str, Any] = {
        "phase": phase, "name": name, "requests": requests if p99_ms is not None else 0,
        "errors": round(requests * error_rate), "error_rate": error_rate,
        "p50_ms": None if p99_ms is None else p99_ms / 4, "p95_ms": None if p99_ms is None else p99_ms / 2,
        "p99_ms": p99_ms, "max_ms": None if p99_ms is None else p99_ms * 3}
    return EndpointFigures(**(fields | values))


def statement_figures(seq: int, sql: str, phase: str = "upgrade", **values: Any) -> StatementFigures:
    fields: dict[str, Any] = {
        "phase": phase, "seq": seq, "version": "2.0", "direction": "up", "source": "001_orders.up.sql",
        "origin": "sql", "sql": sql, "started": 1_700_000_100.0 + seq, "ended": 1_700_000_100.5 + seq,
        "duration_ms": 500.0, "sqlstate": None, "error": None, "attempt": 1, "statement_index": seq - 1,
        "locks": [], "locks_held": [], "rewrites": [], "held_ms": None, "blocked_backends": 0, "max_wait_ms": 0.0,
        "waited_ms": 0.0, "blocked_requests": 0, "failed_requests": 0, "p99_during_ms": None,
        "added_p99_ms": None, "errors_by_sqlstate": {}, "errors_by_endpoint": {}, "lock_records": [],
        "held_lock_records": []}
    return StatementFigures(**(fields | values))


def summary(**values: Any) -> Summary:
    """A Summary of a run that ran and measured nothing in particular; `values` replace its fields."""
    fields: dict[str, Any] = {
        "scenario": "shop", "from_version": "1.0", "to_version": "2.0", "environment": "local",
        "verdict": "pass", "exit_code": 0, "started": "2023-11-14T22:13:20Z", "duration_s": 150.0,
        "incomplete": None, "phases": [], "endpoints": [], "statements": [], "top_offenders": [], "errors": [],
        "lint_check": [], "lock_waits": LockWaits(count=0, max_ms=0.0, total_ms=0.0, longest_chain=[]),
        "downtime_s": 0.0, "swaps": [], "rollback": RollbackResult(safe=True, checked=True, phase="rollback"),
        "invalid_indexes": [], "contention": [], "timings": {}, "observer_errors": [],
        "load": LoadSettings(users=40, spawn_rate=20.0, lock_sample_interval_ms=100.0, seed_rows=1_000_000),
        "artifacts": {"requests": "requests.parquet", "locks": "locks.parquet", "statements": "statements.parquet",
                      "phases": "phases.parquet", "summary_md": "summary.md"},
        "gates": []}
    return Summary(**(fields | values))


def request_rows(phase: str, name: str, started: float, seconds: int, per_second: int = 10,
                 latency_ms: float = 20.0, error_every: int = 0, seed: int = 0, in_check: bool = False) -> pd.DataFrame:
    """Synthetic rows of the request frame (result.frames.REQUEST_COLUMNS): `per_second` requests a second for
    `seconds`, latencies lognormal around `latency_ms` (sigma 0.3), every `error_every`-th one failed."""
    rng = np.random.default_rng(seed)
    count = seconds * per_second
    start = started + np.arange(count) / per_second
    failed = [bool(error_every) and i % error_every == 0 for i in range(count)]
    return pd.DataFrame({
        "start": start, "phase": phase, "name": name, "method": "GET",
        "status": [500 if f else 200 for f in failed],
        "latency_ms": rng.lognormal(np.log(latency_ms), 0.3, count), "bytes": 100,
        "error": ["HTTP 500" if f else None for f in failed], "sqlstate": None, "worker": 1, "served_by": "",
        "in_check": in_check, "sqlstate_source": None, "cause": "service", "cause_step": None})


def drift_row(phase: str, endpoint: str, call: str = "same", ratio: float | None = 1.0, **values: Any) -> DriftRow:
    """A DriftRow against baseline: p99 20 ms -> 20 * ratio, every other call `same` unless `values` say."""
    fields: dict[str, Any] = {
        "endpoint": endpoint, "phase": phase, "against": "baseline", "requests_a": 300, "requests_b": 300,
        "seconds_a": 30, "seconds_b": 30, "p95_a_ms": 15.0, "p95_b_ms": 15.0, "p95_ratio": 1.0,
        "p95_p_value": 0.5, "p95_effect": 0.0, "p95_call": "same", "p99_a_ms": 20.0,
        "p99_b_ms": None if ratio is None else 20.0 * ratio, "ratio": ratio, "p_value": 0.5, "effect": 0.0,
        "call": call, "errors_a": 0, "errors_b": 0, "error_rate_a": 0.0, "error_rate_b": 0.0, "error_p_value": 1.0,
        "error_call": "same"}
    return DriftRow(**(fields | values))
