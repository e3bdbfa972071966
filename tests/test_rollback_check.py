"""The rollback check on a real server, each check on its own: rows, schema leftovers, data destroyed,
acknowledged writes, configuration and flags, and the verdict's reasons."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import psycopg
import pytest

from harness.core.database import Database
from harness.plan.model import AcknowledgedSpec, FlagsSpec, RollbackSpec
from harness.verify.catalog import diff_catalogs, snapshot_catalog
from harness.verify.rollback import RollbackCheck


def _sql(database: Database, *statements: str) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _changes(check: RollbackCheck, table: str, compared_with: str) -> dict:
    (found,) = [c for c in check.result().data_changes if c.table == table and c.compared_with == compared_with]
    return asdict(found)


def _reasons(check: RollbackCheck) -> dict[str, str]:
    return {r.check: r.message for r in check.result().reasons}


def _rehearse(check: RollbackCheck, database: Database, upgrade: list[str], rollback: list[str],
              meanwhile: list[str] = ()) -> None:
    try:
        check.before_upgrade()
        _sql(database, *upgrade)
        check.after_upgrade("ok")
        if meanwhile:
            _sql(database, *meanwhile)
        check.before_rollback()
        _sql(database, *rollback)
        check.after_rollback()
    finally:
        check.close()


ORDERS = ["CREATE TABLE orders (id bigserial PRIMARY KEY, total int NOT NULL, created_at timestamptz DEFAULT now())",
          "INSERT INTO orders (total) SELECT g FROM generate_series(1, 2000) g"]


def test_clean_rollback_is_safe(database: Database) -> None:
    _sql(database, *ORDERS)
    check = RollbackCheck(database, ["orders"])
    _rehearse(check, database, ["ALTER TABLE orders ADD COLUMN note text"], ["ALTER TABLE orders DROP COLUMN note"],
              ["INSERT INTO orders (total) VALUES (7)"])
    result = check.result()
    assert result.safe and result.reasons == [], result.reasons
    assert result.schema_diff == [] and result.destroyed == []


def test_lost_rows_changed_rows_and_schema_difference_are_reasons(database: Database) -> None:
    _sql(database, "CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL, note text)",
         "INSERT INTO orders SELECT g, g, 'n' FROM generate_series(1, 1000) g")
    check = RollbackCheck(database, ["orders"])
    _rehearse(check, database, [], ["DELETE FROM orders WHERE id IN (17, 2001)",
                                    "UPDATE orders SET total = -1 WHERE id = 42",
                                    "CREATE INDEX orders_total_idx ON orders (total)"],
              meanwhile=["INSERT INTO orders VALUES (2001, 7, 'mid-upgrade'), (2002, 8, 'mid-upgrade')"])
    result = check.result()
    assert not result.safe
    assert result.schema_diff == ["+ index public.orders_total_idx (CREATE INDEX orders_total_idx ON public.orders "
                                  "USING btree (total)): not there before the upgrade, left after"]
    baseline = _changes(check, "orders", "baseline")
    assert (baseline["lost"], baseline["changed"]) == (1, 1)
    assert baseline["examples"] == {"lost": ["17"], "changed": ["42"]}
    before_rollback = _changes(check, "orders", "before_rollback")
    assert before_rollback["lost"] == 2 and before_rollback["lost_written_during_upgrade"] == 1
    assert sorted(before_rollback["examples"]["lost"]) == ["17", "2001"]
    assert set(_reasons(check)) == {"schema_not_back", "rows_lost"}


def test_a_dropped_column_with_data_is_data_destroyed_with_its_values(database: Database) -> None:
    _sql(database, *ORDERS)
    check = RollbackCheck(database, ["orders"])
    _rehearse(check, database,
              ["ALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR'"],
              ["ALTER TABLE orders DROP COLUMN currency"],
              meanwhile=["INSERT INTO orders (total, currency) SELECT g, CASE WHEN g % 3 = 0 THEN 'USD' ELSE 'GBP' END "
                         "FROM generate_series(1, 30) g", "INSERT INTO orders (total) VALUES (1), (2)"])
    (destroyed,) = check.result().destroyed
    assert destroyed.kind == "column" and destroyed.name == "public.orders.currency"
    assert destroyed.lost == 30 and destroyed.values == {"GBP": 20, "USD": 10}
    assert destroyed.default == "'EUR'::text" and destroyed.non_null == 2032
    message = _reasons(check)["data_destroyed"]
    assert "column public.orders.currency dropped with 30 values other than its default 'EUR'::text" in message
    assert "GBP 20, USD 10" in message
    assert check.result().schema_diff == [], "the schema is back: only the data is gone"


def test_a_table_dropped_with_rows_and_a_lossy_conversion_back(database: Database) -> None:
    _sql(database, "CREATE TABLE notes (id int PRIMARY KEY, body varchar(5) NOT NULL)",
         "INSERT INTO notes SELECT g, 'abc' FROM generate_series(1, 10) g")
    check = RollbackCheck(database, [])
    _rehearse(check, database,
              ["CREATE TABLE refunds (id int PRIMARY KEY)", "ALTER TABLE notes ALTER COLUMN body TYPE text"],
              ["DROP TABLE refunds", "ALTER TABLE notes ALTER COLUMN body TYPE varchar(5) USING left(body, 5)"],
              meanwhile=["INSERT INTO refunds SELECT generate_series(1, 4)",
                         "UPDATE notes SET body = 'a long body' WHERE id IN (3, 4)"])
    destroyed = {d.name: d for d in check.result().destroyed}
    assert destroyed["public.refunds"].lost == 4 and destroyed["public.refunds"].kind == "table"
    conversion = destroyed["public.notes.body"]
    assert conversion.kind == "conversion" and conversion.lost == 2
    assert conversion.samples == ["3: a long body -> a lon", "4: a long body -> a lon"]


def test_schema_leftovers_in_dba_words(database: Database) -> None:
    _sql(database, *ORDERS, "CREATE TYPE state AS ENUM ('placed', 'paid')",
         "ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total > 0)", "CREATE ROLE rehearse_reader",
         "GRANT SELECT ON orders TO rehearse_reader")
    before = snapshot_catalog(database)
    _sql(database,
         "ALTER TABLE orders ALTER COLUMN created_at DROP DEFAULT",  # a default gone
         "SELECT setval('orders_id_seq', 1)",  # a sequence reset
         "ALTER TYPE state ADD VALUE 'refunded'",
         "ALTER TABLE orders DROP CONSTRAINT orders_total_check",
         "ALTER TABLE orders ADD CONSTRAINT orders_total_check1 CHECK (total > 0) NOT VALID",
         "REVOKE SELECT ON orders FROM rehearse_reader", "GRANT INSERT ON orders TO rehearse_reader",
         "INSERT INTO orders (id, total) VALUES (5000, 1), (5001, 1)")
    with pytest.raises(psycopg.errors.UniqueViolation):  # an invalid index: a CONCURRENTLY build that failed
        _sql(database, "CREATE UNIQUE INDEX CONCURRENTLY orders_total_key ON orders (total)")
    lines = [d.line() for d in diff_catalogs(before, snapshot_catalog(database))]
    assert "~ column public.orders.created_at: default was now(), now none" in lines
    assert "~ sequence public.orders_id_seq: position reset: was at 2000, now 1" in lines
    assert any(line.startswith("~ enum public.state: values were placed, paid, now placed, paid, refunded "
                               "(added refunded)") for line in lines)
    assert "~ constraint check CHECK ((total > 0)) on public.orders: renamed from orders_total_check to " \
           "orders_total_check1; validated before, NOT VALID now" in lines
    assert "~ grant on relation public.orders to rehearse_reader: privileges was SELECT, now INSERT" in lines
    assert any(line.startswith("+ index public.orders_total_key") and "valid INVALID" in line for line in lines)
    _sql(database, "DROP OWNED BY rehearse_reader", "DROP ROLE rehearse_reader")


def test_a_leftover_the_release_declares_is_not_a_schema_failure(database: Database) -> None:
    _sql(database, *ORDERS)
    check = RollbackCheck(database, ["orders"], allow_leftover=["orders.currency"])
    _rehearse(check, database, ["ALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR'",
                                "ALTER TABLE orders ADD CONSTRAINT orders_currency_check CHECK (currency <> '')",
                                "CREATE INDEX orders_note_idx ON orders (total)"],
              ["DROP INDEX orders_note_idx"], meanwhile=["INSERT INTO orders (total, currency) VALUES (1, 'USD')"])
    result = check.result()
    assert result.safe, result.reasons
    assert [line.split(": not there")[0] for line in result.allowed_leftovers] == [
        "+ column public.orders.currency (text, nullability NOT NULL, default 'EUR'::text)",
        "+ constraint check CHECK ((currency <> ''::text)) on public.orders (orders_currency_check)"]
    assert result.destroyed == [], "the column and its values stayed"


def test_traffic_updated_table_is_compared_by_key(database: Database) -> None:
    _sql(database, "CREATE TABLE sessions (token uuid PRIMARY KEY, seen timestamptz)",
         "INSERT INTO sessions SELECT gen_random_uuid(), now() FROM generate_series(1, 500)")
    check = RollbackCheck(database, [], keys_only=["sessions"])
    first = "(SELECT token FROM sessions ORDER BY token LIMIT 1)"
    _rehearse(check, database, [], [f"DELETE FROM sessions WHERE token = {first}"],
              meanwhile=["UPDATE sessions SET seen = now() + interval '1 s'"])
    baseline = _changes(check, "sessions", "baseline")
    assert baseline["changed"] == 0 and baseline["lost"] == 1, "updates are not changes; a lost key is"
    assert len(baseline["examples"]["lost"][0]) == 36, "uuid keys in their own type"


def test_acknowledged_writes_lost_in_the_database(database: Database, tmp_path: Path) -> None:
    _sql(database, *ORDERS)
    acks = tmp_path / "acknowledged.jsonl"
    acks.write_text("".join(json.dumps({"at": 1.0 + i, "table": "orders", "key": str(k)}) + "\n"
                            for i, k in enumerate([3, 4, 2001, 2002])) + '{"at": 9, "tab')  # a torn last line
    spec = RollbackSpec(tables=("orders",), acknowledged=(AcknowledgedSpec("orders", "id", None),))
    check = RollbackCheck(database, ["orders"], spec=spec, acknowledged_file=acks)
    check.phases = [("baseline", 0.0), ("upgrade", 2.5)]
    _rehearse(check, database, [], ["DELETE FROM orders WHERE id IN (4, 2002)"],
              meanwhile=["INSERT INTO orders (id, total) VALUES (2001, 1), (2002, 1)"])
    (ack,) = check.result().acknowledged
    assert (ack.acknowledged, ack.checked_in_database, ack.lost_in_database) == (4, 4, 2)
    assert ack.samples == ["4", "2002"] and ack.lost_by_phase == {"baseline": 1, "upgrade": 1}
    assert "orders: 2 of 4 acknowledged writes missing in the database" in _reasons(check)["acknowledged_writes_lost"]


def test_config_file_environment_and_flag_leftovers(database: Database, tmp_path: Path) -> None:
    config, flags = tmp_path / "app.ini", tmp_path / "flags.json"
    config.write_text("hash = sha256\npassword = hunter2\n")
    flags.write_text('{"new_checkout": false}')
    environ = {"PORT": "1", "SECRET": "a"}
    spec = RollbackSpec(config_files=(config,), flags=FlagsSpec(file=flags))
    check = RollbackCheck(database, [], spec=spec, service_environ=lambda: dict(environ))
    check.before_upgrade()
    config.write_text("hash = pbkdf2\npassword = hunter3\n")
    flags.write_text('{"new_checkout": true}')
    environ["SECRET"] = "b"
    check.before_rollback()
    check.after_rollback()
    result = check.result()
    check.close()
    assert result.config_diff[0] == f"config file {config}: differs from before the upgrade"
    assert "  -hash = sha256" in result.config_diff and "  +hash = pbkdf2" in result.config_diff
    assert "  -password = ***" in result.config_diff and "hunter" not in " ".join(result.config_diff)
    assert "environment variable SECRET: value differs (not shown)" in result.config_diff
    assert result.flags_diff == ["flag new_checkout: was false before the upgrade, true after the rollback"]
    assert {"config_not_back", "flags_not_back"} <= set(_reasons(check))
    assert config.read_text() == "hash = sha256\npassword = hunter2\n", "the plan's files are put back"
    assert json.loads(flags.read_text()) == {"new_checkout": False}


def test_flags_table(database: Database) -> None:
    _sql(database, "CREATE TABLE feature_flags (name text PRIMARY KEY, enabled boolean NOT NULL)",
         "INSERT INTO feature_flags VALUES ('a', false)")
    spec = RollbackSpec(flags=FlagsSpec(table="feature_flags", key="name", value="enabled"))
    from harness.verify.config import read_flags, write_flag

    write_flag(database, spec.flags, "a", True)  # type: ignore[arg-type]
    write_flag(database, spec.flags, "b", False)  # type: ignore[arg-type]
    assert read_flags(database, spec.flags) == {"a": True, "b": False}  # type: ignore[arg-type]
