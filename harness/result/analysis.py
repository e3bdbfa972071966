"""Figures from the frames: latency per phase and endpoint, lock waits, and which statement caused them.

Every function takes frames (and the names of the timeline's phases) and returns typed records of
records.summary; none reads a file or knows how the figures will be rendered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from harness.core.postgres import MIGRATION_APPLICATION, SQLSTATE_MEANINGS
from harness.core.tools import is_chatter, tables_named
from harness.records.run import Lock, locks_from_rows
from harness.records.summary import (
    ChainLink,
    EndpointFigures,
    ErrorGroup,
    LockWaits,
    Offender,
    Outage,
    PhaseFigures,
    StatementFigures,
    SwapFigures,
    UpgradeFigures,
)
from harness.result import attribution, causes, groups
from harness.result.frames import Frames

PERCENTILES = {"p50_ms": 50, "p95_ms": 95, "p99_ms": 99}


def latency_stats(requests: pd.DataFrame, seconds: float | None = None) -> dict[str, Any]:
    """requests, errors, error_rate, rps (when `seconds` is known), p50/p95/p99/max latency in ms."""
    figures = RequestArrays(requests)
    return figures.stats(np.arange(len(requests)), seconds)


class RequestArrays:
    """The columns of a request frame the figures read, as numpy arrays (text as integer codes), taken once:
    figures of any subset of rows (positions) are then computed on those rows alone."""

    def __init__(self, requests: pd.DataFrame) -> None:
        self.latency = requests["latency_ms"].to_numpy(dtype="float64")
        self.failed = requests["error"].notna().to_numpy()
        self.cause = groups.codes(requests["cause"]) if "cause" in requests else None

    def stats(self, rows: groups.Rows, seconds: float | None = None) -> dict[str, Any]:
        """latency_stats of the requests at `rows`."""
        failed = self.failed[rows]
        count = len(failed)
        errors = int(failed.sum()) if count else 0
        stats: dict[str, Any] = {"requests": count, "errors": errors, "error_rate": errors / count if count else 0.0}
        if seconds is not None:
            stats["rps"] = count / seconds if seconds > 0 else 0.0
        latencies = self.latency[rows]
        # positions gather a copy, which the percentiles may partition in place; a slice is the column itself
        found = np.percentile(latencies, list(PERCENTILES.values()), overwrite_input=not isinstance(rows, slice)) \
            if count else [None] * len(PERCENTILES)
        for key, value in zip(PERCENTILES, found, strict=True):
            stats[key] = None if value is None else float(value)
        stats["max_ms"] = float(latencies.max()) if count else None
        if self.cause is not None:
            cause_codes, names = self.cause
            stats["errors_by_cause"] = _code_counts(cause_codes[rows][failed], names)
        return stats


def _code_counts_filled(column: tuple[np.ndarray, list[Any]], rows: np.ndarray, missing: str) -> dict[str, int]:
    """_counts of a column's values at `rows`, a missing value counted as `missing`."""
    found, names = column
    codes = found[rows]
    return _code_counts(np.where(codes < 0, len(names), codes), [*names, missing])


def _code_counts(found: np.ndarray, names: list[Any]) -> dict[str, int]:
    """_counts of codes (-1: missing, left out), most frequent first."""
    tally = np.bincount(found[found >= 0], minlength=len(names)) if len(found) else np.zeros(len(names), "int64")
    counts: dict[str, int] = {}
    for i in np.flatnonzero(tally):
        counts[str(names[i])] = counts.get(str(names[i]), 0) + int(tally[i])
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def phase_names(frames: Frames) -> list[str]:
    """The timeline's phases that ran, in order."""
    return [str(name) for name in frames.phases["name"]]


