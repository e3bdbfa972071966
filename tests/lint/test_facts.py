"""Table facts against a real server: what read_facts reads, what the lint predicts with them (checked against
the locks the server takes), and `rehearse lint --dsn / --plan / --facts` (the password never shown)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure, InputError
from harness.facts_source import facts_from_dsn, loopback_problem
from harness.lint.facts import Facts, activity, load_facts, read_facts
from harness.lint.predict import predict_sql

REPO = Path(__file__).resolve().parents[2]
SCHEMA = """
CREATE TABLE orders (id bigint PRIMARY KEY, status varchar(10) NOT NULL, note text);
CREATE INDEX orders_status_idx ON orders (status);
CREATE TABLE customers (id int PRIMARY KEY, tier int);
CREATE TABLE archive (id int);
INSERT INTO orders SELECT g, 'new', NULL FROM generate_series(1, 20000) g;
INSERT INTO customers SELECT g, 0 FROM generate_series(1, 100) g;
"""


@pytest.fixture(scope="module")
def shop(pg_server: Database) -> Iterator[Database]:
    """One database for the module: tests that change its schema roll back."""
    admin = pg_server.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS lint_facts WITH (FORCE)")
        conn.execute("CREATE DATABASE lint_facts")
    database = Database(pg_server.host, pg_server.port, pg_server.user, pg_server.password, "lint_facts")
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("ANALYZE")
    yield database
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS lint_facts WITH (FORCE)")


def test_read_facts_reads_sizes_types_indexes_and_keys(shop: Database) -> None:
    with psycopg.connect(shop.dsn(), autocommit=True) as conn:
        facts = read_facts(conn, "test")
    orders = facts.tables["orders"]
    assert orders.rows == 20000 and orders.table_bytes > 500_000 and orders.index_bytes > 200_000
    assert orders.columns == {"id": "bigint", "status": "character varying(10)", "note": "text"}
    assert orders.indexes == {"orders_pkey": ["id"], "orders_status_idx": ["status"]}
    assert orders.key_columns() == {"id"} and orders.touched is None
    assert facts.tables["customers"].rows == 100 and facts.index_table("orders_status_idx") == "orders"
    assert facts.settings["TimeZone"] and "server_version" in facts.settings
    assert Facts.from_json(json.loads(json.dumps(facts.to_json()))) == facts


def test_touched_is_what_the_statistics_counted(shop: Database) -> None:
    with psycopg.connect(shop.dsn(), autocommit=True) as conn:
        facts = read_facts(conn, "test")
        before = activity(conn)
        conn.execute("SELECT * FROM customers WHERE id = 7")
        conn.execute("UPDATE orders SET note = 'x' WHERE id = 1")
        conn.execute("SELECT pg_stat_force_next_flush()")
    with psycopg.connect(shop.dsn(), autocommit=True) as conn:
        after = activity(conn)
    touched = facts.with_touched(before, after, "test")
    assert {name for name, t in touched.tables.items() if t.touched} == {"orders", "customers"}


def test_with_facts_drop_index_locks_its_table_as_the_server_does(shop: Database) -> None:
    """Defect: the lint predicted only the index lock for DROP INDEX; the table is locked ACCESS EXCLUSIVE too."""
    with psycopg.connect(shop.dsn(), autocommit=True) as conn:
        facts = read_facts(conn, "test")
    predicted = predict_sql("DROP INDEX orders_status_idx", facts)[0].locks
    assert predicted == {"orders": "AccessExclusiveLock", "orders_status_idx": "AccessExclusiveLock"}
    with psycopg.connect(shop.dsn()) as conn:
        conn.execute("DROP INDEX orders_status_idx")
        held = {(str(r), str(m)) for r, m in conn.execute(
            "SELECT relation::regclass::text, mode FROM pg_locks WHERE pid = pg_backend_pid() "
            "AND locktype = 'relation' AND relation IS NOT NULL AND relation::regclass::text NOT LIKE 'pg_%'")}
        conn.rollback()
    assert ("orders", "AccessExclusiveLock") in held


@pytest.mark.parametrize(("statement", "rewrites"), [
    ("ALTER TABLE orders ALTER COLUMN status TYPE varchar(20)", False),
    ("ALTER TABLE orders ALTER COLUMN status TYPE text", False),
    ("ALTER TABLE orders ALTER COLUMN status TYPE varchar(5)", True),
    ("ALTER TABLE orders ALTER COLUMN id TYPE numeric", True),
])
def test_with_facts_type_changes_are_predicted_as_the_server_does_them(shop: Database, statement: str,
                                                                       rewrites: bool) -> None:
    """Defect: varchar widening and varchar -> text were said to rewrite. The facts give the old type; the
    server's relfilenode says whether it rewrote."""
    with psycopg.connect(shop.dsn(), autocommit=True) as conn:
        facts = read_facts(conn, "test")
    assert bool(predict_sql(statement, facts)[0].rewrites) is rewrites
    with psycopg.connect(shop.dsn()) as conn:
        before = conn.execute("SELECT relfilenode FROM pg_class WHERE relname = 'orders'").fetchone()
        conn.execute(statement)
        after = conn.execute("SELECT relfilenode FROM pg_class WHERE relname = 'orders'").fetchone()
        conn.rollback()
    assert (before != after) is rewrites


