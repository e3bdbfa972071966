"""Causes of failed requests, lock-order risks, rewrites of command statements, the lock taker inside one
transaction, and repeat outcomes: on hand-built frames and rows (nothing run)."""

from __future__ import annotations

import pandas as pd

from harness.repeat import outcomes_of
from harness.result import analysis, attribution
from harness.result.lock_order import app_orders, lock_order_risks
from harness.result.rewrites import attribute as attribute_rewrites
from tests.unit.test_blame import (
    MIGRATION_PID,
    TIMELINE,
    baseline_requests,
    by_seq,
    frames,
    lock,
    request,
    step,
)

ACCOUNTS_AE = [{"mode": "AccessExclusiveLock", "relation": "accounts", "is_index": False}]
NOTES_AE = [{"mode": "AccessExclusiveLock", "relation": "notes", "is_index": False}]


def _requests(*rows: dict) -> pd.DataFrame:
    return frames(list(rows), [], [], TIMELINE).requests


def _steps(*rows: dict) -> pd.DataFrame:
    return frames([], [], list(rows), TIMELINE).statements


# --- attribution ----------------------------------------------------------------------------------------------------


def test_a_restart_swap_owns_refused_requests_and_a_blue_green_one_only_what_the_switch_causes() -> None:
    requests = _requests(request(150.1, "migrate", "/a", 1.0, "refused", None, 0),
                         request(150.2, "migrate", "/a", 5.0, "HTTP 500", None, 500),
                         request(150.3, "migrate", "/a", 5.0, "HTTP 500", "42703", 500))
    restart = attribution.attribute(requests, _steps(), [(150.0, 151.0, "restart")], [])
    assert list(restart["cause"]) == ["swap", "swap", "service"]
    blue_green = attribution.attribute(requests, _steps(), [(150.0, 151.0, "blue_green")], [])
    assert list(blue_green["cause"]) == ["swap", "service", "service"], "the old version failing is its own"


def test_a_drained_blue_green_swap_owns_only_requests_sent_from_its_switch_on() -> None:
    # the old version dropped a connection it was serving before the switch; the drain let it finish, so the
    # stop cut nothing: that failure is the old version's own, one sent after the switch is the swap's
    requests = _requests(request(149.5, "migrate", "/a", 1100.0, "connection closed", None, 0),
                         request(150.6, "migrate", "/a", 2.0, "connection closed", None, 0))
    drained = attribution.swap_windows([{"strategy": "blue_green", "started_at": 149.0, "stopped_at": 150.5,
                                         "healthy_at": 150.5, "ended_at": 151.0, "in_flight_at_stop": 0}])
    assert drained == [(150.5, 151.0 + attribution.SWAP_GRACE_S, "blue_green")]
    assert list(attribution.attribute(requests, _steps(), drained, [])["cause"]) == ["service", "swap"]
    cut = attribution.swap_windows([{"strategy": "blue_green", "started_at": 149.0, "stopped_at": 150.5,
                                     "healthy_at": 150.5, "ended_at": 151.0, "in_flight_at_stop": 1}])
    assert cut == [(149.0, 151.0 + attribution.SWAP_GRACE_S, "blue_green_cut")]
    assert list(attribution.attribute(requests, _steps(), cut, [])["cause"]) == ["swap", "swap"]


def test_requests_in_flight_during_a_step_or_before_the_swap_that_follows_are_the_migrations() -> None:
    steps = _steps(step(4, "migrate", 140.0, 141.0, "ALTER TABLE t ADD c int"))
    requests = _requests(request(140.5, "migrate", "/a", 5.0, "lock timeout", "55P03", 500),
                         request(145.0, "migrate", "/a", 5.0, "HTTP 500", "42703", 500),
                         request(160.0, "migrate", "/a", 5.0, "HTTP 500", None, 500),
                         request(146.0, "migrate", "/a", 5.0))
    actions = [{"name": "migrate", "status": "ok", "started": 139.0, "ended": 141.0},
               {"name": "swap", "status": "ok", "started": 141.0, "ended": 150.0}]
    found = attribution.attribute(requests, steps, [], attribution.mismatch_windows(actions, 200.0))
    assert list(found["cause"].astype(object).where(found["cause"].notna(), None)) == [
        "statements", "statements", "service", None]
    assert list(found["cause_step"].astype(object).where(found["cause_step"].notna(), None)) == [4, 4, None, None]


def test_a_mismatch_lasts_until_the_end_of_the_run_when_no_swap_follows() -> None:
    actions = [{"name": "revert", "status": "failed", "started": 300.0, "ended": 301.0},
               {"name": "swap_back", "status": "skipped", "started": 301.0, "ended": 301.0}]
    assert attribution.mismatch_windows(actions, 400.0) == [(300.0, 400.0)]


# --- blame inside one transaction ------------------------------------------------------------------------------


