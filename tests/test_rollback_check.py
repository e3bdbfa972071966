"""The rollback check on a real server: a lost row, a changed row, a schema difference."""

from __future__ import annotations

from dataclasses import asdict

import psycopg
import pytest

from harness.core.database import Database
from harness.verify.data import TableProblem
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


def _rekey(database: Database) -> None:
    """An upgrade that gives every account a uuid key, and a rollback that numbers them again (new ids)."""
    _sql(database, "ALTER TABLE accounts ADD COLUMN uid uuid DEFAULT gen_random_uuid() NOT NULL",
         "ALTER TABLE accounts DROP CONSTRAINT accounts_pkey", "ALTER TABLE accounts DROP COLUMN id",
         "ALTER TABLE accounts ADD PRIMARY KEY (uid)",
         "UPDATE accounts SET password_hash = 'bf$' || password_hash, updated_at = now() WHERE email LIKE 'a1%'")
    # the rollback: integer keys again, in another order
    _sql(database, "ALTER TABLE accounts DROP CONSTRAINT accounts_pkey",
         "ALTER TABLE accounts ADD COLUMN id int", "UPDATE accounts SET id = 1000 - n FROM "
         "(SELECT uid AS u, row_number() OVER (ORDER BY email) AS n FROM accounts) r WHERE r.u = uid",
         "ALTER TABLE accounts DROP COLUMN uid", "ALTER TABLE accounts ADD PRIMARY KEY (id)")


def _accounts(database: Database) -> None:
    _sql(database, "CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE, password_hash text, "
                   "updated_at timestamptz DEFAULT '2020-01-01')",
         "INSERT INTO accounts (id, email, password_hash) SELECT g, 'a' || g || '@example.test', md5(g::text) "
         "FROM generate_series(1, 200) g")


def test_rows_whose_keys_the_upgrade_rewrote_read_as_lost_by_primary_key(database: Database) -> None:
    _accounts(database)
    check = RollbackCheck(database, ["accounts"])
    check.before_upgrade()
    _rekey(database)
    check.after_rollback()
    baseline = _changes(check, "accounts", "baseline")
    assert baseline["key_columns"] == ["id"] and baseline["lost"] > 100, "matched by id, every renumbered row is lost"


def test_a_natural_key_matches_rekeyed_rows_and_names_the_changed_columns(database: Database) -> None:
    _accounts(database)
    check = RollbackCheck(database, ["accounts"], keys={"accounts": ["email"]})
    check.before_upgrade()
    _rekey(database)
    check.after_rollback()
    baseline = _changes(check, "accounts", "baseline")
    assert baseline["key_columns"] == ["email"] and baseline["lost"] == 0
    assert baseline["changed"] == 200
    rehashed = 1 + 10 + 100  # a1, a10..a19, a100..a199
    assert baseline["changed_columns"] == {"id": 200, "password_hash": rehashed, "updated_at": rehashed}
    assert "a1@example.test" in baseline["column_examples"]["password_hash"]


def test_ignored_columns_are_not_compared(database: Database) -> None:
    _accounts(database)
    check = RollbackCheck(database, ["accounts"], keys={"accounts": ["email"]},
                          ignore={"accounts": ["id", "updated_at"]})
    check.before_upgrade()
    _rekey(database)
    check.after_rollback()
    baseline = _changes(check, "accounts", "baseline")
    assert baseline["changed_columns"] == {"password_hash": 111} and baseline["changed"] == 111
    assert not check.safe, "rehashed passwords are left behind: the rollback is not safe"


def test_a_natural_key_that_is_not_unique_is_a_table_problem(database: Database) -> None:
    _accounts(database)
    _sql(database, "ALTER TABLE accounts DROP CONSTRAINT accounts_email_key",
         "UPDATE accounts SET email = 'same@example.test' WHERE id < 3")
    check = RollbackCheck(database, ["accounts"], keys={"accounts": ["email"]})
    with pytest.raises(TableProblem, match="not unique .* rollback.keys"):
        check.before_upgrade()
