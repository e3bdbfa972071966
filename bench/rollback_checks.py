"""What the rollback check costs: time of each snapshot and comparison, and the harness's peak memory, at 1M and
5M orders; beside it, at 1M (and at 5M with --old-at-5m), the previous check (pandas row checksums keyed by text),
measured in the same run on the same table.

A throwaway server (the harness's own LocalPostgres) holds `orders` shaped like the demo's. Each measurement runs
in its own child process, so that its peak RSS (ru_maxrss) is the harness's own. The rehearsal it mimics: the
baseline snapshot, an upgrade adding orders.currency (a share of the rows given USD), the pre-rollback snapshot,
the rollback dropping the column, the after-rollback comparison (rows, data destroyed, schema).

    python bench/rollback_checks.py                    # 1M and 5M: about 3 minutes
    python bench/rollback_checks.py --rows 1000000 --old-at-5m
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.core.database import Database  # noqa: E402
from harness.environments.local_postgres import LocalPostgres  # noqa: E402

ORDERS = """CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, product_id bigint NOT NULL,
    quantity integer NOT NULL, total_cents integer NOT NULL, status text NOT NULL DEFAULT 'placed',
    created_at timestamptz NOT NULL DEFAULT now())"""


def load(database: Database, rows: int) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS orders")
        conn.execute(ORDERS)
        conn.execute("INSERT INTO orders (customer_id, product_id, quantity, total_cents, created_at) "
                     "SELECT g %% 100000, g %% 20000, 1 + g %% 3, g %% 5000, now() - g * interval '1 s' "
                     "FROM generate_series(1, %s) g", [rows])
        conn.execute("VACUUM ANALYZE orders")


def sql(database: Database, *statements: str) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


UPGRADE = ["ALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR'",
           "INSERT INTO orders (customer_id, product_id, quantity, total_cents, currency) "
           "SELECT 1, 1, 1, 1, 'USD' FROM generate_series(1, 5000)"]
ROLLBACK = ["ALTER TABLE orders DROP COLUMN currency"]


def measure_new(database: Database) -> dict:
    from harness.verify.rollback import RollbackCheck

    check = RollbackCheck(database, ["orders"])
    times = {}
    started = time.monotonic()
    check.before_upgrade()
    times["before_upgrade_s"] = time.monotonic() - started
    sql(database, *UPGRADE)
    started = time.monotonic()
    check.before_rollback()
    times["before_rollback_s"] = time.monotonic() - started
    sql(database, *ROLLBACK)
    started = time.monotonic()
    check.after_rollback()
    times["after_rollback_s"] = time.monotonic() - started
    result = check.result()
    check.close()
    assert result.destroyed and result.destroyed[0].lost == 5000, result.destroyed
    sql(database, "DELETE FROM orders WHERE customer_id = 1 AND product_id = 1 AND quantity = 1 AND total_cents = 1")
    return times


def old_snapshot(conn: psycopg.Connection, columns: list[str]) -> object:
    """The previous check's snapshot: every row's key as text and an md5-derived checksum, into pandas."""
    import pandas as pd

    row = ", ".join(columns)
    buffer = io.BytesIO()
    query = f"COPY (SELECT id::text, ('x' || left(md5(ROW({row})::text), 16))::bit(64)::bigint FROM orders) TO STDOUT"
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    frame = pd.read_csv(buffer, sep="\t", header=None, names=["key", "h"], dtype={"key": str, "h": "int64"},
                        keep_default_na=False)
    return frame.set_index("key")["h"]


def measure_old(database: Database) -> dict:
    columns = ["id", "customer_id", "product_id", "quantity", "total_cents", "status", "created_at"]
    times = {}
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        started = time.monotonic()
        base = old_snapshot(conn, columns)
        times["before_upgrade_s"] = time.monotonic() - started
        sql(database, *UPGRADE)
        started = time.monotonic()
        pre = old_snapshot(conn, columns)
        times["before_rollback_s"] = time.monotonic() - started
        sql(database, *ROLLBACK)
        started = time.monotonic()
        after = old_snapshot(conn, columns)
        for before in (base, pre):
            before.index.difference(after.index)  # lost
            common = before.index.intersection(after.index)
            _ = before.loc[common].to_numpy() != after.loc[common].to_numpy()  # changed
        times["after_rollback_s"] = time.monotonic() - started
    sql(database, "DELETE FROM orders WHERE customer_id = 1 AND product_id = 1 AND quantity = 1 AND total_cents = 1")
    return times


def child(method: str, dsn_file: str) -> None:
    info = json.loads(Path(dsn_file).read_text())
    database = Database(**info)
    times = measure_new(database) if method == "new" else measure_old(database)
    times["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(times))


def run_child(method: str, dsn_file: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", method, str(dsn_file)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--old-at-5m", action="store_true", help="also measure the previous check at 5M (slow)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="rehearse-bench-"))
    server = LocalPostgres(work, None, "bench", dict(os.environ))
    database = server.start()
    secret = work / "database.json"
    secret.write_text(json.dumps({"host": database.host, "port": database.port, "user": database.user,
                                  "password": database.password, "dbname": database.dbname}))
    secret.chmod(0o600)
    try:
        print(f"{'rows':>9} {'check':>5} {'before upgrade s':>17} {'before rollback s':>18} {'after rollback s':>17} "
              f"{'harness peak MB':>16}")
        for rows in args.rows:
            started = time.monotonic()
            load(database, rows)
            print(f"# {rows:,} orders loaded in {time.monotonic() - started:.0f} s", flush=True)
            methods = ["new", "old"] if rows <= 1_000_000 or args.old_at_5m else ["new"]
            for method in methods:
                figures = run_child(method, secret)
                print(f"{rows:>9} {method:>5} {figures['before_upgrade_s']:>17.2f} "
                      f"{figures['before_rollback_s']:>18.2f} {figures['after_rollback_s']:>17.2f} "
                      f"{figures['peak_rss_mb']:>16.0f}", flush=True)
    finally:
        server.stop()
        secret.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
