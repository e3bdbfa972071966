"""Seed the shop schema with deterministic customers, products and orders (server-side generate_series)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import psycopg

FIRST_NAMES = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Edsger", "Margaret", "Dennis", "Frances", "Ken"]
LAST_NAMES = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Dijkstra", "Hamilton", "Allen"]
ADJECTIVES = ["Blue", "Classic", "Compact", "Deluxe", "Eco", "Golden", "Heavy", "Mini", "Rustic", "Smart"]
NOUNS = ["Backpack", "Bottle", "Chair", "Kettle", "Lamp", "Mug", "Notebook", "Pen", "Speaker", "Towel"]
STATUSES = ["delivered", "delivered", "delivered", "shipped", "paid", "placed", "cancelled"]
HISTORY_START = "timestamptz '2024-01-01 00:00:00+00'"
HISTORY_LENGTH = "interval '365 days'"
SIGNED_UP_AT = f"{HISTORY_START} - (%(n)s - g) * interval '1 minute'"


def customer_count(orders: int) -> int:
    return max(100, orders // 10)


def product_count(orders: int) -> int:
    return max(100, min(20000, orders // 50))


def sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def pick(values: list[str], index_sql: str) -> str:
    return f"({sql_array(values)})[1 + mod({index_sql}, {len(values)})]"


def seed_customers(cur: psycopg.Cursor, count: int) -> None:
    name = f"{pick(FIRST_NAMES, 'g')} || ' ' || {pick(LAST_NAMES, 'g / 10')}"
    cur.execute(
        f"""
        INSERT INTO customers (id, email, name, created_at)
        SELECT g, 'customer' || g || '@example.com', {name},
               {SIGNED_UP_AT}
        FROM generate_series(1, %(n)s::bigint) AS g
        """,
        {"n": count},
    )


def seed_products(cur: psycopg.Cursor, count: int) -> None:
    name = f"{pick(ADJECTIVES, 'g')} || ' ' || {pick(NOUNS, 'g / 10')} || ' ' || g"
    cur.execute(
        f"""
        INSERT INTO products (id, sku, name, description, price_cents, created_at)
        SELECT g, 'SKU-' || lpad(g::text, 6, '0'), {name},
               'A dependable ' || lower({pick(NOUNS, "g / 10")}) || ' for everyday use. Model ' || g
                   || ', ships in ' || (1 + mod(g, 5)) || ' business days.',
               199 + mod(g * 7919, 49800),
               {SIGNED_UP_AT}
        FROM generate_series(1, %(n)s::bigint) AS g
        """,
        {"n": count},
    )


def seed_orders(cur: psycopg.Cursor, count: int, customers: int, products: int) -> None:
    cur.execute(
        f"""
        INSERT INTO orders (id, customer_id, product_id, quantity, total_cents, status, created_at)
        SELECT o.g, o.customer_id, o.product_id, o.quantity, o.quantity * p.price_cents,
               {pick(STATUSES, "o.g")}, {HISTORY_START} + o.g * ({HISTORY_LENGTH} / %(n)s)
        FROM (
            SELECT g, 1 + mod(g * 7919, %(customers)s) AS customer_id,
                   1 + mod(h, %(products)s) AS product_id, 1 + mod(h / %(products)s, 4) AS quantity
            FROM generate_series(1, %(n)s::bigint) AS g, LATERAL (SELECT hashint8(g) + 2147483648 AS h) AS r
        ) AS o
        JOIN products p ON p.id = o.product_id
        """,
        {"n": count, "customers": customers, "products": products},
    )


def detach_orders_indexes(cur: psycopg.Cursor) -> list[str]:
    """Drop orders' foreign keys and secondary indexes; return the DDL that restores them after the load."""
    cur.execute(
        """
        SELECT format('ALTER TABLE orders DROP CONSTRAINT %I', conname),
               format('ALTER TABLE orders ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid))
        FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'f'
        UNION ALL
        SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = 'orders'::regclass
          AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """
    )
    statements = cur.fetchall()
    for drop, _ in statements:
        cur.execute(drop)
    return [create for _, create in reversed(statements)]


def restore(cur: psycopg.Cursor, statements: list[str]) -> None:
    for statement in statements:
        cur.execute(statement)


def reset_sequences(cur: psycopg.Cursor) -> None:
    for table in ("customers", "products", "orders"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


def timed(label: str, action: Callable[..., object], *args: object) -> None:
    start = time.perf_counter()
    action(*args)
    print(f"  {label}: {time.perf_counter() - start:.2f}s", flush=True)


def seed(dsn: str, orders: int) -> None:
    customers, products = customer_count(orders), product_count(orders)
    print(f"seeding {customers} customers, {products} products, {orders} orders", flush=True)
    start = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            timed("customers", seed_customers, cur, customers)
            timed("products", seed_products, cur, products)
            detached = detach_orders_indexes(cur)
            timed("orders", seed_orders, cur, orders, customers, products)
            timed("orders indexes and foreign keys", restore, cur, detached)
            reset_sequences(cur)
        conn.commit()
        conn.autocommit = True
        timed("analyze", conn.execute, "ANALYZE customers, products, orders")
    print(f"seed done in {time.perf_counter() - start:.2f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, required=True, help="number of orders to create")
    args = parser.parse_args()
    if args.orders < 1:
        parser.error("--orders must be positive")
    seed(os.environ["DATABASE_URL"], args.orders)


if __name__ == "__main__":
    main()