def test_a_wait_is_blamed_on_the_statement_that_took_the_lock_not_the_one_running_then() -> None:
    """One transaction: #1 takes ACCESS EXCLUSIVE on accounts in 5 ms, #2 rewrites notes for 3 s; a read of
    accounts that began waiting during #2 waits for #1's lock, held to COMMIT."""
    first = step(1, "migrate", 110.0, 110.005, "ALTER TABLE accounts ADD COLUMN algo text", txn=9,
                 locks=ACCOUNTS_AE)
    second = step(2, "migrate", 110.005, 113.0, "ALTER TABLE notes ADD COLUMN uid uuid DEFAULT gen_random_uuid()",
                  txn=9, locks=NOTES_AE)
    waits = [lock(111.5, 601, 1.0, [MIGRATION_PID], MIGRATION_PID, "migrate", relation="accounts",
                  mode="AccessShareLock"),
             lock(112.0, 602, 1.5, [MIGRATION_PID], MIGRATION_PID, "migrate", relation="notes",
                  mode="RowExclusiveLock")]
    rows = by_seq(analysis.statement_table(frames(baseline_requests(), waits, [first, second], TIMELINE)))
    assert (rows[1].blocked_backends, rows[1].blamed_waits, rows[1].max_wait_ms) == (1, 1, 1000.0)
    assert rows[2].blocked_backends == 1 and rows[2].blamed_waits == 0, "the notes wait is #2's own"
    assert rows[1].held_ms == 3000.0, "held from its start to the transaction's end"


def test_lock_modes_conflict_as_postgresql_says() -> None:
    assert analysis.conflicts("AccessExclusiveLock", "AccessShareLock")
    assert analysis.conflicts("ShareLock", "RowExclusiveLock")
    assert not analysis.conflicts("ShareUpdateExclusiveLock", "RowExclusiveLock")
    assert not analysis.conflicts("RowExclusiveLock", "RowExclusiveLock")


# --- lock order ------------------------------------------------------------------------------------------------


def _service(*transactions: list[tuple[float, str]]) -> list[dict]:
    rows = []
    for pid, locks in enumerate(transactions, start=700):
        for at, text in locks:
            rows.append({"sampled_at": at, "pid": pid, "application": "notes-1.0", "xact_start": 1.0,
                         "locks": [text]})
    return rows


MIGRATION = [step(1, "migrate", 110.0, 110.01, "ALTER TABLE accounts ADD c int", txn=5, locks=ACCOUNTS_AE),
             step(2, "migrate", 110.01, 111.0, "ALTER TABLE notes ADD d int", txn=5, locks=NOTES_AE)]


def test_the_service_locking_the_other_way_round_is_a_deadlock_risk() -> None:
    service = _service([(1.00, "notes RowExclusiveLock"), (1.02, "accounts RowExclusiveLock")],
                       [(2.00, "notes RowExclusiveLock"), (2.04, "accounts RowExclusiveLock")])
    (risk,) = lock_order_risks(_steps(*MIGRATION), ["migrate"], service)
    assert risk.tables == ["accounts", "notes"] and risk.app_transactions == 2
    assert risk.migration_order == ["AccessExclusiveLock accounts (#1 ALTER TABLE accounts ADD c int)",
                                    "AccessExclusiveLock notes (#2 ALTER TABLE notes ADD d int)"]
    assert risk.app_order == ["RowExclusiveLock notes", "RowExclusiveLock accounts"]


def test_the_same_order_or_locks_seen_together_are_no_risk() -> None:
    same = _service([(1.00, "accounts RowExclusiveLock"), (1.02, "notes RowExclusiveLock")])
    assert lock_order_risks(_steps(*MIGRATION), ["migrate"], same) == []
    together = _service([(1.00, "notes RowExclusiveLock"), (1.00, "accounts RowExclusiveLock")])
    assert app_orders(together) == {}, "taken within one sample: no order is known"


def test_locks_that_do_not_conflict_are_no_risk() -> None:
    weak = [step(1, "migrate", 110.0, 110.01, "COMMENT ON TABLE accounts IS 'x'", txn=5,
                 locks=[{"mode": "ShareUpdateExclusiveLock", "relation": "accounts", "is_index": False}]),
            MIGRATION[1]]
    service = _service([(1.00, "notes RowExclusiveLock"), (1.02, "accounts RowExclusiveLock")])
    assert lock_order_risks(_steps(*weak), ["migrate"], service) == []


# --- rewrites of a command's statements ------------------------------------------------------------------------


