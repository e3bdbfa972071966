"""`rehearse lint PATH`: exit 1 on a dangerous statement, 0 when clean, 2 on a file that does not parse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import REPO


def _lint(path: Path | str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "lint", str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_the_2_0_migrations_are_flagged() -> None:
    result = _lint("scenarios/shop/releases/2.0/migrations")
    assert result.returncode == 1
    assert "002_orders_customer_index.up.sql:1  non-concurrent-index" in result.stdout
    assert "backfill-in-ddl-transaction" in result.stdout and "CREATE INDEX CONCURRENTLY" in result.stdout


def test_the_safe_release_passes_and_its_plan_lock_timeout_counts() -> None:
    assert _lint("scenarios/shop/releases/2.1/migrations").returncode == 0
    whole = _lint("scenarios/shop")
    assert whole.returncode == 1, "2.0 is in the scenario too"
    assert "2.1/migrations/0" not in whole.stdout, "2.1 runs with the plan's lock_timeout: nothing to say"
    assert 'releases."2.1" up and down: 18 statements read from SQL files' in whole.stdout


def test_unparsable_sql_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "001_bad.up.sql"
    bad.write_text("ALTER TABLE orders ADD COLUMN;\n")
    result = _lint(bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(bad) in result.stderr and result.stderr.strip().count("\n") == 0


def test_an_alembic_scenario_is_linted_from_the_sql_alembic_would_run() -> None:
    result = _lint("tests/scenarios/alembic_shop")
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert 'releases."2.0" up: 7 statements read from the SQL it would run, printed offline by' in out
    assert "alembic upgrade v1_0:v2_0 --sql" in out and "alembic downgrade v2_0:v1_0 --sql" in out
    for statement in ("ALTER TABLE orders ADD COLUMN currency TEXT", "UPDATE orders SET currency = 'EUR'",
                      "CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at)"):
        assert f"    {statement}" in out, statement
    assert 'releases."2.0" up (offline SQL):3  backfill-in-ddl-transaction' in out
    assert 'releases."2.0" up (offline SQL):6  non-concurrent-index' in out
    assert "alembic_version" not in out.split('releases."2.0" up:', 1)[1], "the tool's bookkeeping is not linted"
    assert "no dangerous statement found" not in out.split('releases."2.0" up:', 1)[1].split("\n", 1)[0]


def test_commands_that_print_no_sql_are_not_checked_and_not_clean(tmp_path: Path) -> None:
    scenario = tmp_path / "tool"
    (scenario / "releases" / "1.0").mkdir(parents=True)
    (scenario / "releases" / "2.0").mkdir(parents=True)
    (scenario / "locustfile.py").write_text("from locust import HttpUser\n\n\nclass Nobody(HttpUser):\n    pass\n")
    (scenario / "rehearsal.toml").write_text(
        '[scenario]\nname = "tool"\n[versions]\nfrom = "1.0"\nto = "2.0"\n[service]\ncommand = ["true"]\n'
        '[releases."1.0"]\nmigrations = { up = ["true"], down = ["true"] }\n'
        '[releases."2.0"]\nupgrades_from = "1.0"\n'
        'migrations = { up = ["true"], down = ["true"], sql_command = ["echo", "ALTER TABLE t ADD c int;"] }\n'
        '[load]\nlocustfile = "locustfile.py"\n')
    result = subprocess.run([sys.executable, "-m", "harness.cli", "lint", str(scenario)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'releases."1.0" up: NOT CHECKED: no offline SQL' in result.stdout
    assert 'releases."2.0" up: 1 statement read from the SQL it would run, printed offline by echo' in result.stdout
    assert "    ALTER TABLE t ADD c int" in result.stdout
    assert "not checked: 1.0 up, 1.0 down, 2.0 down" in result.stdout
