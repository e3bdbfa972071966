"""Rules, findings and the file / directory / scenario front end."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.lint import RULES, Finding, LintInputError, format_findings, has_danger, lint_path, lint_sql

TIMEOUT = "SET lock_timeout = '2s';\n"


def rules_of(sql: str) -> list[tuple[str, str, int | None]]:
    return [(f.rule, f.severity, f.line) for f in lint_sql(sql)]


def names(sql: str) -> set[str]:
    return {f.rule for f in lint_sql(sql)}


@pytest.mark.parametrize(("sql", "rule"), [
    ("CREATE INDEX i ON orders (a)", "non-concurrent-index"),
    ("CREATE UNIQUE INDEX i ON orders (a)", "non-concurrent-index"),
    ("DROP INDEX i", "non-concurrent-index"),
    ("REINDEX TABLE orders", "non-concurrent-index"),
    ("REINDEX INDEX i", "non-concurrent-index"),
    ("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES customers (id)",
     "constraint-without-not-valid"),
    ("ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0)", "constraint-without-not-valid"),
    ("ALTER TABLE orders ADD COLUMN c int REFERENCES customers (id)", "constraint-without-not-valid"),
    ("ALTER TABLE orders ALTER COLUMN status SET NOT NULL", "set-not-null"),
    ("ALTER TABLE orders ADD COLUMN at timestamptz DEFAULT clock_timestamp()", "add-column-rewrite"),
    ("ALTER TABLE orders ADD COLUMN r float8 DEFAULT random()", "add-column-rewrite"),
    ("ALTER TABLE orders ADD COLUMN u uuid DEFAULT gen_random_uuid()", "add-column-rewrite"),
    ("ALTER TABLE orders ADD COLUMN n bigint DEFAULT nextval('s')", "add-column-rewrite"),
    ("ALTER TABLE orders ADD COLUMN d numeric GENERATED ALWAYS AS (total * 2) STORED", "add-column-rewrite"),
    ("ALTER TABLE orders ADD COLUMN n bigserial", "add-column-rewrite"),
    ("ALTER TABLE orders ALTER COLUMN id TYPE bigint", "alter-column-type"),
    ("ALTER TABLE orders ADD CONSTRAINT k UNIQUE (code)", "unique-without-index"),
    ("ALTER TABLE orders ADD PRIMARY KEY (id)", "unique-without-index"),
    ("ALTER TABLE orders ADD COLUMN code text UNIQUE", "unique-without-index"),
    ("BEGIN; ALTER TABLE orders ADD COLUMN a int; UPDATE customers SET name = 'x' WHERE id = 1; COMMIT",
     "statements-after-exclusive-lock"),
    ("BEGIN; ALTER TABLE orders ADD COLUMN a int; UPDATE orders SET a = 0; COMMIT", "backfill-in-ddl-transaction"),
    ("BEGIN; CREATE INDEX i ON orders (a); INSERT INTO archive SELECT * FROM orders; COMMIT",
     "backfill-in-ddl-transaction"),
    ("BEGIN; CREATE INDEX CONCURRENTLY i ON orders (a); COMMIT", "concurrently-in-transaction"),
    ("BEGIN; DROP INDEX CONCURRENTLY i; COMMIT", "concurrently-in-transaction"),
    ("BEGIN; VACUUM orders; COMMIT", "concurrently-in-transaction"),
    ("VACUUM FULL orders", "vacuum-full-or-cluster"),
    ("CLUSTER orders USING orders_pkey", "vacuum-full-or-cluster"),
    ("ALTER TABLE orders RENAME COLUMN status TO state", "rename"),
    ("ALTER TABLE orders RENAME TO purchases", "rename"),
    ("ALTER TABLE orders ADD COLUMN a int", "missing-lock-timeout"),
    ("CREATE INDEX i ON orders (a)", "missing-lock-timeout"),
])
def test_rule_fires(sql: str, rule: str) -> None:
    assert rule in names(sql)


@pytest.mark.parametrize("sql", [
    "ALTER TABLE orders ADD COLUMN note text",
    "ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT now()",
    "ALTER TABLE orders ADD COLUMN priority int NOT NULL DEFAULT 0",
    "CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())",
    "CREATE INDEX CONCURRENTLY i ON orders (a)",
    "DROP INDEX CONCURRENTLY i",
    "REINDEX INDEX CONCURRENTLY i",
    "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES customers (id) NOT VALID",
    "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID",
    "ALTER TABLE orders VALIDATE CONSTRAINT fk",
    "ALTER TABLE orders ALTER COLUMN status SET STATISTICS 500",
    "ALTER TABLE orders ADD CONSTRAINT k UNIQUE USING INDEX k_idx",
    "SET lock_timeout = '2s'",
    "UPDATE orders SET note = 'x' WHERE id < 1000",
    "VACUUM orders",
    "ANALYZE orders",
    "BEGIN; ALTER TABLE orders ADD COLUMN a int; COMMIT",
])
def test_no_danger(sql: str) -> None:
    findings = lint_sql(TIMEOUT + sql)
    assert not has_danger(findings), format_findings(findings)
    assert not findings, format_findings(findings)


def test_safe_migration_is_clean() -> None:
    sql = TIMEOUT + """
