"""Plan validation: every bad plan gets one line naming file, key and problem, and exit code 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.plan import PlanError, load_plan

from .conftest import REPO

SHOP = REPO / "scenarios" / "shop"


@pytest.fixture()
def shop_copy(tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(SHOP, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_shop_plan_loads_with_its_upgrade_path() -> None:
    plan = load_plan(SHOP)
    assert (plan.from_version, plan.to_version) == ("1.0", "2.0")
    assert [r.version for r in plan.upgrade_path()] == ["2.0"]
    assert [r.version for r in plan.setup_path()] == ["1.0"]
    assert plan.seed_rows >= 1_000_000


def test_overrides_apply_before_validation() -> None:
    plan = load_plan(SHOP, {"load.users": 3, "seed.rows": 500, "phases.baseline_s": 1.5})
    assert (plan.users, plan.seed_rows, plan.phase_seconds["baseline"]) == (3, 500, 1.5)


@pytest.mark.parametrize(("edit", "key", "problem"), [
    (lambda t: t.replace('to = "2.0"', 'to = "9.9"'), "versions.to", "no release '9.9'"),
    (lambda t: t.replace("users = 40", 'users = "many"'), "load.users", "must be an integer"),
    (lambda t: t.replace("users = 40", "users = -1"), "load.users", "must be > 0"),
    (lambda t: t.replace('locustfile = "locustfile.py"', 'locustfile = "nope.py"'), "load.locustfile",
     "does not exist"),
    (lambda t: t.replace('kind = "auto"', 'kind = "cloud"'), "environment.kind", "must be one of"),
    (lambda t: t.replace('metric = "downtime_s"', 'metric = "happiness"'), "gates[5].metric", "unknown metric"),
    (lambda t: t.replace("max = 5\n", "max = 5\nmin = 1\n"), "gates[5]", "exactly one of"),
    (lambda t: t + "\n[surprise]\nx = 1\n", "surprise", "unknown section"),
    (lambda t: t.replace("[versions]", "[versions\n"), "", "not valid TOML"),
])
def test_bad_plan_names_file_key_and_problem(shop_copy: Path, edit, key: str, problem: str) -> None:
    plan_file = shop_copy / "rehearsal.toml"
    plan_file.write_text(edit(plan_file.read_text()))
    with pytest.raises(PlanError) as caught:
        load_plan(shop_copy)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(plan_file) in str(caught.value)


def test_up_migration_without_down_is_rejected(shop_copy: Path) -> None:
    (shop_copy / "releases" / "2.0" / "migrations" / "002_orders_customer_index.down.sql").unlink()
    with pytest.raises(PlanError, match="002_orders_customer_index.up.sql has no matching .down.sql"):
        load_plan(shop_copy)


def test_cli_reports_a_bad_plan_in_one_line_with_exit_code_2(shop_copy: Path) -> None:
    plan_file = shop_copy / "rehearsal.toml"
    plan_file.write_text(plan_file.read_text().replace("spawn_rate = 40", "spawn_rate = [1]"))
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(shop_copy)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "load.spawn_rate" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("argv", [["run"], ["run", "scenarios/shop", "--env", "moon"],
                                  ["run", "scenarios/shop", "--set", "novalue"], ["run", "/no/such/plan"]])
def test_cli_bad_arguments_exit_2_without_traceback(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "harness.cli", *argv], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip()