def phase_table(frames: Frames) -> list[PhaseFigures]:
    """One row per phase of the timeline, in timeline order. A phase that never ended (a killed run) ends at its
    last recorded request or probe."""
    rows = []
    requests = frames.requests
    arrays = RequestArrays(requests)
    measured = measured_mask(requests).to_numpy()
    by_phase = {str(phase): found for (phase,), found in figures_by(requests, ["phase"])}
    for phase in frames.phases.itertuples():
        of_phase = by_phase.get(str(phase.name), np.zeros(0, dtype="int64"))
        subset = groups.select(of_phase, measured)
        excluded = len(measured[of_phase]) - len(measured[subset])
        if np.isnan(phase.ended):
            probes = frames.health[frames.health["phase"] == phase.name]["at"]
            recorded = requests["start"].to_numpy()[groups.positions(of_phase)[-1:]]
            ended = float(max([phase.started, *recorded, *probes.tail(1)]))
        else:
            ended = phase.ended
        rows.append(PhaseFigures(name=str(phase.name), started=phase.started, ended=ended,
                                 from_version=str(phase.from_version), to_version=str(phase.to_version),
                                 duration_s=ended - phase.started, **arrays.stats(subset, ended - phase.started),
                                 excluded_requests=excluded))
    return rows


def measured_mask(requests: pd.DataFrame) -> pd.Series:
    """Requests that count in the phase figures: those not started inside a check window of the harness."""
    if "in_check" not in requests.columns:
        return pd.Series(True, index=requests.index, dtype=bool)
    return ~requests["in_check"].eq(True)


def figures_by(requests: pd.DataFrame, columns: list[str], mask: np.ndarray | None = None,
               ) -> Iterator[tuple[tuple[Any, ...], groups.Rows]]:
    """(the values of `columns`, its rows) of each group of `requests` (of the rows where `mask` holds, when
    given) that has rows; missing values are in no group. Grouped by the first column first: by time-ordered
    slices when it is the phase of a frame sorted by start."""
    (first, first_values), *rest = [groups.codes(requests[c]) for c in columns]
    for code, rows in groups.split(first):
        if mask is not None:
            rows = groups.select(rows, mask)
        if not rest:
            if len(first[rows]):
                yield (first_values[code],), rows
            continue
        for key, found in groups.group_rows([k for k, _ in rest], rows):
            yield (first_values[code], *(values[c] for (_, values), c in zip(rest, key, strict=True))), found


def endpoint_table(frames: Frames) -> list[EndpointFigures]:
    """One row per (phase, endpoint), phases in timeline order."""
    order = {name: i for i, name in enumerate(phase_names(frames))}
    requests = frames.requests
    if requests.empty:
        return []
    arrays = RequestArrays(requests)
    rows = [EndpointFigures(phase=str(phase), name=str(name), **arrays.stats(found))
            for (phase, name), found in figures_by(requests, ["phase", "name"], measured_mask(requests).to_numpy())
            if phase in order]
    return sorted(rows, key=lambda r: (order[r.phase], r.name))


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
        return pd.DataFrame(columns=["pid", "locktype", "relation", "mode", "waitstart", "waiting_s", "phase",
                                     "application"])
    frame = locks.assign(waitstart=(locks["sampled_at"] - locks["waiting_s"].fillna(0)).round(3),
                         relation=locks["relation"].fillna(""))
    return frame.groupby(["pid", "locktype", "relation", "mode", "waitstart"], as_index=False, dropna=False).agg(
        waiting_s=("waiting_s", "max"), phase=("phase", "first"), application=("application_name", "first"))


def lock_wait_summary(frames: Frames) -> LockWaits:
    """count / max_ms / total_ms of the waits in the timeline's phases, and the longest chain seen."""
    locks = frames.locks
    in_phases = locks[locks["phase"].isin(phase_names(frames))] if not locks.empty else locks
    distinct = waits(in_phases)
    return LockWaits(count=len(distinct),
                     max_ms=float(distinct["waiting_s"].max() * 1000) if len(distinct) else 0.0,
                     total_ms=float(distinct["waiting_s"].sum() * 1000) if len(distinct) else 0.0,
                     longest_chain=longest_chain(in_phases))


def longest_chain(locks: pd.DataFrame) -> list[ChainLink]:
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
        links.append(ChainLink(pid=int(root), role="root blocker", application=_text(leaf["root_application"]),
                               state=_text(leaf["root_state"]), mode=None, relation=None, waiting_ms=None,
                               query=_text(leaf["root_query"])))
    for pid in reversed(chain):
        row = sample.loc[pid]
        links.append(ChainLink(pid=int(pid), role="waiting", application=_text(row["application_name"]),
                               state=_text(row["state"]), mode=_text(row["mode"]), relation=_text(row["relation"]),
                               waiting_ms=float(row["waiting_s"] * 1000) if pd.notna(row["waiting_s"]) else None,
                               query=_text(row["query"])))
    return links