ALTER TABLE orders ADD COLUMN note text;
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;
ALTER TABLE orders ADD CONSTRAINT orders_note_nn CHECK (note IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_note_nn;
ALTER TABLE orders ALTER COLUMN note SET NOT NULL;
CREATE INDEX CONCURRENTLY orders_note ON orders (note);
CREATE UNIQUE INDEX CONCURRENTLY orders_code ON orders (code);
ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE USING INDEX orders_code;
"""
    assert lint_sql(sql) == []


def test_new_tables_carry_no_traffic() -> None:
    sql = """
CREATE TABLE audit (id int, at timestamptz, who text);
CREATE INDEX audit_at ON audit (at);
ALTER TABLE audit ADD COLUMN n bigserial, ALTER COLUMN who SET NOT NULL, ADD UNIQUE (id);
ALTER TABLE audit ADD CONSTRAINT positive CHECK (id > 0), ALTER COLUMN id TYPE bigint;
ALTER TABLE audit RENAME COLUMN who TO actor;
"""
    assert lint_sql(sql) == []


def test_set_not_null_needs_a_validated_check() -> None:
    not_valid = TIMEOUT + ("ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\n"
                           "ALTER TABLE t ALTER COLUMN c SET NOT NULL;")
    assert rules_of(not_valid) == [("set-not-null", "danger", 3)]
    validated = not_valid.replace("ALTER TABLE t ALTER", "ALTER TABLE t VALIDATE CONSTRAINT c_nn;\nALTER TABLE t ALTER")
    assert rules_of(validated) == []
    other_column = validated.replace("SET NOT NULL", "SET NOT NULL").replace("COLUMN c SET", "COLUMN d SET")
    assert names(other_column) == {"set-not-null"}


def test_lock_timeout_tracking() -> None:
    assert names("SET lock_timeout = 0;\nALTER TABLE t ADD a int") == {"missing-lock-timeout"}
    assert names("SET lock_timeout = '1s';\nRESET lock_timeout;\nALTER TABLE t ADD a int") == {
        "missing-lock-timeout"}
    assert names("SELECT set_config('lock_timeout', '1s', false);\nALTER TABLE t ADD a int") == set()
    in_transaction = "BEGIN;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE t ADD a int;\nCOMMIT;\n"
    assert lint_sql(in_transaction) == []
    findings = lint_sql(in_transaction + "ALTER TABLE t ADD b int;\nALTER TABLE t ADD c int")
    assert [(f.rule, f.severity, f.line) for f in findings] == [("missing-lock-timeout", "warning", 5)]
    assert "1 more statement" in findings[0].message
    # only SHARE and stronger: a CONCURRENTLY build or VALIDATE does not block traffic while it waits
    assert lint_sql("CREATE INDEX CONCURRENTLY i ON t (a);\nDROP INDEX CONCURRENTLY j;\n"
                    "ALTER TABLE t VALIDATE CONSTRAINT c") == []


def test_exclusive_lock_held_across_statements() -> None:
    sql = TIMEOUT + "BEGIN;\nALTER TABLE t ADD a int;\nALTER TABLE t ADD b int;\nSET LOCAL x = 1;\nCOMMIT;"
    assert rules_of(sql) == [("statements-after-exclusive-lock", "danger", 3)]
    last = TIMEOUT + "BEGIN;\nCREATE TABLE n (id int);\nALTER TABLE t ADD a int;\nCOMMIT;"
    assert rules_of(last) == []


def test_backfill_points_at_the_ddl() -> None:
    sql = TIMEOUT + ("BEGIN;\nALTER TABLE t ADD a int;\nCOMMIT;\n"
                     "BEGIN;\nCREATE INDEX i ON t (a);\nUPDATE t SET a = 1;\nCOMMIT;")
    findings = [f for f in lint_sql(sql) if f.rule == "backfill-in-ddl-transaction"]
    assert [(f.line, f.statement_index) for f in findings] == [(7, 6)]
    assert "line 6" in findings[0].message and "SHARE lock on t" in findings[0].message


def test_finding_fields_and_format() -> None:
    sql = "SET lock_timeout = '1s';\n\n  CREATE INDEX i ON orders (a);\n"
    [finding] = lint_sql(sql, "m/001.sql")
    assert finding == Finding(rule="non-concurrent-index", severity="danger", statement_index=1,
                              sql="CREATE INDEX i ON orders (a)", message=finding.message, safer=finding.safer,
                              file="m/001.sql", line=3)
    assert "SHARE lock on orders" in finding.message and "CONCURRENTLY" in finding.safer
    text = format_findings([finding, finding])
    assert text.splitlines()[0] == f"m/001.sql:3  non-concurrent-index  {finding.message}"
    assert text.splitlines()[1] == f"    safer: {finding.safer}"
    assert len(text.splitlines()) == 4
    assert format_findings([]) == ""
    assert format_findings(lint_sql("ALTER TABLE t RENAME a TO b")).startswith("<sql>:1  ")


def test_has_danger_ignores_warnings() -> None:
    warnings = lint_sql("ALTER TABLE t RENAME COLUMN a TO b")
    assert {f.severity for f in warnings} == {"warning"} and not has_danger(warnings)
    assert has_danger(lint_sql("VACUUM FULL t"))


def test_every_rule_is_registered_once() -> None:
    rule_names = [rule.name for rule in RULES]
    assert len(rule_names) == len(set(rule_names)) == 14
    modules = {p.stem for p in (Path(__file__).parents[2] / "harness/lint/rules").glob("*.py")} - {"__init__"}
    assert {name.replace("-", "_") for name in rule_names} == modules


def test_lint_path_file_dir_and_scenario(tmp_path: Path) -> None:
    migrations = tmp_path / "scenario" / "releases" / "2.0" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "scenario" / "rehearsal.toml").write_text("[scenario]\nname = 'x'\n")
    (migrations / "002_index.sql").write_text(TIMEOUT + "CREATE INDEX i ON t (a);\n")
    (migrations / "001_column.sql").write_text(TIMEOUT + "ALTER TABLE t ADD a int;\n")
    (migrations / "002_index.down.sql").write_text(TIMEOUT + "DROP INDEX i;\n")
    (migrations / "notes.txt").write_text("CREATE INDEX ignored ON t (a);\n")
    (tmp_path / "scenario" / "other.sql").write_text("VACUUM FULL t;\n")  # outside releases/: not a migration
    down, up = str(migrations / "002_index.down.sql"), str(migrations / "002_index.sql")
    assert [(f.file, f.line) for f in lint_path(tmp_path / "scenario")] == [(down, 2), (up, 2)]
    assert [f.file for f in lint_path(migrations)] == [down, up]
    assert [f.file for f in lint_path(Path(up))] == [up]
    assert {f.rule for f in lint_path(tmp_path / "scenario" / "other.sql")} == {
        "vacuum-full-or-cluster", "missing-lock-timeout"}
    assert lint_path(tmp_path / "scenario" / "releases" / "2.0" / "migrations" / "001_column.sql") == []


def test_lint_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT 1;\nALTER TABLE t ADD COLUMN;\n")
    with pytest.raises(LintInputError) as caught:
        lint_path(bad)
    assert str(caught.value) == f'{bad}: line 2, column 25: syntax error at or near ";"'
    assert caught.value.path == str(bad) and "\n" not in str(caught.value)
    with pytest.raises(LintInputError, match="no such file or directory"):
        lint_path(tmp_path / "missing")
    (tmp_path / "latin1.sql").write_bytes(b"SELECT '\xe9';")
    with pytest.raises(LintInputError, match="not UTF-8"):
        lint_path(tmp_path / "latin1.sql")
    with pytest.raises(LintInputError, match=r'^<sql>: line 1, column 13: syntax error at or near "WHERE"$'):
        lint_sql("SELECT FROM WHERE")
