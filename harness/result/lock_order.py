"""Lock-order inversions between a migration and the service: deadlocks waiting to happen, even when the
rehearsal happened not to deadlock.

A migration transaction that locks table A, then table B, deadlocks with a service transaction that locks
B, then A, when both are half-way at once: each waits for the other. Whether a rehearsal hits that window
is chance, so the order is compared instead. The migration's order comes from its statements' traced locks
(per transaction, the first lock of each table); the service's from the sampled locks of its transactions
(observe.app_locks). A pair is a risk when the migration's lock on A blocks the service's lock on A, and the
service's lock on B blocks the migration's lock on B.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from harness.records.run import locks_from_rows
from harness.records.summary import LockOrderRisk
from harness.result.analysis import conflicts

MIGRATION_ORIGINS = ("sql", "traced")


def migration_orders(steps: pd.DataFrame, phases: list[str]) -> list[list[tuple[str, str, str]]]:
    """Per migration transaction of the timeline: [(table, strongest mode, the statement that took it)] in the
    order the tables were first locked (the statement as "#seq SQL")."""
    orders = []
    timed = steps[steps["phase"].isin(phases) & steps["origin"].isin(MIGRATION_ORIGINS) & steps["txn"].notna()]
    for _, txn in timed.sort_values(["started", "seq"]).groupby("txn", sort=False):
        order: dict[str, tuple[str, str]] = {}
        for step in txn.sort_values(["started", "seq"]).itertuples():
            label = f"#{step.seq} {_short(str(step.sql))}"
            for lock in locks_from_rows(step.locks) or []:
                if lock.is_index:
                    continue
                if lock.relation not in order:
                    order[lock.relation] = (lock.mode, label)
                elif _rank(lock.mode) > _rank(order[lock.relation][0]):
                    order[lock.relation] = (lock.mode, order[lock.relation][1])
        if len(order) >= 2:
            orders.append([(relation, mode, label) for relation, (mode, label) in order.items()])
    return orders


def _short(sql: str, limit: int = 60) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def app_orders(samples: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(first table, later table) -> how the service's transactions took them in that order: count, the
    applications, and the modes, from samples of observe.app_locks (one row per new lock of a transaction)."""
    by_txn: dict[tuple[int, float], list[tuple[float, str, str, str]]] = defaultdict(list)
    for row in samples:
        for text in row.get("locks") or []:
            relation, _, mode = str(text).rpartition(" ")
            by_txn[(row["pid"], row["xact_start"])].append((row["sampled_at"], relation, mode,
                                                            row.get("application") or ""))
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for locks in by_txn.values():
        first_seen: dict[str, tuple[float, str, str]] = {}
        for at, relation, mode, application in sorted(locks):
            if relation not in first_seen or _rank(mode) > _rank(first_seen[relation][1]):
                first_seen[relation] = (min(at, first_seen.get(relation, (at,))[0]), mode, application)
        for a, (at_a, mode_a, app) in first_seen.items():
            for b, (at_b, mode_b, _) in first_seen.items():
                if a != b and at_a < at_b:  # taken in different samples: an order is known
                    entry = pairs.setdefault((a, b), {"count": 0, "applications": set(), "modes": (mode_a, mode_b)})
                    entry["count"] += 1
                    entry["applications"].add(app)
    return pairs


def lock_order_risks(steps: pd.DataFrame, phases: list[str], samples: list[dict[str, Any]],
                     deadlocks: int = 0) -> list[LockOrderRisk]:
    """Every pair of tables the migration locks in the opposite order to the service's transactions, where
    each side's lock blocks the other's; `deadlocks` (40P01 seen in the run) is noted on each."""
    service = app_orders(samples)
    risks: dict[tuple[str, str], LockOrderRisk] = {}
    for order in migration_orders(steps, phases):
        for i, (first, first_mode, first_seq) in enumerate(order):
            for second, second_mode, second_seq in order[i + 1:]:
                seen = service.get((second, first))
                if seen is None or first_seq == second_seq:  # one statement's locks come in no known order
                    continue
                app_second_mode, app_first_mode = seen["modes"]  # the service locks `second`, then `first`
                if not (conflicts(first_mode, app_first_mode) and conflicts(app_second_mode, second_mode)):
                    continue
                key = (first, second)
                if key not in risks:
                    risks[key] = LockOrderRisk(
                        tables=[first, second],
                        migration_order=[f"{first_mode} {first} ({first_seq})",
                                         f"{second_mode} {second} ({second_seq})"],
                        app_order=[f"{app_second_mode} {second}", f"{app_first_mode} {first}"],
                        applications=sorted(seen["applications"]), app_transactions=int(seen["count"]),
                        statements=[first_seq, second_seq], deadlocks_observed=deadlocks)
    return list(risks.values())


_MODES = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
          "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")


def _rank(mode: str) -> int:
    return _MODES.index(mode) if mode in _MODES else -1
