"""What a run directory recorded, as the figures a comparison needs (RunFigures).

The run-wide figures come from summary.json; the distributions the tests need come from the run's Parquet
frames: requests.parquet (requests of the harness's own check windows, and of warmup and teardown, left out,
as the summary leaves them out) and locks.parquet (the longest lock wait in progress, per second of a phase).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.errors import InputError
from harness.result.frames import AFTER_LAST_PHASE, BEFORE_FIRST_PHASE
from harness.result.stats import per_second

ALL_ENDPOINTS = "(all)"  # the endpoint name of a phase's row over all its endpoints


@dataclass(frozen=True)
class PhaseSpan:
    name: str
    started: float
    ended: float
    p99_ms: float | None
    requests: int
    errors: int


@dataclass(frozen=True)
class WorstWait:
    """The run's longest lock wait, and the migration statement it is blamed on (None: no statement)."""

    max_ms: float
    total_ms: float
    count: int
    statement: str | None = None
    statement_phase: str | None = None


@dataclass(frozen=True)
class RollbackFigures:
    checked: bool
    safe: bool  # checked and found safe
    why: str  # the reasons it is not safe, or that it was not checked, in one line ("" when safe)


@dataclass
class RunFigures:
    """One run directory, loaded: summary figures, and the requests and lock samples the tests read."""

    path: Path
    scenario: str
    from_version: str
    to_version: str
    verdict: str
    exit_code: int
    phases: list[PhaseSpan]
    waits: WorstWait
    phase_waits: dict[str, WorstWait]  # per phase: lock waits of every backend (summary.waits, cause all)
    downtime_s: float
    rollback: RollbackFigures
    upgrade_phase: str  # the first phase that ran up-migrations (summary.upgrades), else "upgrade"
    requests: pd.DataFrame = field(repr=False)  # start, phase, name, latency_ms, failed
    locks: pd.DataFrame = field(repr=False)  # sampled_at, phase, waiting_s

    @property
    def label(self) -> str:
        """How tables name the run: its target version, and its directory."""
        return f"{self.to_version} ({self.path.name})"

    def phase(self, name: str) -> PhaseSpan | None:
        return next((p for p in self.phases if p.name == name), None)

    def endpoints(self, phase: str) -> list[str]:
        names = self.requests.loc[self.requests["phase"] == phase, "name"]
        return sorted(str(n) for n in names.unique())

    def selected(self, phase: str, endpoint: str = ALL_ENDPOINTS) -> pd.DataFrame:
        rows = self.requests["phase"] == phase
        if endpoint != ALL_ENDPOINTS:
            rows &= self.requests["name"] == endpoint
        return self.requests[rows]

    def per_second(self, phase: str, endpoint: str = ALL_ENDPOINTS, stat: str = "p99") -> np.ndarray:
        """One `stat` of the latency per second of the phase (seconds with a request of the endpoint)."""
        rows = self.selected(phase, endpoint)
        return per_second(rows["start"], rows["latency_ms"], stat)

    def lock_wait_per_second(self, phase: str) -> np.ndarray:
        """The longest lock wait in progress in each whole second of the phase, in ms (0: no backend waited)."""
        span = self.phase(phase)
        if span is None or not np.isfinite(span.ended) or span.ended <= span.started:
            return np.array([], dtype="float64")
        seconds = np.arange(np.floor(span.started), np.floor(span.ended) + 1)
        samples = self.locks[self.locks["phase"] == phase]
        longest = (samples.assign(second=np.floor(samples["sampled_at"].astype("float64")))
                   .groupby("second")["waiting_s"].max() * 1000.0)
        return longest.reindex(seconds, fill_value=0.0).to_numpy(dtype="float64")