def test_a_dsn_that_is_not_loopback_is_refused_before_any_connection() -> None:
    assert "not loopback" in (loopback_problem("postgresql://u:secret@db.invalid:5432/app") or "")
    assert "not loopback" in (loopback_problem("host=192.0.2.1 dbname=app") or "")
    assert loopback_problem("postgresql://u:p@127.0.0.1:5/app") is None
    assert loopback_problem("postgresql://u:p@localhost/app") is None
    with pytest.raises(InputError) as caught:
        facts_from_dsn("postgresql://u:secret@db.invalid:5432/app")
    assert "secret" not in str(caught.value)


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    with pytest.raises(EnvironmentFailure) as caught:
        facts_from_dsn("postgresql://rehearse:s3cr3t-pw@127.0.0.1:1/app?connect_timeout=2")
    assert "s3cr3t-pw" not in str(caught.value) and "\n" not in str(caught.value)
    assert "127.0.0.1:1/app" in str(caught.value)


def _lint(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "lint", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_lint_dsn_judges_by_size_and_never_prints_the_password(shop: Database, tmp_path: Path) -> None:
    small = tmp_path / "001_customers.up.sql"
    small.write_text("SET lock_timeout = '1s';\nALTER TABLE customers ALTER COLUMN tier TYPE bigint;\n")
    without = _lint(str(small))
    assert without.returncode == 1 and "no table facts" in without.stdout
    with_facts = _lint(str(small), "--dsn", shop.dsn())
    assert with_facts.returncode == 0, with_facts.stdout + with_facts.stderr
    assert "table facts: database postgresql://rehearse@127.0.0.1" in with_facts.stdout
    assert "customers: 100 rows" in with_facts.stdout and "1 warning" in with_facts.stdout
    assert shop.password not in with_facts.stdout + with_facts.stderr + without.stdout
    trap = tmp_path / "002_orders.up.sql"
    trap.write_text("ALTER TABLE orders ADD COLUMN seen boolean;\n")
    with psycopg.connect(shop.dsn(), autocommit=True) as conn:  # the application uses orders
        conn.execute("SELECT * FROM orders WHERE id = 1")
        conn.execute("SELECT pg_stat_force_next_flush()")
    queued = _lint(str(trap), "--dsn", shop.dsn())
    assert queued.returncode == 1 and "lock-queue-trap" in queued.stdout, queued.stdout


def test_lint_facts_from_a_file_and_bad_files(shop: Database, tmp_path: Path) -> None:
    with psycopg.connect(shop.dsn(), autocommit=True) as conn:
        facts = read_facts(conn, "a test database")
    (tmp_path / "facts.json").write_text(json.dumps(facts.to_json()))
    assert load_facts(tmp_path / "facts.json") == facts
    sql = tmp_path / "001_x.up.sql"
    sql.write_text("SET lock_timeout = '1s';\nVACUUM FULL customers;\n")
    assert _lint(str(sql), "--facts", str(tmp_path / "facts.json")).returncode == 0
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    bad = _lint(str(sql), "--facts", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a table facts file" in bad.stderr
    missing = _lint(str(sql), "--facts", str(tmp_path / "no-run-dir"))
    assert missing.returncode == 2 and "No such file" in missing.stderr and "Traceback" not in missing.stderr
    refused = _lint(str(sql), "--dsn", "postgresql://u:hunter2@db.invalid/app")
    assert refused.returncode == 2 and "not loopback" in refused.stderr and "hunter2" not in refused.stderr


def test_lint_plan_builds_the_seeded_database_and_removes_it(tmp_path: Path) -> None:
    from tests.corpus.run import write_scenario
    from tests.corpus.statements import HARMLESS

    scenario = write_scenario(tmp_path / "scenario", "harmless", HARMLESS[:3], rows=3000)
    result = _lint(str(scenario / "corpus"), "--plan", str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("table facts: plan ") and "seed.rows = 3000" in result.stdout
    assert "what the load uses is not known" in result.stdout
    assert not list(Path("/tmp").glob("rehearse-lint-*/data")), "its throwaway server is gone"
