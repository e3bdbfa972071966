"""Statement corpus for the observed-lock test: each case is a setup, one statement, and how to observe it.

`how = "transaction"`: run inside BEGIN .. ROLLBACK and read pg_locks from the same session.
`how = "outside"`: the statement cannot run in a transaction block; it runs on its own connection while a
monitor polls pg_locks for its pid (every relation lock, held or awaited). Each `blockers` entry is held
open in another session (BEGIN; sql) so the statement stalls mid-way where the monitor can see it; the
monitor releases them one at a time, and the test checks it stalled once per blocker.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE = """
CREATE TABLE customers (id int PRIMARY KEY, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status varchar(10), total numeric(10, 2), note text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1000) g;
INSERT INTO orders SELECT g, g % 1000 + 1, 'new', g, NULL FROM generate_series(1, 5000) g;
CREATE INDEX orders_status ON orders (status);
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
"""
PARTITIONED = BASE + """
CREATE TABLE events (id int, day int) PARTITION BY RANGE (day);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (10);
CREATE TABLE events_2 (id int, day int);
"""
MATVIEW = BASE + """
CREATE MATERIALIZED VIEW order_totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY 1;
CREATE UNIQUE INDEX order_totals_customer ON order_totals (customer_id);
"""
HOLD_WRITE = "INSERT INTO orders (id, customer_id, status) VALUES (900001, 1, 'hold')"
HOLD_READ = "SELECT count(*) FROM orders"


def pin_index(name: str) -> str:
    """Row-lock an index's pg_index entry: the index's final drop waits there, its lock already taken."""
    return f"SELECT 1 FROM pg_index WHERE indexrelid = '{name}'::regclass FOR KEY SHARE"



@dataclass(frozen=True)
class Case:
    """One statement to predict and observe."""

    name: str
    statement: str
    setup: str = BASE
    how: str = "transaction"
    blockers: tuple[str, ...] = ()


CORPUS: tuple[Case, ...] = (
    Case("select", "SELECT count(*) FROM orders JOIN customers ON customers.id = orders.customer_id"),
    Case("select-for-update", "SELECT * FROM orders WHERE id = 1 FOR UPDATE"),
    Case("insert-values", "INSERT INTO orders (id, customer_id, status) VALUES (100001, 1, 'new')"),
    Case("insert-without-foreign-key", "INSERT INTO orders (id, status) VALUES (100001, 'new')"),
    Case("update-foreign-key", "UPDATE orders SET customer_id = 3 WHERE id = 1"),
    Case("delete-referenced", "DELETE FROM customers WHERE id > 1000",
         setup=BASE + "INSERT INTO customers SELECT g, 'spare' FROM generate_series(1001, 1010) g;"),
    Case("insert-select", "INSERT INTO customers SELECT id + 5000, 'x' FROM orders WHERE id < 10"),
    Case("update-from", "UPDATE orders SET note = 'x' FROM customers "
                        "WHERE customers.id = orders.customer_id AND customers.id < 5"),
    Case("delete-using", "DELETE FROM orders USING customers WHERE customers.id = orders.customer_id "
                         "AND customers.id < 5"),
    Case("merge", "MERGE INTO customers c USING orders o ON c.id = o.id "
                  "WHEN MATCHED THEN UPDATE SET name = 'm' WHEN NOT MATCHED THEN DO NOTHING"),
    Case("create-index", "CREATE INDEX orders_note ON orders (note)"),
    Case("create-index-concurrently", "CREATE INDEX CONCURRENTLY orders_note ON orders (note)",
         how="outside", blockers=(HOLD_WRITE,)),
    Case("drop-index", "DROP INDEX orders_status"),
    Case("drop-index-concurrently", "DROP INDEX CONCURRENTLY orders_status", how="outside",
         blockers=(HOLD_READ, HOLD_READ, pin_index("orders_status"))),
    Case("reindex-index", "REINDEX INDEX orders_status"),
    Case("reindex-table", "REINDEX TABLE orders"),
    Case("reindex-concurrently", "REINDEX TABLE CONCURRENTLY orders", how="outside",
         blockers=(HOLD_WRITE, pin_index("orders_pkey"), pin_index("orders_status"))),
    Case("add-column", "ALTER TABLE orders ADD COLUMN shipped_at timestamptz"),
    Case("add-column-default-now", "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now()"),
    Case("add-column-constant-not-null", "ALTER TABLE orders ADD COLUMN priority int NOT NULL DEFAULT 0"),
    Case("add-column-clock-timestamp", "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp()"),
    Case("add-column-uuid", "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()"),
    Case("add-column-generated", "ALTER TABLE orders ADD COLUMN double numeric GENERATED ALWAYS AS (total * 2) STORED"),
    Case("add-column-bigserial", "ALTER TABLE orders ADD COLUMN seq bigserial"),
    Case("add-column-identity", "ALTER TABLE orders ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY"),
    Case("add-column-references", "ALTER TABLE orders ADD COLUMN referrer int REFERENCES customers (id)"),
    Case("alter-type-int-bigint", "ALTER TABLE orders ALTER COLUMN id TYPE bigint"),
    Case("alter-type-varchar-widen", "ALTER TABLE orders ALTER COLUMN status TYPE varchar(20)"),
    Case("alter-type-varchar-text", "ALTER TABLE orders ALTER COLUMN status TYPE text"),
    Case("alter-type-numeric-widen", "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)"),
    Case("alter-type-varchar-shrink", "ALTER TABLE orders ALTER COLUMN status TYPE varchar(5)"),
    Case("add-foreign-key", "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk2 "
                            "FOREIGN KEY (customer_id) REFERENCES customers (id)"),
    Case("add-foreign-key-not-valid", "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk2 "
                                      "FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID"),
    Case("validate-foreign-key", "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk"),
    Case("add-check", "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0)"),
    Case("add-check-not-valid", "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) NOT VALID"),
    Case("set-not-null", "ALTER TABLE orders ALTER COLUMN status SET NOT NULL"),
    Case("add-unique", "ALTER TABLE orders ADD CONSTRAINT orders_id_status_key UNIQUE (id, status)"),
    Case("add-unique-using-index", "ALTER TABLE orders ADD CONSTRAINT orders_id_status_key UNIQUE USING INDEX "
                                   "orders_id_status",
         setup=BASE + "CREATE UNIQUE INDEX orders_id_status ON orders (id, status);"),
    Case("drop-foreign-key", "ALTER TABLE orders DROP CONSTRAINT orders_customer_fk"),
    Case("set-statistics", "ALTER TABLE orders ALTER COLUMN status SET STATISTICS 500"),
    Case("set-fillfactor", "ALTER TABLE orders SET (fillfactor = 80)"),
    Case("set-default", "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new'"),
    Case("drop-column", "ALTER TABLE orders DROP COLUMN note"),
    Case("set-unlogged", "ALTER TABLE orders SET UNLOGGED"),
    Case("create-trigger", "CREATE TRIGGER orders_noop BEFORE UPDATE ON orders FOR EACH ROW "
                           "EXECUTE FUNCTION suppress_redundant_updates_trigger()"),
    Case("disable-trigger", "ALTER TABLE orders DISABLE TRIGGER USER"),
    Case("vacuum", "VACUUM orders", how="outside",
         blockers=("LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE",)),
    Case("vacuum-full", "VACUUM FULL orders", how="outside", blockers=(HOLD_READ,)),
    Case("analyze", "ANALYZE orders"),
    Case("cluster", "CLUSTER orders USING orders_pkey"),
    Case("truncate", "TRUNCATE orders"),
    Case("lock-table", "LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE"),
    Case("drop-table", "DROP TABLE orders"),
    Case("create-table-references", "CREATE TABLE refunds (id int PRIMARY KEY, order_id int REFERENCES orders (id))"),
    Case("create-table-as", "CREATE TABLE order_copy AS SELECT * FROM orders"),
    Case("create-view", "CREATE VIEW customer_orders AS SELECT orders.*, customers.name FROM orders JOIN customers "
                        "ON customers.id = orders.customer_id"),
    Case("create-partition", "CREATE TABLE events_3 PARTITION OF events FOR VALUES FROM (20) TO (30)",
         setup=PARTITIONED),
    Case("attach-partition", "ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES FROM (10) TO (20)",
         setup=PARTITIONED),
    Case("detach-partition", "ALTER TABLE events DETACH PARTITION events_1", setup=PARTITIONED),
    Case("detach-partition-concurrently", "ALTER TABLE events DETACH PARTITION events_1 CONCURRENTLY",
         setup=PARTITIONED, how="outside",
         blockers=("SELECT count(*) FROM events",
                   "SELECT 1 FROM pg_inherits WHERE inhrelid = 'events_1'::regclass FOR KEY SHARE")),
    Case("rename-column", "ALTER TABLE orders RENAME COLUMN note TO remark"),
    Case("rename-table", "ALTER TABLE orders RENAME TO purchases"),
    Case("rename-index", "ALTER INDEX orders_status RENAME TO orders_by_status"),
    Case("comment", "COMMENT ON TABLE orders IS 'one row per order'"),
    Case("create-statistics", "CREATE STATISTICS orders_stats ON customer_id, status FROM orders"),
    Case("refresh-matview", "REFRESH MATERIALIZED VIEW order_totals", setup=MATVIEW),
    Case("refresh-matview-concurrently", "REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals", setup=MATVIEW),
    Case("set-lock-timeout", "SET lock_timeout = '2s'"),
)
