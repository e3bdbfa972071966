"""Per-statement predictions, without a server: kinds, locks, rewrites, transactions, positions."""

from __future__ import annotations

import pytest

from harness.lint import LintInputError, StatementPrediction, predict_sql
from harness.lint.predict import SqlSyntaxError, analyze_sql, type_change_rewrites, volatile_call

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers (id), status varchar(10),
                     total numeric(10, 2));
CREATE INDEX orders_status ON orders (status);
"""

AE, SHARE, SUE, SRE = "AccessExclusiveLock", "ShareLock", "ShareUpdateExclusiveLock", "ShareRowExclusiveLock"
RX, RS, AS = "RowExclusiveLock", "RowShareLock", "AccessShareLock"


def last(sql: str, schema: str = "") -> StatementPrediction:
    return predict_sql(f"{schema}\n{sql}")[-1]


@pytest.mark.parametrize(("sql", "kind", "locks", "rewrites"), [
    ("SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id", "SELECT",
     {"orders": AS, "customers": AS}, set()),
    ("WITH recent AS (SELECT * FROM orders) SELECT * FROM recent", "SELECT", {"orders": AS}, set()),
    ("SELECT * FROM orders WHERE id = 1 FOR UPDATE", "SELECT", {"orders": RS}, set()),
    ("UPDATE orders SET status = 'x' FROM customers WHERE customers.id = orders.customer_id", "UPDATE",
     {"orders": RX, "customers": AS}, set()),
    ("INSERT INTO customers SELECT id, 'x' FROM orders", "INSERT SELECT", {"customers": RX, "orders": AS}, set()),
    ("DELETE FROM public.Orders WHERE id = 1", "DELETE", {"orders": RX}, set()),
    ("CREATE INDEX orders_total ON orders (total)", "CREATE INDEX", {"orders": SHARE}, set()),
    ("CREATE INDEX CONCURRENTLY orders_total ON orders (total)", "CREATE INDEX", {"orders": SUE}, set()),
    ("DROP INDEX idx_unknown", "DROP INDEX", {"idx_unknown": AE}, set()),
    ("DROP INDEX CONCURRENTLY idx_unknown", "DROP INDEX", {"idx_unknown": AE}, set()),
    ("REINDEX INDEX idx_unknown", "REINDEX", {"idx_unknown": AE}, {"idx_unknown"}),
    ("ALTER TABLE orders ADD COLUMN note text", "ALTER TABLE ADD COLUMN", {"orders": AE}, set()),
    ("ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT now()", "ALTER TABLE ADD COLUMN", {"orders": AE},
     set()),
    ("ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT clock_timestamp()", "ALTER TABLE ADD COLUMN",
     {"orders": AE}, {"orders"}),
    ("ALTER TABLE orders ADD COLUMN d numeric GENERATED ALWAYS AS (total * 2) STORED", "ALTER TABLE ADD COLUMN",
     {"orders": AE}, {"orders"}),
    ("ALTER TABLE orders ADD COLUMN n bigserial", "ALTER TABLE ADD COLUMN", {"orders": AE}, {"orders"}),
    ("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID",
     "ALTER TABLE ADD FOREIGN KEY", {"orders": SRE, "customers": SRE}, set()),
    ("ALTER TABLE orders VALIDATE CONSTRAINT some_check", "ALTER TABLE VALIDATE CONSTRAINT", {"orders": SUE},
     set()),
    ("ALTER TABLE orders ALTER COLUMN status SET STATISTICS 500", "ALTER TABLE SET STATISTICS", {"orders": SUE},
     set()),
    ("ALTER TABLE orders SET (fillfactor = 70)", "ALTER TABLE SET OPTIONS", {"orders": SUE}, set()),
    ("ALTER TABLE orders SET (user_catalog_table = true)", "ALTER TABLE SET OPTIONS", {"orders": AE}, set()),
    ("ALTER TABLE orders ADD COLUMN a int, ALTER COLUMN status SET STATISTICS 10",
     "ALTER TABLE ADD COLUMN, SET STATISTICS", {"orders": AE}, set()),
    ("CREATE TRIGGER t BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION f()", "CREATE TRIGGER",
     {"orders": SRE}, set()),
    ("VACUUM orders", "VACUUM", {"orders": SUE}, set()),
    ("VACUUM (FULL, ANALYZE) orders", "VACUUM FULL", {"orders": AE}, {"orders"}),
    ("ANALYZE orders", "ANALYZE", {"orders": SUE}, set()),
    ("CLUSTER orders USING orders_pkey", "CLUSTER", {"orders": AE}, {"orders"}),
    ("TRUNCATE orders, customers", "TRUNCATE", {"orders": AE, "customers": AE}, {"orders", "customers"}),
    ("LOCK TABLE orders IN ROW EXCLUSIVE MODE", "LOCK TABLE", {"orders": RX}, set()),
    ("LOCK orders", "LOCK TABLE", {"orders": AE}, set()),
    ("DROP TABLE orders", "DROP TABLE", {"orders": AE}, set()),
    ("CREATE TABLE refunds (id int, order_id int REFERENCES orders (id))", "CREATE TABLE", {"orders": SRE}, set()),
    ("CREATE TABLE refunds (LIKE orders)", "CREATE TABLE", {"orders": AS}, set()),
    ("ALTER TABLE orders RENAME COLUMN status TO state", "ALTER TABLE RENAME COLUMN", {"orders": AE}, set()),
    ("ALTER INDEX orders_status RENAME TO orders_by_status", "ALTER INDEX RENAME", {"orders_status": SUE}, set()),
    ("COMMENT ON COLUMN orders.status IS 'x'", "COMMENT", {"orders": SUE}, set()),
    ("REFRESH MATERIALIZED VIEW totals", "REFRESH MATERIALIZED VIEW", {"totals": AE}, {"totals"}),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY totals", "REFRESH MATERIALIZED VIEW", {"totals": "ExclusiveLock"},
     set()),
    ("SET lock_timeout = '2s'", "SET", {}, set()),
    ("DO $$ BEGIN END $$", "DO", {}, set()),
])
def test_statement_prediction(sql: str, kind: str, locks: dict[str, str], rewrites: set[str]) -> None:
    prediction = last(sql)
    assert (prediction.kind, prediction.locks, prediction.rewrites) == (kind, locks, rewrites)


@pytest.mark.parametrize(("sql", "locks", "rewrites"), [
    # the file told us which table each index belongs to, and the foreign key
    ("DROP INDEX orders_status", {"orders": AE, "orders_status": AE}, set()),
    ("DROP INDEX CONCURRENTLY orders_status", {"orders": SUE, "orders_status": AE}, set()),
    ("REINDEX INDEX orders_status", {"orders": SHARE, "orders_status": AE}, {"orders_status"}),
    ("REINDEX TABLE orders", {"orders": SHARE, "orders_status": AE, "orders_pkey": AE},
     {"orders_status", "orders_pkey"}),
    ("REINDEX TABLE CONCURRENTLY orders", {"orders": SUE, "orders_status": AE, "orders_pkey": AE},
     {"orders_status", "orders_pkey"}),
    ("ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey", {"orders": AE, "customers": AE}, set()),
    ("ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey", {"orders": SUE, "customers": RS}, set()),
    ("DROP TABLE orders", {"orders": AE, "customers": AE}, set()),
    ("INSERT INTO orders (id, customer_id) VALUES (1, 1)", {"orders": RX, "customers": RS}, set()),
    ("INSERT INTO orders (id) VALUES (1)", {"orders": RX}, set()),
    ("UPDATE orders SET customer_id = 2", {"orders": RX, "customers": RS}, set()),
    ("UPDATE orders SET status = 'x'", {"orders": RX}, set()),
    ("DELETE FROM customers WHERE id = 1", {"customers": RX, "orders": RS}, set()),
    ("ALTER TABLE orders ALTER COLUMN status TYPE varchar(20)", {"orders": AE}, set()),
    ("ALTER TABLE orders ALTER COLUMN status TYPE text", {"orders": AE}, set()),
    ("ALTER TABLE orders ALTER COLUMN status TYPE varchar(5)", {"orders": AE}, {"orders"}),
    ("ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)", {"orders": AE}, set()),
    ("ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 3)", {"orders": AE}, {"orders"}),
    ("ALTER TABLE orders ALTER COLUMN id TYPE bigint", {"orders": AE}, {"orders"}),
    ("ALTER TABLE orders ALTER COLUMN status TYPE text USING upper(status)", {"orders": AE}, {"orders"}),
])
def test_prediction_uses_earlier_statements(sql: str, locks: dict[str, str], rewrites: set[str]) -> None:
    prediction = last(sql, SCHEMA)
    assert (prediction.locks, prediction.rewrites) == (locks, rewrites)


def test_type_change_without_known_old_type_is_uncertain_unless_it_always_rewrites() -> None:
    """Issue 14: varchar(20) from an unknown type may be a widening (catalog only): not predicted as a rewrite,
    but kept as uncertain; bigint from anything but bigint rewrites."""
    (widen,) = analyze_sql("ALTER TABLE orders ALTER COLUMN status TYPE varchar(20)")
    assert widen.prediction.rewrites == set()
    assert [r.relation for r in widen.uncertain_rewrites] == ["orders"]
    assert last("ALTER TABLE orders ALTER COLUMN id TYPE bigint").rewrites == {"orders"}


def test_transactions_concurrency_and_positions() -> None:
    sql = ("-- header\nSET lock_timeout = '1s';\n\nBEGIN;\n  /* add */ ALTER TABLE t ADD COLUMN a int;\n"
           "COMMIT;\nCREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 'é'; SELECT 2")
    statements = analyze_sql(sql)
    assert [(s.prediction.kind, s.prediction.in_transaction, s.line) for s in statements] == [
        ("SET", False, 2), ("BEGIN", True, 4), ("ALTER TABLE ADD COLUMN", True, 5), ("COMMIT", True, 6),
        ("CREATE INDEX", False, 7), ("SELECT", False, 8), ("SELECT", False, 8)]
    assert [s.prediction.index for s in statements] == list(range(7))
    assert statements[2].prediction.sql == "ALTER TABLE t ADD COLUMN a int"
    assert statements[4].prediction.concurrent and not statements[2].prediction.concurrent
    assert statements[6].prediction.sql == "SELECT 2"
    assert [s.transaction for s in statements] == [None, 1, 1, 1, None, None, None]


def test_created_relations_are_remembered() -> None:
    statements = analyze_sql("CREATE TABLE n (id int);\nCREATE INDEX n_id ON n (id);\nALTER TABLE n ADD b int")
    assert statements[0].created_before == frozenset()
    assert statements[2].created_before == {"n", "n_id"}


def test_volatility() -> None:
    def default(expr: str) -> object:
        return analyze_sql(f"ALTER TABLE t ALTER COLUMN c SET DEFAULT {expr}")[0].node.cmds[0].def_

    assert volatile_call(default("now()")) is None
    assert volatile_call(default("lower('X') || 'y'")) is None
    assert volatile_call(default("CURRENT_TIMESTAMP")) is None
    assert volatile_call(default("random() * 10")) == "random"
    assert volatile_call(default("nextval('s')")) == "nextval"
    assert volatile_call(default("my_function()")) == "my_function"  # unknown: assumed VOLATILE


def test_type_change_rules() -> None:
    def type_of(text: str) -> object:
        return analyze_sql(f"CREATE TABLE x (c {text})")[0].node.tableElts[0].typeName

    assert not type_change_rewrites(type_of("varchar(10)"), type_of("varchar(11)"))
    assert not type_change_rewrites(type_of("varchar(10)"), type_of("varchar"))
    assert not type_change_rewrites(type_of("text"), type_of("varchar"))
    assert type_change_rewrites(type_of("text"), type_of("varchar(10)"))
    assert type_change_rewrites(type_of("int"), type_of("bigint"))
    assert type_change_rewrites(type_of("int[]"), type_of("int"))
    assert not type_change_rewrites(type_of("numeric(10,2)"), type_of("numeric"))
    assert type_change_rewrites(None, type_of("text"))


def test_syntax_error_position() -> None:
    with pytest.raises(SqlSyntaxError) as caught:
        predict_sql("SELECT 1;\nSELECT 'é' FROM WHERE x;")
    assert (caught.value.line, caught.value.column) == (2, 17)
    assert "syntax error" in caught.value.message
    assert isinstance(caught.value, LintInputError)
    assert str(caught.value) == '<sql>: line 2, column 17: syntax error at or near "WHERE"'
