"""environment.server_settings: validated in the plan, given to PostgreSQL at start (restart-only ones too),
and a setting the server refuses is bad input naming its key."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from harness.core.errors import PlanError
from harness.environments.local import LocalEnvironment
from harness.environments.local_postgres import LocalPostgres
from harness.plan import load_plan

from .corpus.run import write_scenario
from .corpus.statements import HARMLESS


@pytest.fixture()
def scenario(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "scenario", "settings", HARMLESS[:1], rows=100)


def test_settings_are_read_from_the_plan(scenario: Path) -> None:
    plan = load_plan(scenario, {"environment.server_settings": {"shared_buffers": "48MB", "work_mem": 8192,
                                                                "jit": False, "Log_Lock_Waits": True}})
    assert plan.server_settings == {"shared_buffers": "48MB", "work_mem": "8192", "jit": "off",
                                    "log_lock_waits": "on"}


@pytest.mark.parametrize(("settings", "key", "problem"), [
    ({"listen_addresses": "*"}, "environment.server_settings.listen_addresses", "set by the harness"),
    ({"log_line_prefix": "%m"}, "environment.server_settings.log_line_prefix", "set by the harness"),
    ({"bad name": "1"}, "environment.server_settings.bad name", "setting name"),
    ({"work_mem": [1]}, "environment.server_settings.work_mem", "must be a string or a number or true or false"),
    ({"work_mem": "1\n2"}, "environment.server_settings.work_mem", "one-line value"),
])
def test_bad_settings_name_the_key(scenario: Path, settings: dict, key: str, problem: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(scenario, {"environment.server_settings": settings})
    assert caught.value.key == key and problem in caught.value.problem


def test_restart_only_settings_take_effect_at_start(tmp_path: Path) -> None:
    """shared_buffers can only be set at server start (context postmaster): given on the command line, it holds."""
    server = LocalPostgres(tmp_path, None, "settings", dict(os.environ),
                           settings={"shared_buffers": "48MB", "max_connections": "77", "work_mem": "7MB"})
    (tmp_path / "logs").mkdir()
    try:
        database = server.start()
        with psycopg.connect(database.dsn(), autocommit=True) as conn:
            rows = dict(conn.execute("SELECT name, setting || coalesce(unit, '') FROM pg_settings "
                                     "WHERE name IN ('shared_buffers', 'max_connections', 'work_mem', "
                                     "'log_lock_waits')").fetchall())
            context = conn.execute("SELECT context FROM pg_settings WHERE name = 'shared_buffers'").fetchone()[0]
    finally:
        server.stop()
    assert rows == {"shared_buffers": "61448kB", "max_connections": "77", "work_mem": "7168kB",
                    "log_lock_waits": "on"}, "48MB is 6144 pages of 8 kB; the harness's own settings stay"
    assert context == "postmaster"


def test_a_setting_the_server_refuses_is_bad_input_naming_it(scenario: Path, tmp_path: Path) -> None:
    plan = load_plan(scenario, {"environment.server_settings": {"shared_buffers": "lots"}})
    (tmp_path / "run" / "logs").mkdir(parents=True)
    env = LocalEnvironment(plan, tmp_path / "run", "settings-test")
    try:
        with pytest.raises(PlanError) as caught:
            env.start_database()
    finally:
        env.close()
    assert caught.value.key == "environment.server_settings.shared_buffers"
    assert "PostgreSQL refused it" in caught.value.problem and str(plan.path) in str(caught.value)
