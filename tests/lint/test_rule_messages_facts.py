"""The exact words of the rules that need table facts, and of every message once facts are known: severity by
duration class (a long hold is a danger, a short one a warning), the estimate line, the table of an index.
Snapshots by syrupy; review a changed text, then `python -m pytest tests/lint/test_rule_messages_facts.py
--snapshot-update`. test_messages.py checks that every rule has a test here or there.

The facts are hand-built (as a rehearsal's streams/table_facts.json would hold them): `orders` is big and
used by the load, `customers` small and used, `archive` big and untouched."""

from __future__ import annotations

import pytest

from harness.lint import lint_sql
from harness.lint.context import LintContext
from harness.lint.facts import Facts, TableFacts

TIMEOUT = "SET lock_timeout = '2s';\n"
MB = 2**20

FACTS = Facts(source="hand-built", tables={
    "orders": TableFacts(name="orders", schema="public", rows=1_000_000, table_bytes=90 * MB, index_bytes=20 * MB,
                         columns={"id": "bigint", "customer_id": "integer", "status": "character varying(10)",
                                  "total": "numeric(10,2)", "note": "text", "placed": "timestamp without time zone"},
                         indexes={"orders_pkey": ["id"], "orders_status_idx": ["status"]}, unique=["orders_pkey"],
                         touched=True),
    "customers": TableFacts(name="customers", schema="public", rows=100, table_bytes=16384, index_bytes=16384,
                            columns={"id": "integer", "name": "text", "tier": "integer"},
                            indexes={"customers_pkey": ["id"]}, unique=["customers_pkey"], touched=True),
    "archive": TableFacts(name="archive", schema="public", rows=1_000_000, table_bytes=90 * MB, index_bytes=0,
                          columns={"id": "bigint", "body": "text"}, touched=False),
}, settings={"TimeZone": "UTC"})
WITH_FACTS = LintContext(facts=FACTS)


def found(sql: str, context: LintContext = WITH_FACTS) -> list[tuple[object, ...]]:
    return [(f.rule, f.severity, f.line, f.message, f.safer, f.estimate) for f in lint_sql(sql, context=context)]


def findings(rule: str, *sqls: str, context: LintContext = WITH_FACTS) -> list[dict[str, object]]:
    """Every finding of each SQL text, after checking that `rule` is among them."""
    results = []
    for sql in sqls:
        rows = found(sql, context)
        assert rule in {row[0] for row in rows}, f"{rule} does not fire on {sql!r}"
        results.append({"sql": sql, "findings": rows})
    return results


def test_whole_table_dml(snapshot) -> None:
    without_facts = findings("whole-table-dml", TIMEOUT + "UPDATE orders SET note = ''", context=LintContext())
    assert without_facts[0]["findings"][0][1] == "danger"
    with_facts = findings("whole-table-dml",
                          TIMEOUT + "UPDATE orders SET total = total + 1 WHERE note IS NULL",
                          TIMEOUT + "DELETE FROM orders WHERE status = 'gone'",
                          TIMEOUT + "UPDATE customers SET tier = 0")
    assert [r["findings"][0][1] for r in with_facts] == ["danger", "danger", "warning"]
    assert without_facts + with_facts == snapshot


@pytest.mark.parametrize("sql", [
    "UPDATE orders SET note = '' WHERE id BETWEEN 1 AND 10000",
    "UPDATE orders SET note = '' WHERE id >= 1 AND id < 10000 AND note IS NULL",
    "DELETE FROM orders WHERE id IN (1, 2, 3)",
    "UPDATE orders SET note = '' WHERE id = 7 OR id = 9",
])
def test_with_facts_a_key_range_is_a_batch(sql: str) -> None:
    assert found(TIMEOUT + sql) == []


def test_lock_queue_trap(snapshot) -> None:
    trap = findings("lock-queue-trap",
                    "ALTER TABLE orders ADD COLUMN shipped_at timestamptz",
                    "SET lock_timeout = 0;\nDROP INDEX orders_status_idx")
    assert {row[1] for r in trap for row in r["findings"] if row[0] == "lock-queue-trap"} == {"danger"}
    assert all(row[0] != "missing-lock-timeout" for r in trap for row in r["findings"]), "one finding, not two"
    assert trap == snapshot