def test_each_rewrite_goes_to_the_statement_that_made_it_and_indexes_follow_their_table() -> None:
    statements = [{"sql": "ALTER TABLE accounts ADD COLUMN a text NOT NULL DEFAULT 'x'", "locks": ACCOUNTS_AE},
                  {"sql": "ALTER TABLE notes ADD COLUMN uid uuid NOT NULL DEFAULT uuid_generate_v4()",
                   "locks": NOTES_AE},
                  {"sql": "VACUUM FULL audit", "locks": []}]
    left = attribute_rewrites(statements, [
        {"relation": "notes", "is_index": False, "table": None},
        {"relation": "notes_slug_key", "is_index": True, "table": "notes"},
        {"relation": "audit", "is_index": False, "table": None},
        {"relation": "other", "is_index": False, "table": None}])
    assert [s["rewrites"] for s in statements] == [None, ["notes", "notes_slug_key (index)"], ["audit"]]
    assert left == ["other"]


# --- repeat ----------------------------------------------------------------------------------------------------


def test_the_outcomes_of_one_run_of_a_repeat() -> None:
    summary = {"verdict": "fail", "statements": [
        {"origin": "command", "phase": "upgrade", "error": "exit code 1", "sqlstate": "40P01"},
        {"origin": "traced", "phase": "upgrade", "error": "deadlock detected", "sqlstate": "40P01"}],
        "errors": [{"phase": "upgrade", "sqlstate": "55P03", "cause": "statements", "errors": 3}],
        "gates": [{"name": "error_rate <= 0.01", "passed": False}, {"name": "p99_ms <= 1", "passed": True}],
        "lock_order_risks": [{"tables": ["a", "b"]}]}
    assert outcomes_of(summary) == ["verdict fail", "migration failed (40P01) in upgrade",
                                    "deadlock killed the migration", "requests failed in the migration phases",
                                    "gate failed: error_rate <= 0.01", "lock-order risk flagged"]


def test_a_bookkeeping_statement_is_chatter_even_with_locks_its_transaction_took_before_it() -> None:
    toast = [{"mode": "AccessExclusiveLock", "relation": "pg_toast.pg_toast_16452", "is_index": False}]
    own = [{"mode": "AccessExclusiveLock", "relation": "alembic_version", "is_index": False}]
    statements = [
        step(1, "migrate", 101.0, 101.001, "UPDATE alembic_version SET version_num='r2'", txn=9, origin="traced",
             locks=toast),  # first sampled here: the ALTER before it was too quick to be seen
        step(2, "migrate", 101.1, 101.101, "UPDATE alembic_version SET version_num='r1'", txn=9, origin="traced",
             locks=own),
    ]
    rows = by_seq(analysis.statement_table(frames(baseline_requests(), [], statements, TIMELINE)))
    assert rows[1].chatter, "a lock on a table it does not name is not its own"
    assert not rows[2].chatter, "ACCESS EXCLUSIVE on its own table is worth showing"


def test_a_lock_first_seen_during_bookkeeping_goes_to_the_tool_statement_before_it() -> None:
    from harness.result.frames import with_sampled_locks

    logged = [{"pid": 7, "sql": "DROP INDEX notes_account_id_idx", "started": 10.000, "ended": 10.001},
              {"pid": 7, "sql": "UPDATE alembic_version SET version_num='r3' WHERE alembic_version.version_num = 'r4'",
               "started": 10.002, "ended": 10.003},
              {"pid": 7, "sql": "ALTER TABLE notes DROP CONSTRAINT notes_pkey", "started": 10.004, "ended": 10.005}]
    notes = {"mode": "AccessExclusiveLock", "relation": "notes", "is_index": False}
    version = {"mode": "RowExclusiveLock", "relation": "alembic_version", "is_index": False}
    sampled = [{"pid": 7, "sql": logged[1]["sql"], "started": 10.002, "txn": "7:9.999", "locks": [notes, version]}]
    drop, update, _ = with_sampled_locks(logged, sampled)
    assert drop["locks"] == [notes], "DROP INDEX locks the table it does not name: the bookkeeping did not"
    assert update["locks"] == [version] and drop["txn"] == update["txn"] == "7:9.999"


def test_a_wait_whose_root_went_idle_between_the_two_queries_is_being_granted() -> None:
    from harness.observe.locks import chain_rows

    def waiter(pid: int, blocked_by: list[int], locktype: str = "relation") -> dict:
        return {"pid": pid, "blocked_by": blocked_by, "locktype": locktype, "application_name": "x"}

    blockers = {1: {"pid": 1, "state": "idle", "application_name": "rehearse-contention", "query": "COMMIT"},
                2: {"pid": 2, "state": "idle in transaction", "application_name": "rehearse-contention",
                    "query": "SELECT 1"}}
    rows = chain_rows([waiter(10, [1]), waiter(11, [10]), waiter(12, [2]), waiter(13, [1], "advisory")], blockers)
    assert [(r["pid"], r["root_blocker"], r["root_state"]) for r in rows] == [
        (12, 2, "idle in transaction"), (13, 1, "idle")], "1 committed: 10 and the one queued behind it get through"
