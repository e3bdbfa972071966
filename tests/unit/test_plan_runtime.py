"""The plan keys of a service's runtime and configuration: placeholders checked where they are used,
per-release python / env / health_path, swap strategies, rollback keys, gate causes, revert on_failure, and the
PostgreSQL install found by version and extensions. Real plan files, real binaries; nothing started."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.core.database import Database
from harness.core.errors import PlanError
from harness.core.tools import is_bookkeeping, is_chatter
from harness.environments.postgres_binaries import PostgresNotFound, find_install
from harness.observe.server_log import entries
from harness.plan import load_plan, placeholders
from harness.plan.placeholders import template_problem, unknown_braces
from harness.timeline.actions import compile_timeline
from harness.upgrade.command import error_line

from ..conftest import REPO

SHOP = REPO / "scenarios" / "shop"


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(SHOP, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.mark.parametrize(("template", "context", "command", "problem"), [
    ("{db_pasword}", "service", False, "unknown placeholder {db_pasword} (did you mean {db_password}?)"),
    ("--password={db_password}", "migration", True, "may only be used in env values"),
    ("{port}", "migration", True, "{port} is not known in migration commands"),
    ("{version}", "load", False, "{version} is not known in load.env"),
    ("{db_host}:{db_port}/{db_name}", "seed", True, None),
    ("{db_password}", "service", False, None),
    ('{"json": 1} {whatever}', "service", True, None),
])
def test_placeholders_are_checked_where_they_are_used(template: str, context: str, command: bool,
                                                     problem: str | None) -> None:
    found = template_problem(template, context, command)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_braces_that_are_no_placeholder_are_left_as_written() -> None:
    assert unknown_braces("{whatever} {db_host}") == ["whatever"]


def test_every_placeholder_has_a_value_with_a_database_and_a_release() -> None:
    plan = load_plan(SHOP)
    values = placeholders(plan, plan.releases["2.0"], Database("127.0.0.9", 6543, "u", "s3cret", "shop"), port="1")
    assert {k: values[k] for k in ("db_host", "db_port", "db_user", "db_password", "db_name", "version", "port")} \
        == {"db_host": "127.0.0.9", "db_port": "6543", "db_user": "u", "db_password": "s3cret", "db_name": "shop",
            "version": "2.0", "port": "1"}
    assert values["release_dir"].endswith("releases/2.0") and values["dsn"].startswith("postgresql://u:s3cret@")


@pytest.mark.parametrize(("edit", "key", "problem"), [
    (lambda t: t.replace('command = ["{python}", "app.py"]', 'command = ["{python}", "app.py", "--pw={db_password}"]'),
     "service.command", "may only be used in env values"),
    (lambda t: t.replace('command = ["{python}", "seed.py", "--orders", "{rows}"]',
                         'command = ["{python}", "seed.py", "--orders", "{row}"]'),
     "seed.command", "did you mean {rows}?"),
    (lambda t: t.replace('health_path = "/health"', "health_path = true"), "service.health_path", "or false"),
    (lambda t: t.replace('dir = "releases/1.0"', 'dir = "releases/1.0"\npython = ".venv-1.0"'),
     'releases."1.0".python', "python -m venv .venv-1.0"),
    (lambda t: t.replace('kind = "auto"', 'kind = "auto"\npostgres_version = 7'), "environment.postgres_version",
     "must be >= 9"),
    (lambda t: t.replace('kind = "auto"', 'kind = "auto"\nextensions = ["uuid ossp"]'), "environment.extensions",
     "not an extension name"),
    (lambda t: t.replace('start_timeout_s = 30', 'start_timeout_s = 30\nswap = "blue-green"'), "service.swap",
     "did you mean 'blue_green'?"),
    (lambda t: t.replace('tables = ["customers", "products", "orders"]',
                         'tables = ["customers", "products", "orders"]\nkeys = { order = ["order_no"] }'),
     "rollback.keys.order", "did you mean 'orders'?"),
    (lambda t: t.replace('metric = "downtime_s"', 'metric = "downtime_s"\ncause = "swap"'), "gates[5].cause",
     "downtime_s cannot be limited to a cause"),
    (lambda t: t.replace('metric = "downtime_s"', 'metric = "errors"\ncause = "network"'), "gates[5].cause",
     "must be one of statements, swap, service"),
])
def test_bad_runtime_keys_name_file_key_and_problem(shop: Path, edit, key: str, problem: str) -> None:
    plan_file = shop / "rehearsal.toml"
    plan_file.write_text(edit(plan_file.read_text()))
    with pytest.raises(PlanError) as caught:
        load_plan(shop)
    assert caught.value.key == key and problem in caught.value.problem, caught.value


def test_per_release_python_env_and_health_path(shop: Path) -> None:
    venv = shop / ".venv-2"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("include-system-site-packages = true\n")
    os.symlink(os.path.realpath(shutil.which("python3") or "/usr/bin/python3"), venv / "bin" / "python")
    plan_file = shop / "rehearsal.toml"
    plan_file.write_text(plan_file.read_text().replace(
        'dir = "releases/2.0"\nimage = "rehearse/shop:2.0"        # docker: built by docker/build-offline-images\n'
        'upgrades_from = "1.0"',
        'dir = "releases/2.0"\nimage = "rehearse/shop:2.0"\nupgrades_from = "1.0"\npython = ".venv-2"\n'
        'health_path = false\nenv = { FEATURE = "{version}" }', 1))
    plan = load_plan(shop)
    release = plan.releases["2.0"]
    assert release.python == venv / "bin" / "python" and release.venv == venv, "the venv's python, not resolved"
    assert release.health_path is None and plan.releases["1.0"].health_path == "/health"
    assert release.env == {"FEATURE": "{version}"}
    assert placeholders(plan, release)["python"] == str(venv / "bin" / "python")


def test_revert_on_failure_is_stay_or_swap_back(shop: Path) -> None:
    plan = load_plan(REPO / "tests" / "scenarios" / "shop_reupgrade", {
        "timeline": [{"phase": "a", "actions": [{"action": "revert", "on_failure": "swap_back"}]}], "gates": []})
    (phase,) = compile_timeline(plan)
    assert phase.actions[0].describe(plan).endswith("(on failure: swap_back)")
    bad = load_plan(REPO / "tests" / "scenarios" / "shop_reupgrade", {
        "timeline": [{"phase": "a", "actions": [{"action": "revert", "on_failure": "go_on"}]}], "gates": []})
    with pytest.raises(PlanError, match="must be one of stay, swap_back"):
        compile_timeline(bad)


def test_postgres_is_found_by_version_and_by_the_extensions_it_offers() -> None:
    if not Path("/usr/lib/postgresql/15/bin/postgres").exists():
        pytest.skip("needs Debian's postgresql-15")
    assert find_install(None, 15).bin_dir == Path("/usr/lib/postgresql/15/bin")
    assert find_install(None, None, ["pgcrypto", "uuid-ossp"]).major == 15, "the wheel lacks them: the next one"
    with pytest.raises(PostgresNotFound) as caught:
        find_install(None, 15, ["postgis"])
    assert caught.value.key == "environment.extensions" and "not part of PostgreSQL" in str(caught.value)
    with pytest.raises(PostgresNotFound, match="apt-get install postgresql-12") as missing:
        find_install(None, 12)
    assert missing.value.key == "environment.postgres_version"


def test_server_log_entries_keep_their_parts_and_read_old_prefixes(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(
        "1795776776.747 [8717] 22P02 notes-1.0: ERROR:  invalid input syntax for type uuid: \"12\"\n"
        "1795776776.747 [8717] 22P02 notes-1.0: STATEMENT:  SELECT id FROM notes\n"
        "\tWHERE id = $1\n"
        "1795776776.900 [8718] 00000 rehearse-migrate: LOG:  duration: 1.0 ms  statement: SELECT 1\n"
        "1795776777.000 [9] shop: ERROR:  column \"x\" does not exist\n")
    first, second, third = entries(log)
    assert (first.sqlstate, first.application, first.pid, first.level) == ("22P02", "notes-1.0", 8717, "ERROR")
    assert first.parts["STATEMENT"] == "SELECT id FROM notes\n\tWHERE id = $1"
    assert second.from_harness and second.sqlstate == "00000" and not second.is_error
    assert third.sqlstate is None and third.application == "shop"


def test_driver_chatter_and_tool_bookkeeping() -> None:
    assert is_chatter("select pg_catalog.version()") and is_chatter("SAVEPOINT sa_1") and is_chatter("BEGIN")
    assert is_bookkeeping("UPDATE alembic_version SET version_num='r2' WHERE alembic_version.version_num = 'r1'")
    assert is_bookkeeping("INSERT INTO flyway_schema_history (installed_rank) VALUES (1)")
    assert not is_chatter("UPDATE orders SET currency = 'EUR'") and not is_chatter("COMMIT")


def test_a_failed_commands_error_is_the_line_that_names_it(tmp_path: Path) -> None:
    log = tmp_path / "migrations.log"
    log.write_text("$ earlier\nERROR old failure\n")
    offset = log.stat().st_size
    with open(log, "a") as out:
        out.write("Traceback (most recent call last):\n  File \"x\", line 1\n"
                  "sqlalchemy.exc.NotSupportedError: (psycopg.errors.FeatureNotSupported) extension \"uuid-ossp\" is "
                  "not available\n[SQL: CREATE EXTENSION \"uuid-ossp\"]\n(Background on this error at: https://x)\n")
    assert error_line(log, offset).startswith("sqlalchemy.exc.NotSupportedError: (psycopg.errors.FeatureNotSupported)")