def migration_pids(frames: Frames) -> set[int]:
    """Backends that ran migration statements (the SQL runner's and the traced tools')."""
    pids = frames.statements["pid"].dropna()
    return {int(pid) for pid in pids}


def statement_table(frames: Frames) -> list[StatementFigures]:
    """Per migration step of the timeline's phases: duration, outcome, locks, and whom it held up.

    A lock wait involving the migration's backend (root blocker, direct blocker or the waiter) is blamed on the
    step running when the wait began (one step per level: SQL steps and commands, and the statements traced
    inside a command), with the whole wait's length; the migration's own waits are its waited_ms. A wait that
    began up to BLAME_MARGIN_S before a step's recorded start is that step's (its backend stamped it first),
    unless the step before was still running then. Held-up requests (result.causes): requests overlapping the
    step that waited on a lock it caused, or were slower than their endpoint's baseline by the held-up margins
    (by lock and slow are kept apart too). Added p99: p99 latency of the requests started during the step minus
    the baseline phase's p99. A failed lock_timeout attempt followed by another attempt of it is `retried`."""
    names = phase_names(frames)
    steps = frames.statements[frames.statements["phase"].isin(names)]
    locks = frames.locks
    pids = migration_pids(frames)
    involved_rows = migration_lock_rows(locks, pids) if not locks.empty else pd.Series(dtype=bool)
    every_wait = causes.distinct_waits(locks, involved_rows, pids)
    involved = every_wait[every_wait["involved"].astype(bool)] if len(every_wait) else every_wait
    requests = frames.requests
    baseline_name = names[0] if names else ""
    slow = causes.slower_than_baseline(requests, baseline_name)
    spans = causes.Spans(requests)
    failing = requests["error"].notna().to_numpy()
    latency = requests["latency_ms"].to_numpy(dtype="float64")
    sqlstates, endpoints = groups.codes(requests["sqlstate"]), groups.codes(requests["name"])
    baseline = latency[(requests["phase"] == baseline_name).to_numpy()]
    baseline_p99_ms = float(np.percentile(baseline, 99)) if len(baseline) else None
    txn_end = steps.groupby("txn")["ended"].max() if steps["txn"].notna().any() else pd.Series(dtype=float)
    retried = _retried(steps)
    rows = []
    window_start = _blame_window_starts(steps)
    holders = _lock_holders(steps, involved, window_start)
    # others' waits are blamed on the statement of the transaction that took the lock they wait for
    blamed = {step.Index: involved.loc[[i for i, found in holders.items() if step.Index in found]]
              for step in steps.itertuples()}
    held_by = {step.Index: _held_by_lock(spans, failing, step, blamed[step.Index]) for step in steps.itertuples()}
    for step in steps.itertuples():
        ended = step.ended if pd.notna(step.ended) else step.started
        begun = involved[(involved["waitstart"] > window_start[step.Index]) & (involved["waitstart"] <= ended)]
        # a command has no backend of its own: the tool's backends are known by their application name
        mine = begun["pid"] == step.pid if pd.notna(step.pid) else begun["application_name"] == MIGRATION_APPLICATION
        others, own = blamed[step.Index], begun[mine]
        of_requests = others[others["whose"] == "requests"]
        # positions of the requests started during the step, and of those in flight during it
        started_during = spans.started(step.started, ended)
        overlap = spans.overlapping(step.started, ended)
        by_lock = held_by[step.Index]
        # a slow request that waited on a lock another step of its level took is that step's, not this one's
        level = steps["origin"].eq("traced") == (step.origin == "traced")
        others_held = [held_by[index] for index in steps.index[level] if index != step.Index]
        elsewhere = np.concatenate(others_held) if others_held else np.zeros(0, dtype="int64")
        slow_during = overlap[slow[overlap] & ~np.isin(overlap, elsewhere)]
        failed = overlap[failing[overlap]]
        during = latency[started_during]
        p99_during = float(np.percentile(during, 99)) if len(during) else None
        held_until = txn_end.get(step.txn, ended) if pd.notna(step.txn) else ended
        taken, held = locks_from_rows(step.locks), locks_from_rows(step.locks_held)
        rows.append(StatementFigures(
            phase=str(step.phase), seq=int(step.seq), version=str(step.version), direction=str(step.direction),
            source=str(step.source), origin=str(step.origin), sql=str(step.sql), started=float(step.started),
            ended=None if pd.isna(step.ended) else float(step.ended),
            duration_ms=None if pd.isna(step.duration_ms) else float(step.duration_ms),
            sqlstate=_text(step.sqlstate), error=_text(step.error),
            attempt=int(step.attempt) if pd.notna(step.attempt) else 1,
            statement_index=int(step.statement_index) if pd.notna(step.statement_index) else None,
            locks=_lock_texts(taken), locks_held=_lock_texts(held),
            rewrites=list(step.rewrites) if isinstance(step.rewrites, list) else None,
            held_ms=(held_until - step.started) * 1000 if taken else None,
            blocked_backends=int(others["pid"].nunique()),
            max_wait_ms=float(others["waiting_s"].max() * 1000) if len(others) else 0.0,
            waited_ms=float(own["waiting_s"].max() * 1000) if len(own) else 0.0,
            blocked_requests=len(np.union1d(by_lock, slow_during)),
            failed_requests=len(failed),
            p99_during_ms=p99_during,
            added_p99_ms=p99_during - baseline_p99_ms if p99_during is not None and baseline_p99_ms else None,
            errors_by_sqlstate=_code_counts_filled(sqlstates, failed, "http"),
            errors_by_endpoint=_code_counts(endpoints[0][failed], endpoints[1]),
            lock_records=taken, held_lock_records=held,
            chatter=step.origin == "traced" and is_chatter(str(step.sql)) and not len(others)
            and not bool(failing[started_during].any())
            and not _strong(_on_named_tables(taken, str(step.sql))),
            blamed_waits=int(len(others) - len(others.index.intersection(begun.index))),
            request_wait_ms=float(of_requests["waiting_s"].max() * 1000) if len(of_requests) else 0.0,
            held_up_by_lock=len(by_lock), held_up_slow=len(slow_during),
            retried=bool(retried.get(step.Index, False)),
        ))
    # execution order: by step; a command before the statements traced in it, those as the server logged them
    return sorted(rows, key=lambda r: (r.seq, r.origin == "traced"))


