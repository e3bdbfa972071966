"""Predictions against a real server: for each corpus case, the locks PostgreSQL took and what it rewrote.

A case's prediction is made on its setup followed by the statement (as if both were one migration file), so
what the setup declares (indexes, foreign keys, column types) informs it. Compared:
- every predicted relation: the strongest mode observed equals the predicted one;
- every table that existed before and was locked: it is predicted (nothing strong goes unseen);
- predicted rewrites == relations whose relfilenode changed, among the tables that existed before and the
  relations the prediction names (a rewritten table's indexes change too; they are only counted if named).
Locks are read by relation OID and named from the catalog as it was before the statement, so a relation the
statement drops is still recognised.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg
import pytest

from harness.lint.predict import ACCESS_SHARE, LOCK_MODES, StatementPrediction, lock_rank, predict_sql

try:
    from .corpus import CORPUS, Case
except ImportError:  # tests/lint is not a package
    from corpus import CORPUS, Case  # type: ignore[no-redef]

CATALOG = """
SELECT c.oid::int8, c.relname, c.relkind, c.relfilenode::int8 FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace
"""
OWN_LOCKS = """
SELECT relation::int8, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
THEIR_LOCKS = """
SELECT l.relation::int8, l.mode, a.wait_event_type FROM pg_stat_activity a
LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
WHERE a.pid = %s
"""
TABLE_KINDS = ("r", "p", "m")


@dataclass
class Catalog:
    """pg_class rows of the public schema: oid -> (name, relkind, relfilenode)."""

    rows: dict[int, tuple[str, str, int]]

    @classmethod
    def read(cls, conn: psycopg.Connection) -> Catalog:
        return cls({oid: (name, kind, node) for oid, name, kind, node in conn.execute(CATALOG).fetchall()})

    def by_name(self) -> dict[str, tuple[str, int]]:
        return {name: (kind, node) for name, kind, node in self.rows.values()}


@dataclass
class Observation:
    """What the server did: strongest mode per relation, and the relations whose relfilenode changed."""

    locks: dict[str, str]
    rewritten: set[str]
    tables_before: set[str]


def _strongest(pairs: list[tuple[int, str]], before: Catalog, after: Catalog) -> dict[str, str]:
    locks: dict[str, str] = {}
    for oid, mode in pairs:
        row = before.rows.get(oid) or after.rows.get(oid)
        if row is None or mode not in LOCK_MODES:
            continue  # catalogs, toast tables, transient heaps of a rewrite
        name = row[0]
        if name not in locks or lock_rank(mode) > lock_rank(locks[name]):
            locks[name] = mode
    return locks


def _observation(pairs: list[tuple[int, str]], before: Catalog, after: Catalog) -> Observation:
    old, new = before.by_name(), after.by_name()
    changed = {name for name, (_, node) in old.items() if name in new and new[name][1] != node}
    tables = {name for name, (kind, _) in old.items() if kind in TABLE_KINDS}
    return Observation(_strongest(pairs, before, after), changed, tables)


def _fresh_schema(conn: psycopg.Connection, setup: str) -> None:
    conn.execute("DROP SCHEMA public CASCADE")
    conn.execute("CREATE SCHEMA public")
    conn.execute(setup)


def observe_in_transaction(dsn: str, case: Case) -> Observation:
    """Run the statement inside BEGIN .. ROLLBACK and read this session's locks before rolling back."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        _fresh_schema(conn, case.setup)
        before = Catalog.read(conn)
        conn.execute("BEGIN")
        try:
            conn.execute(case.statement)
            pairs = [(int(oid), str(mode)) for oid, mode in conn.execute(OWN_LOCKS).fetchall()]
            after = Catalog.read(conn)
        finally:
            conn.execute("ROLLBACK")
    return _observation(pairs, before, after)


def observe_outside(dsn: str, case: Case) -> Observation:
    """Run the statement on its own connection while polling its locks; release blockers as it stalls."""
    with psycopg.connect(dsn, autocommit=True) as monitor, psycopg.connect(dsn, autocommit=True) as runner:
        _fresh_schema(monitor, case.setup)
        before = Catalog.read(monitor)
        blockers = [psycopg.connect(dsn, autocommit=True) for _ in case.blockers]
        try:
            for conn, sql in zip(blockers, case.blockers, strict=True):
                conn.execute("BEGIN")
                conn.execute(sql)
            pairs, stalls = _poll_while_running(monitor, runner, case.statement, blockers)
        finally:
            for conn in blockers:
                conn.close()
        after = Catalog.read(monitor)
    assert stalls == len(case.blockers), f"{case.name}: stalled {stalls} time(s), expected {len(case.blockers)}"
    return _observation(pairs, before, after)


def _poll_while_running(monitor: psycopg.Connection, runner: psycopg.Connection, statement: str,
                        blockers: list[psycopg.Connection]) -> tuple[list[tuple[int, str]], int]:
    pid, errors = runner.info.backend_pid, []

    def run() -> None:
        try:
            runner.execute(statement)
        except Exception as error:  # reported by the caller
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    pairs: list[tuple[int, str]] = []
    stalls = waiting = 0
    deadline = time.monotonic() + 60
    while thread.is_alive() and time.monotonic() < deadline:
        rows = monitor.execute(THEIR_LOCKS, (pid,)).fetchall()
        pairs += [(int(oid), str(mode)) for oid, mode, _ in rows if oid is not None]
        waiting = waiting + 1 if rows and rows[0][2] == "Lock" else 0
        if waiting >= 5 and stalls < len(blockers):
            blockers[stalls].execute("ROLLBACK")  # let it go on to its next step
            stalls, waiting = stalls + 1, 0
        time.sleep(0.002)
    for conn in blockers[stalls:]:
        conn.execute("ROLLBACK")
    thread.join(30)
    if errors:
        raise errors[0]
    return pairs, stalls


def predict_case(case: Case) -> StatementPrediction:
    """The prediction for a case's statement, made with its setup as earlier statements of the file."""
    return predict_sql(f"{case.setup}\n;\n{case.statement}")[-1]


def differences(prediction: StatementPrediction, observed: Observation) -> list[str]:
    """Every way the prediction and the observation disagree."""
    problems = [f"{rel}: predicted {mode}, observed {observed.locks.get(rel)}"
                for rel, mode in sorted(prediction.locks.items()) if observed.locks.get(rel) != mode]
    problems += [f"{rel}: observed {mode}, not predicted" for rel, mode in sorted(observed.locks.items())
                 if rel in observed.tables_before and rel not in prediction.locks and mode != ACCESS_SHARE]
    universe = observed.tables_before | set(prediction.locks) | prediction.rewrites
    rewritten = observed.rewritten & universe
    if prediction.rewrites != rewritten:
        problems.append(f"rewrites: predicted {sorted(prediction.rewrites)}, observed {sorted(rewritten)}")
    return problems


def test_corpus_is_broad() -> None:
    kinds = {predict_case(case).kind for case in CORPUS}
    assert len(CORPUS) >= 15 and len(kinds) >= 15, sorted(kinds)


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_prediction_matches_server(lint_pg_dsn: str, case: Case) -> None:
    prediction = predict_case(case)
    observe = observe_outside if case.how == "outside" else observe_in_transaction
    observed = observe(lint_pg_dsn, case)
    assert differences(prediction, observed) == [], (
        f"{case.statement}\n  predicted locks={prediction.locks} rewrites={sorted(prediction.rewrites)}"
        f"\n  observed  locks={observed.locks} rewrites={sorted(observed.rewritten)}")
