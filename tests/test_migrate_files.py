"""`{ action = "migrate", files = N }`: the next N pending migration units, so that each file can have a phase
of its own (the lint corpus rehearses one statement per phase this way)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.database import Database
from harness.core.errors import PlanError
from harness.core.streams import JsonLines
from harness.events import Events
from harness.plan import load_plan
from harness.timeline.actions import compile_timeline, describe_timeline
from harness.upgrade.migrate import Migrator

from .corpus.run import write_scenario
from .corpus.statements import HARMLESS


@pytest.fixture()
def scenario(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "scenario", "files", HARMLESS[:3], rows=100)


def test_the_action_takes_a_file_count(scenario: Path) -> None:
    plan = load_plan(scenario)
    phases = compile_timeline(plan)
    assert describe_timeline(plan, phases)[1] == "01-add-column: the next 1 migration file of 2.0; soak 0.4 s"
    for value, problem in ((0, "between 1 and 100000"), ("2", "must be int"), (1.5, "must be int")):
        with pytest.raises(PlanError) as caught:
            compile_timeline(load_plan(scenario, {"timeline": [{"phase": "a", "actions": [
                {"action": "migrate", "files": value}]}]}))
        assert caught.value.key == "timeline[0].actions[0].files" and problem in caught.value.problem
    with pytest.raises(PlanError, match="unknown argument of 'migrate'"):
        compile_timeline(load_plan(scenario, {"timeline": [{"phase": "a", "actions": [
            {"action": "migrate", "file": 1}]}]}))


def test_the_migrator_applies_the_next_files_and_reverts_what_it_applied(scenario: Path, database: Database,
                                                                          tmp_path: Path) -> None:
    plan = load_plan(scenario)
    stream = JsonLines(tmp_path / "statements.jsonl")
    migrator = Migrator(plan, database, stream, tmp_path / "migrations.log", "files", Events(), lambda m: None)
    try:
        migrator.apply(plan.setup_path(), phase="setup")
        migrator.applied.clear()
        upgrade = plan.upgrade_path()
        assert [u.up_file.name for u in migrator.pending(upgrade) if u.up_file] == [
            "001_add_column.up.sql", "002_add_column_constant_default.up.sql", "003_varchar_widen.up.sql"]
        assert migrator.apply(upgrade, "a", limit=2) == 2
        assert migrator.apply(upgrade, "b", limit=2) == 1
        assert migrator.pending(upgrade) == [] and migrator.apply(upgrade, "c", limit=1) == 0
        assert [(s.phase, s.source) for s in migrator.steps[-3:]] == [
            ("a", "001_add_column.up.sql"), ("a", "002_add_column_constant_default.up.sql"),
            ("b", "003_varchar_widen.up.sql")]
        migrator.revert("back")
        assert [s.source for s in migrator.steps[-3:]] == [
            "003_varchar_widen.down.sql", "002_add_column_constant_default.down.sql", "001_add_column.down.sql"]
        assert len(migrator.pending(upgrade)) == 3
    finally:
        stream.close()