def wait_blame(frames: Frames) -> tuple[pd.DataFrame, pd.DataFrame, dict[Any, set[Any]]]:
    """The timeline's steps, every distinct lock wait (causes.distinct_waits), and per wait of another backend
    the migration was part of, the steps blamed for it (indices of the steps), as statement_table blames them."""
    steps = frames.statements[frames.statements["phase"].isin(phase_names(frames))]
    pids = migration_pids(frames)
    involved_rows = migration_lock_rows(frames.locks, pids) if not frames.locks.empty else pd.Series(dtype=bool)
    every = causes.distinct_waits(frames.locks, involved_rows, pids)
    involved = every[every["involved"].astype(bool)] if len(every) else every
    return steps, every, _lock_holders(steps, involved, _blame_window_starts(steps))


def _held_by_lock(spans: causes.Spans, failing: np.ndarray, step: Any, blamed: pd.DataFrame) -> np.ndarray:
    """Positions (ascending) of the requests held up by the waits blamed on `step`: to the end of those waits
    (its COMMIT at most), not only while it ran."""
    if not len(blamed):
        return np.zeros(0, dtype="int64")
    ended = step.ended if pd.notna(step.ended) else step.started
    hold_start = min(float(step.started), float(blamed["waitstart"].min()))
    hold_end = max(float(ended), float(blamed["waitend"].max()))
    of_requests = blamed[blamed["whose"] == "requests"]
    found = spans.overlapping(hold_start, hold_end)
    held = causes.holding(spans.starts[found], spans.ends[found], of_requests) & ~failing[found]
    return found[held]


def _on_named_tables(locks: list[Lock] | None, sql: str) -> list[Lock]:
    """The locks of a traced statement on tables it names. The tracer gives a statement the locks its
    transaction was first seen holding while it ran: a quick DDL before it, never sampled, leaves its locks to
    the next statement (a tool's UPDATE alembic_version "taking" ACCESS EXCLUSIVE on a rewritten toast table)."""
    named = tables_named(sql)
    return [lock for lock in locks or [] if (lock.relation or "").rsplit(".", 1)[-1].lower() in named]


