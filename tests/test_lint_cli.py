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
    assert "2.1/migrations" not in whole.stdout, "2.1 runs with the plan's lock_timeout: nothing to say"


def test_unparsable_sql_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "001_bad.up.sql"
    bad.write_text("ALTER TABLE orders ADD COLUMN;\n")
    result = _lint(bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(bad) in result.stderr and result.stderr.strip().count("\n") == 0