def test_with_facts_the_trap_needs_a_table_the_load_touches_and_no_lock_timeout() -> None:
    untouched = found("ALTER TABLE archive ADD COLUMN seen boolean")
    assert [(row[0], row[1]) for row in untouched] == [("missing-lock-timeout", "warning")]
    assert found(TIMEOUT + "ALTER TABLE orders ADD COLUMN shipped_at timestamptz") == []
    assert found("ALTER TABLE orders ADD COLUMN x int", LintContext(FACTS, lock_timeout=True)) == [], \
        "the runner's lock_timeout covers it"
    reset = found("SET lock_timeout = 0;\nALTER TABLE orders ADD COLUMN x int", LintContext(FACTS, lock_timeout=True))
    assert [row[0] for row in reset] == ["lock-queue-trap"], "the file turns the runner's lock_timeout off"
    assert [row[0] for row in found("ALTER TABLE orders ADD COLUMN x int", LintContext())] == [
        "missing-lock-timeout"], "without facts: today's warning"


def test_with_facts_severity_follows_the_duration_class(snapshot) -> None:
    cases = {
        "rewrite, big": "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()",
        "rewrite, small": "ALTER TABLE customers ADD COLUMN token uuid DEFAULT gen_random_uuid()",
        "type, big": "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint",
        "type, small": "ALTER TABLE customers ALTER COLUMN tier TYPE bigint",
        "scan, big": "ALTER TABLE orders ALTER COLUMN status SET NOT NULL",
        "check, big": "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0)",
        "foreign key, big": "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
                            "REFERENCES customers (id)",
        "index, big": "CREATE INDEX orders_note_idx ON orders (note)",
        "index, small": "CREATE INDEX customers_name_idx ON customers (name)",
        "unique, big": "ALTER TABLE orders ADD CONSTRAINT orders_note_key UNIQUE (note)",
        "vacuum full, small": "VACUUM FULL customers",
        "backfill, small": "BEGIN;\nALTER TABLE customers ADD COLUMN vip boolean;\nUPDATE customers SET vip = false;\n"
                           "COMMIT",
        "backfill, big": "BEGIN;\nALTER TABLE orders ADD COLUMN flag boolean;\nUPDATE orders SET flag = false;\n"
                         "COMMIT",
        "drop index": "DROP INDEX orders_status_idx",
        "reindex, big": "REINDEX TABLE orders",
    }
    results = {name: found(TIMEOUT + sql) for name, sql in cases.items()}
    dangers = {name for name, rows in results.items() if any(row[1] == "danger" for row in rows)}
    assert dangers == {"rewrite, big", "type, big", "index, big", "unique, big", "backfill, big", "reindex, big"}
    assert results == snapshot


@pytest.mark.parametrize("sql", [
    "ALTER TABLE orders ALTER COLUMN status TYPE varchar(20)",
    "ALTER TABLE orders ALTER COLUMN status TYPE text",
    "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)",
    "ALTER TABLE orders ALTER COLUMN note TYPE varchar",
    "ALTER TABLE orders ALTER COLUMN placed TYPE timestamptz",  # free when TimeZone is UTC
])
def test_with_facts_catalog_only_type_changes_are_not_rewrites(sql: str) -> None:
    assert found(TIMEOUT + sql) == []


def test_with_facts_unknown_old_type_is_a_warning_not_a_rewrite(snapshot) -> None:
    """Without facts the old type of status is unknown: widening to text may be free, so it is not a danger."""
    rows = findings("alter-column-type", TIMEOUT + "ALTER TABLE orders ALTER COLUMN status TYPE text",
                    TIMEOUT + "ALTER TABLE orders ALTER COLUMN status TYPE varchar(20)", context=LintContext())
    assert {row[1] for r in rows for row in r["findings"]} == {"warning"}
    shrink = found(TIMEOUT + "ALTER TABLE orders ALTER COLUMN status TYPE varchar(5)")
    assert [(row[0], row[1]) for row in shrink] == [("alter-column-type", "danger")], "shrinking checks every row"
    assert rows == snapshot