def _strong(locks: list[Lock] | None) -> bool:
    """Locks stronger than what reads and writes take (a DDL's)."""
    return any(LOCK_MODES.index(lock.mode) > 2 for lock in locks or [] if lock.mode in LOCK_MODES)


BLAME_MARGIN_S = 0.01
# pg_locks' modes, weakest first, and for each the modes it conflicts with (PostgreSQL, "Explicit Locking").
LOCK_MODES = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
              "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
_CONFLICTS = {0: {7}, 1: {6, 7}, 2: {4, 5, 6, 7}, 3: {3, 4, 5, 6, 7}, 4: {2, 3, 5, 6, 7}, 5: {2, 3, 4, 5, 6, 7},
              6: {1, 2, 3, 4, 5, 6, 7}, 7: {0, 1, 2, 3, 4, 5, 6, 7}}


def conflicts(held: str, wanted: str) -> bool:
    """Whether a lock held in mode `held` blocks a request for mode `wanted` (unknown modes: no)."""
    if held not in LOCK_MODES or wanted not in LOCK_MODES:
        return False
    return LOCK_MODES.index(held) in _CONFLICTS[LOCK_MODES.index(wanted)]


def _lock_holders(steps: pd.DataFrame, involved: pd.DataFrame,
                  window_start: dict[Any, float]) -> dict[Any, set[Any]]:
    """Per wait of another backend (index of `involved`), the step blamed for it, per level (outer steps and
    the statements traced in commands; a wait can be blamed at both): the step of the migration's transaction
    that took a lock conflicting with the one waited for, on the same relation, even when an earlier statement
    took it and the transaction held it to its COMMIT; failing that, the step running when the wait began."""
    holders: dict[Any, set[Any]] = {}
    blame: dict[tuple[Any, bool], Any] = {}
    taken = {step.Index: locks_from_rows(step.locks) or [] for step in steps.itertuples()}
    begun_at = involved["waitstart"].to_numpy(dtype="float64")
    for traced, level in steps.groupby(steps["origin"] == "traced"):
        ordered = level.sort_values(["started", "seq"])
        for step in ordered.itertuples():
            ended = step.ended if pd.notna(step.ended) else step.started
            begun = involved[(begun_at > window_start[step.Index]) & (begun_at <= ended)]
            if pd.notna(step.pid):
                begun = begun[begun["pid"] != step.pid]
                same_txn = list(ordered.index[(ordered["pid"] == step.pid) & (ordered["txn"] == step.txn)
                                              & (ordered["started"] <= step.started)]) if pd.notna(step.txn) else []
            else:
                begun = begun[begun["application_name"] != MIGRATION_APPLICATION]
                same_txn = []
            takers: dict[tuple[Any, Any], Any] = {}  # the waits of a step want a few (relation, mode) pairs
            for index, relation, mode in zip(begun.index, begun["relation"], begun["mode"], strict=True):
                if (relation, mode) not in takers:
                    takers[(relation, mode)] = _taker(same_txn, taken, relation, mode)
                holder = takers[(relation, mode)]
                blame[(index, bool(traced))] = step.Index if holder is None else holder
    for (index, _), holder in blame.items():
        holders.setdefault(index, set()).add(holder)
    return holders


def _taker(transaction: list[Any], taken: dict[Any, list[Any]], relation: Any, wanted: Any) -> Any:
    """The first step of `transaction` (step indices, in order; `taken`: each one's locks) that took a lock on
    the waited-for relation conflicting with the wait."""
    if not relation or not isinstance(wanted, str):
        return None
    for index in transaction:
        for lock in taken[index]:
            if lock.relation == relation and conflicts(lock.mode, wanted):
                return index
    return None


def _blame_window_starts(steps: pd.DataFrame) -> dict[Any, float]:
    """Per step (by frame index), the moment after which a wait that began is its own: its start less the
    margin, but not before the previous step of its level ended."""
    starts: dict[Any, float] = {}
    for _, level in steps.groupby(steps["origin"] == "traced"):
        previous_end = -np.inf
        for step in level.sort_values(["started", "seq"]).itertuples():
            ended = step.ended if pd.notna(step.ended) else step.started
            starts[step.Index] = max(step.started - BLAME_MARGIN_S - 1e-9, previous_end)
            previous_end = max(previous_end, ended)
    return starts