def load_run(path: Path | str) -> RunFigures:
    """The figures of the run directory `path`; an InputError (one line naming it) if it is not one."""
    path = Path(path)
    summary_file = path / "summary.json"
    if not summary_file.is_file():
        raise InputError(path, "", "not a run directory (no summary.json: give reports/<run id> of a finished "
                                   "rehearsal, or rebuild it with rehearse report)")
    try:
        summary = json.loads(summary_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(summary_file, "", f"cannot be read as JSON: {exc}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("phases"), list):
        raise InputError(summary_file, "phases", "missing: not the summary.json of a rehearsal")
    artifacts = summary.get("artifacts") or {}
    requests = _frame(path, str(artifacts.get("requests", "requests.parquet")), ["start", "phase", "name",
                                                                                  "latency_ms", "error", "in_check"])
    locks_file = path / str(artifacts.get("locks", "locks.parquet"))
    locks = (_frame(path, locks_file.name, ["sampled_at", "phase", "waiting_s"]) if locks_file.exists()
             else pd.DataFrame({"sampled_at": [], "phase": [], "waiting_s": []}))
    try:
        return _figures(path, summary, requests, locks)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(summary_file, "", f"does not follow the summary.json contract ({type(exc).__name__}: "
                                           f"{exc})") from None


def _frame(path: Path, name: str, columns: list[str]) -> pd.DataFrame:
    file = path / name
    if not file.is_file():
        raise InputError(path, "", f"not a complete run directory: no {name} (rebuild it with rehearse report)")
    try:
        return pd.read_parquet(file, columns=columns)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; any of them means a bad file
        raise InputError(file, "", f"cannot be read as Parquet with columns {', '.join(columns)}: "
                                   f"{type(exc).__name__}") from None


def _figures(path: Path, summary: dict[str, Any], requests: pd.DataFrame, locks: pd.DataFrame) -> RunFigures:
    phases = [PhaseSpan(str(p["name"]), float(p["started"]), float(p["ended"]),
                        None if p.get("p99_ms") is None else float(p["p99_ms"]), int(p["requests"]), int(p["errors"]))
              for p in summary["phases"]]
    kept = ~requests["in_check"].astype(bool) & ~requests["phase"].isin([BEFORE_FIRST_PHASE, AFTER_LAST_PHASE])
    requests = requests[kept]
    requests = pd.DataFrame({"start": requests["start"].astype("float64"), "phase": requests["phase"].astype(str),
                             "name": requests["name"].astype(str),
                             "latency_ms": requests["latency_ms"].astype("float64"),
                             "failed": requests["error"].notna()}).reset_index(drop=True)
    waits = summary.get("lock_waits") or {}
    statements = [s for s in summary.get("statements", []) if float(s.get("max_wait_ms") or 0) > 0]
    worst = max(statements, key=lambda s: float(s["max_wait_ms"]), default=None)
    phase_waits = {str(w["phase"]): WorstWait(float(w["max_ms"]), float(w["total_ms"]), int(w["count"]))
                   for w in summary.get("waits", []) if w.get("cause") == "all" and w.get("whose") == "all"}
    return RunFigures(
        path=path.resolve(), scenario=str(summary.get("scenario", "")), from_version=str(summary["from_version"]),
        to_version=str(summary["to_version"]), verdict=str(summary.get("verdict", "")),
        exit_code=int(summary.get("exit_code", 0)), phases=phases,
        waits=WorstWait(float(waits.get("max_ms", 0.0)), float(waits.get("total_ms", 0.0)), int(waits.get("count", 0)),
                        None if worst is None else " ".join(str(worst["sql"]).split()),
                        None if worst is None else str(worst["phase"])),
        phase_waits=phase_waits, downtime_s=float(summary.get("downtime_s", 0.0)),
        rollback=_rollback(summary.get("rollback") or {}),
        upgrade_phase=next((str(u["phase"]) for u in summary.get("upgrades", []) if u.get("direction") == "up"),
                           "upgrade"),
        requests=requests,
        locks=locks.assign(sampled_at=locks["sampled_at"].astype("float64"),
                           waiting_s=locks["waiting_s"].astype("float64")))


def _rollback(row: dict[str, Any]) -> RollbackFigures:
    checked, safe = bool(row.get("checked")), bool(row.get("safe"))
    if not checked:
        return RollbackFigures(False, False, f"not checked{': ' + str(row['error']) if row.get('error') else ''}")
    reasons = [str(r.get("message", r.get("check", ""))) for r in row.get("reasons", []) if isinstance(r, dict)]
    why = "; ".join(reasons) or (str(row["error"]) if row.get("error") else "")
    return RollbackFigures(True, safe, "" if safe else " ".join((why or "unsafe").split()))
