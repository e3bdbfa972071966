"""The rollback check on a real server: a lost row, a changed row, a schema difference."""

from __future__ import annotations

from dataclasses import asdict

import psycopg

from harness.core.database import Database
from harness.verify.rollback import RollbackCheck


def _sql(database: Database, *statements: str) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _changes(check: RollbackCheck, table: str, compared_with: str) -> dict:
    (found,) = [c for c in check.result().data_changes if c.table == table and c.compared_with == compared_with]
    return asdict(found)


def test_clean_rollback_is_safe(database: Database) -> None:
    _sql(database, "CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL)",
         "INSERT INTO orders SELECT g, g FROM generate_series(1, 1000) g")
    check = RollbackCheck(database, ["orders"])
    check.before_upgrade()
    _sql(database, "ALTER TABLE orders ADD COLUMN currency text DEFAULT 'EUR'",
         "INSERT INTO orders (id, total, currency) VALUES (5000, 1, 'USD')")
    check.before_rollback()
    _sql(database, "ALTER TABLE orders DROP COLUMN currency")
    check.after_rollback()
    assert check.safe, check.result()
    assert check.result().schema_diff == []


def test_lost_rows_changed_rows_and_schema_difference_are_reported(database: Database) -> None:
    _sql(database, "CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL, note text)",
         "INSERT INTO orders SELECT g, g, 'n' FROM generate_series(1, 1000) g")
    check = RollbackCheck(database, ["orders"])
    check.before_upgrade()
    # written during the upgrade window, acknowledged, then lost by the rollback:
    _sql(database, "INSERT INTO orders VALUES (2001, 7, 'mid-upgrade'), (2002, 8, 'mid-upgrade')")
    check.before_rollback()
    _sql(database, "DELETE FROM orders WHERE id IN (17, 2001)", "UPDATE orders SET total = -1 WHERE id = 42",
         "CREATE INDEX orders_total_idx ON orders (total)")
    check.after_rollback()

    assert not check.safe
    result = check.result()
    assert result.schema_diff == ["+ index public.orders_total_idx: "
                                     "CREATE INDEX orders_total_idx ON public.orders USING btree (total)"]
    baseline = _changes(check, "orders", "baseline")
    assert (baseline["lost"], baseline["changed"]) == (1, 1)
    assert baseline["examples"] == {"lost": ["17"], "changed": ["42"]}
    before_rollback = _changes(check, "orders", "before_rollback")
    assert before_rollback["lost"] == 2 and before_rollback["lost_written_during_upgrade"] == 1
    assert sorted(before_rollback["examples"]["lost"]) == ["17", "2001"]


def test_a_dropped_column_counts_as_missing(database: Database) -> None:
    _sql(database, "CREATE TABLE customers (id int PRIMARY KEY, email text)",
         "INSERT INTO customers VALUES (1, 'a@example.test')")
    check = RollbackCheck(database, ["customers"])
    check.before_upgrade()
    _sql(database, "ALTER TABLE customers DROP COLUMN email")
    check.before_rollback()
    _sql(database, "ALTER TABLE customers ADD COLUMN email text")
    check.after_rollback()
    assert not check.safe
    assert "- column public.customers.email text" not in check.result().schema_diff  # same shape came back
    assert _changes(check, "customers", "baseline")["changed"] == 1, "the email values did not come back"