def _retried(steps: pd.DataFrame) -> dict[Any, bool]:
    """Index -> True for each failed step that a later attempt of the same statement followed (the runner
    retries a unit after a lock timeout: same phase, file and place in it, a higher attempt number)."""
    flags: dict[Any, bool] = {}
    own = steps[(steps["origin"] != "traced") & steps["error"].notna()]
    for index, step in own.iterrows():
        later = steps[(steps["phase"] == step["phase"]) & (steps["source"] == step["source"])
                      & (steps["version"] == step["version"]) & (steps["attempt"] > step["attempt"])
                      & (steps["seq"] > step["seq"])]
        flags[index] = bool(len(later))
    return flags


def migration_errors(statements: list[StatementFigures], phase: str | None = None) -> int:
    """Failed migration steps (of `phase`, when given): a lock_timeout attempt that was retried is not one."""
    return sum(1 for s in statements if s.error and not s.retried and s.origin != "traced"
               and phase in (None, s.phase))


def migration_retries(statements: list[StatementFigures], phase: str | None = None) -> int:
    """Failed lock_timeout attempts the runner retried (of `phase`, when given)."""
    return sum(1 for s in statements if s.error and s.retried and phase in (None, s.phase))


def error_table(frames: Frames) -> list[ErrorGroup]:
    """Failed requests per phase, endpoint, SQLSTATE (from the response body or the server log; "http" when
    neither knows one) and cause, with every HTTP status seen (0: no response) and the migration steps blamed."""
    order = {name: i for i, name in enumerate(phase_names(frames))}
    requests = frames.requests
    failed = requests[requests["error"].notna() & requests["phase"].isin(order)]
    if failed.empty:
        return []
    failed = failed.assign(sqlstate=_filled(failed["sqlstate"], "http"), cause=_filled(failed["cause"], "service"))
    rows = []
    for (phase, name, sqlstate, cause), group in failed.groupby(["phase", "name", "sqlstate", "cause"], sort=False,
                                                                   observed=True):
        statuses = {str(k): int(v) for k, v in group["status"].value_counts().sort_index().items()}
        sources = group["sqlstate_source"].dropna()
        rows.append(ErrorGroup(phase=str(phase), name=str(name), sqlstate=str(sqlstate),
                               meaning=SQLSTATE_MEANINGS.get(str(sqlstate), ""), errors=len(group),
                               status=int(group["status"].max()), cause=str(cause), statuses=statuses,
                               sqlstate_source=str(sources.mode().iloc[0]) if len(sources) else None,
                               steps=sorted({int(s) for s in group["cause_step"].dropna()})))
    return sorted(rows, key=lambda r: (order[r.phase], -r.errors, r.name, r.sqlstate))


def swap_failures(frames: Frames, swap: SwapFigures) -> int:
    """Failed requests blamed on `swap` (cause swap, in flight during its window)."""
    requests = frames.requests
    if requests.empty or swap.started_at is None:
        return 0
    rows = np.flatnonzero((requests["cause"] == "swap").to_numpy())  # few of millions: only these are read
    start = requests["start"].to_numpy(dtype="float64")[rows]
    end = start + np.nan_to_num(requests["latency_ms"].to_numpy(dtype="float64")[rows], nan=0.0) / 1000
    ended = (swap.ended_at or swap.healthy_at or swap.started_at) + attribution.SWAP_GRACE_S
    return int(((start <= ended) & (end >= swap.started_at)).sum())


def top_offenders(statements: list[StatementFigures], limit: int = 5) -> list[Offender]:
    """The statements that hurt traffic most, ranked within each phase (held-up requests, then the longest
    wait, then failed requests), at most `limit` per phase; the phases that migrate up come first (the
    upgrade), then the others (the rollback), each group in timeline order."""
    hurting = [s for s in statements if s.blocked_requests or s.max_wait_ms or s.failed_requests]
    order: dict[str, int] = {}
    for s in sorted(statements, key=lambda s: (s.direction != "up", s.started)):
        order.setdefault(s.phase, len(order))
    offenders: list[Offender] = []
    for phase in sorted({s.phase for s in hurting}, key=lambda p: order[p]):
        ranked = sorted((s for s in hurting if s.phase == phase),
                        key=lambda s: (s.blocked_requests, s.max_wait_ms, s.failed_requests), reverse=True)
        offenders += [Offender(phase=s.phase, seq=s.seq, sql=s.sql, blocked_requests=s.blocked_requests,
                               max_wait_ms=s.max_wait_ms, added_p99_ms=s.added_p99_ms,
                               failed_requests=s.failed_requests, rank=rank, held_up_by_lock=s.held_up_by_lock,
                               held_up_slow=s.held_up_slow)
                      for rank, s in enumerate(ranked[:limit], start=1)]
    return offenders


