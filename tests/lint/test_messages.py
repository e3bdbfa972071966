"""The exact words of every lint rule: message and safer text, fixed by syrupy snapshots (as squawk's insta
snapshots do). One test per rule, named after it; each lints statements on tables the file did not create
(`orders`, `customers`), with lock_timeout set unless the rule is about it. A changed text fails here: review
the new wording, then `python -m pytest tests/lint/test_messages.py --snapshot-update`."""

from __future__ import annotations

import sys

from harness.lint import RULES, lint_sql

TIMEOUT = "SET lock_timeout = '2s';\n"


def findings(rule: str, *sqls: str) -> list[dict[str, object]]:
    """Every finding of each SQL text (whatever rule), after checking that `rule` is among them."""
    results: list[dict[str, object]] = []
    for sql in sqls:
        found = lint_sql(sql)
        assert rule in {f.rule for f in found}, f"{rule} does not fire on {sql!r}"
        results.append({"sql": sql, "findings": [(f.rule, f.severity, f.line, f.message, f.safer) for f in found]})
    return results


def test_non_concurrent_index(snapshot) -> None:
    assert findings("non-concurrent-index",
                    TIMEOUT + "CREATE INDEX orders_status_idx ON orders (status)",
                    TIMEOUT + "DROP INDEX orders_status_idx",
                    TIMEOUT + "REINDEX INDEX orders_status_idx",
                    TIMEOUT + "REINDEX TABLE orders") == snapshot


def test_constraint_without_not_valid(snapshot) -> None:
    assert findings("constraint-without-not-valid",
                    TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
                              "REFERENCES customers (id)",
                    TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0)") == snapshot


def test_set_not_null(snapshot) -> None:
    assert findings("set-not-null", TIMEOUT + "ALTER TABLE orders ALTER COLUMN status SET NOT NULL") == snapshot


def test_add_column_rewrite(snapshot) -> None:
    assert findings("add-column-rewrite",
                    TIMEOUT + "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()",
                    TIMEOUT + "ALTER TABLE orders ADD COLUMN n bigserial",
                    TIMEOUT + "ALTER TABLE orders ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY",
                    TIMEOUT + "ALTER TABLE orders ADD COLUMN doubled numeric GENERATED ALWAYS AS (total * 2) STORED",
                    ) == snapshot


def test_alter_column_type(snapshot) -> None:
    assert findings("alter-column-type", TIMEOUT + "ALTER TABLE orders ALTER COLUMN id TYPE bigint") == snapshot


def test_unique_without_index(snapshot) -> None:
    assert findings("unique-without-index",
                    TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE (code)",
                    TIMEOUT + "ALTER TABLE orders ADD PRIMARY KEY (id)") == snapshot


def test_statements_after_exclusive_lock(snapshot) -> None:
    assert findings("statements-after-exclusive-lock",
                    TIMEOUT + "BEGIN;\nALTER TABLE orders ADD COLUMN note text;\n"
                              "CREATE TABLE order_notes (id bigint PRIMARY KEY, note text);\nCOMMIT") == snapshot


def test_backfill_in_ddl_transaction(snapshot) -> None:
    assert findings("backfill-in-ddl-transaction",
                    TIMEOUT + "BEGIN;\nCREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW "
                              "EXECUTE FUNCTION touch();\nUPDATE orders SET note = '' WHERE note IS NULL;\nCOMMIT",
                    ) == snapshot


def test_concurrently_in_transaction(snapshot) -> None:
    assert findings("concurrently-in-transaction",
                    TIMEOUT + "BEGIN;\nCREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);\nCOMMIT",
                    TIMEOUT + "BEGIN;\nVACUUM orders;\nCOMMIT") == snapshot


def test_vacuum_full_or_cluster(snapshot) -> None:
    assert findings("vacuum-full-or-cluster",
                    TIMEOUT + "VACUUM FULL orders",
                    TIMEOUT + "CLUSTER orders USING orders_pkey") == snapshot


def test_rename(snapshot) -> None:
    assert findings("rename",
                    TIMEOUT + "ALTER TABLE orders RENAME COLUMN status TO state",
                    TIMEOUT + "ALTER TABLE orders RENAME TO purchases") == snapshot


def test_missing_lock_timeout(snapshot) -> None:
    assert findings("missing-lock-timeout",
                    "ALTER TABLE orders ADD COLUMN note text",
                    "ALTER TABLE orders ADD COLUMN note text;\nALTER TABLE customers ADD COLUMN tier int") == snapshot


def test_every_rule_has_a_message_test() -> None:
    from . import test_rule_messages_facts  # the rules that need table facts, and messages made with them

    tested = {name.removeprefix("test_") for module in (sys.modules[__name__], test_rule_messages_facts)
              for name in dir(module) if name.startswith("test_") and not name.startswith("test_every_")
              and not name.startswith("test_with_facts_")}
    rules = {rule.name.replace("-", "_") for rule in RULES}
    assert len(rules) == 14
    assert tested == rules, f"untested rules: {sorted(rules - tested)}; tests without a rule: {sorted(tested - rules)}"