def upgrade_table(statements: list[StatementFigures], phases: list[PhaseFigures]) -> list[UpgradeFigures]:
    """One row per phase that ran migration steps (an upgrade, a rollback, a re-upgrade), in timeline order."""
    by_phase = {p.name: p for p in phases}
    rows = []
    for phase in phases:
        steps = [s for s in statements if s.phase == phase.name and s.origin != "traced"]
        if not steps:
            continue
        rows.append(UpgradeFigures(
            phase=phase.name, direction=steps[0].direction, steps=len(steps),
            failed_steps=migration_errors(steps), duration_ms=sum(s.duration_ms or 0.0 for s in steps),
            max_wait_ms=max((s.max_wait_ms for s in statements if s.phase == phase.name), default=0.0),
            blocked_requests=sum(s.blocked_requests for s in steps),
            failed_requests=sum(s.failed_requests for s in steps),
            p99_ms=by_phase[phase.name].p99_ms, errors=by_phase[phase.name].errors,
            retried_steps=migration_retries(steps)))
    return rows


def _filled(values: pd.Series, default: str) -> pd.Series:
    return values.astype(object).where(values.notna(), default)


def _lock_texts(locks: list[Lock] | None) -> list[str] | None:
    return None if locks is None else [str(lock) for lock in locks]


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else str(value)


REFUSED_STATUS = 0  # a request that got no response at all (connection refused or reset)


def outages(frames: Frames, probe_interval_s: float) -> list[Outage]:
    """Stretches of the timeline in which the service did not answer: from a failed health probe to the next
    healthy one, and runs of consecutive refused requests (no response at all), merged where they overlap."""
    spans: list[tuple[float, float, str]] = []
    health = frames.health.sort_values("at") if not frames.health.empty else frames.health
    start: float | None = None
    for row in health.itertuples():
        if not row.ok and start is None:
            start = float(row.at)
        elif row.ok and start is not None:
            spans.append((start, float(row.at), "health"))
            start = None
    if start is not None:
        spans.append((start, float(health["at"].iloc[-1]) + probe_interval_s, "health"))
    requests = frames.requests
    if not requests.empty:
        refused = np.flatnonzero((requests["status"] == REFUSED_STATUS).to_numpy()
                                 & requests["error"].notna().to_numpy())
        starts, ends = causes.request_spans(requests)
        # runs of consecutive refused requests (in the frame's order: by start)
        for run in np.split(refused, np.flatnonzero(np.diff(refused) != 1) + 1) if len(refused) else []:
            if len(run) >= 2:
                spans.append((float(starts[run].min()), float(ends[run].max()), "requests"))
    if frames.phases.empty:
        return []
    first = float(frames.phases["started"].min())
    last = float(np.nanmax(frames.phases["ended"].to_numpy(dtype="float64"))) \
        if frames.phases["ended"].notna().any() else max((s[1] for s in spans), default=first)
    merged: list[list[Any]] = []
    for begin, end, source in sorted(spans):
        begin, end = max(begin, first), min(end, last)
        if end <= begin:
            continue
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            if source not in merged[-1][2]:
                merged[-1][2].append(source)
        else:
            merged.append([begin, end, [source]])
    starts = frames.phases["started"].to_numpy(dtype="float64")
    names = list(frames.phases["name"])
    result = []
    for begin, end, sources in merged:
        index = int(np.searchsorted(starts, begin, side="right")) - 1
        result.append(Outage(started=begin, ended=end, seconds=end - begin,
                             phase=str(names[index]) if index >= 0 else None,
                             source="both" if len(sources) > 1 else sources[0]))
    return result
