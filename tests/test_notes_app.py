"""The second realistic scenario (tests/scenarios/notes_app), rehearsed for real: an unmodified service with
its own runtime per release, configured by separate variables, Alembic revisions in one transaction, keys
that change type, contrib extensions on Debian's PostgreSQL 15, a blue_green swap, bare 500s."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.records.summary import contract_problems
from harness.report.markdown import _sql

from .conftest import REPO
from .leftovers import postgres_temp_dirs, processes_of

SCENARIO = REPO / "tests" / "scenarios" / "notes_app"
# 40,000 notes: the key rewrite holds the accounts lock long enough (about 250 ms) that a page or a login queues
# on it in every run, not only in most (with 20,000, about 120 ms: 4-8 such waits, and once none)
SMALL = ["--set", "seed.rows=40000", "--set", "phases.baseline_s=3", "--set", "phases.post_upgrade_s=2",
         "--set", "phases.post_rollback_s=2"]
REPEAT_SMALL = ["--set", "seed.rows=5000", "--set", "phases.baseline_s=2", "--set", "phases.post_upgrade_s=1.5",
                "--set", "phases.post_rollback_s=1"]
POSTGRES_15 = Path("/usr/lib/postgresql/15/bin/postgres")

pytestmark = pytest.mark.skipif(not POSTGRES_15.exists(), reason="needs Debian's postgresql-15 (.ci/run installs it)")


def _cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario copied aside, with its two per-release virtualenvs."""
    copy = tmp_path_factory.mktemp("notes") / "notes_app"
    shutil.copytree(SCENARIO, copy, ignore=shutil.ignore_patterns(".venv-*", "__pycache__"))
    subprocess.run([sys.executable, str(copy / "make_venvs.py")], check=True, timeout=120)
    return copy


def _summary(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert contract_problems(summary) == []
    return summary


@pytest.fixture(scope="module")
def upgrade(notes: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("notes-reports")
    result = _cli("run", str(notes), "--out", str(out), *SMALL)
    (run_dir,) = out.iterdir()
    assert processes_of(run_dir.name) == [] and postgres_temp_dirs(run_dir.name) == []
    return result, run_dir


def test_check_without_the_runtimes_says_how_to_make_them(tmp_path: Path) -> None:
    copy = tmp_path / "notes_app"
    shutil.copytree(SCENARIO, copy, ignore=shutil.ignore_patterns(".venv-*", "__pycache__"))
    result = _cli("check", str(copy), timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert 'releases."1.0".python: interpreter or virtualenv \'.venv-1.0\' does not exist' in result.stderr


@pytest.mark.slow
def test_check_resolves_runtimes_binaries_extensions_and_placeholders(notes: Path) -> None:
    result = _cli("check", str(notes), timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "postgres: PostgreSQL 15." in out and "/usr/lib/postgresql/15/bin (the system's install)" in out
    assert f"release 1.0: service {notes}/.venv-1.0/bin/python app.py" in out
    assert "health no health endpoint" in out and "health /healthz" in out
    assert f"release 2.0: migrations up: {notes}/.venv-2/bin/python -m alembic upgrade r4" in out
    assert "service swap: blue_green" in out


@pytest.mark.slow
def test_a_missing_extension_is_bad_input_before_anything_starts(notes: Path, tmp_path: Path) -> None:
    for command in ("check", "run"):
        result = _cli(command, str(notes), "--set", "environment.postgres_version=18", "--out", str(tmp_path),
                      timeout=60) if command == "run" else _cli(command, str(notes), "--set",
                                                                 "environment.postgres_version=18", timeout=60)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "environment.extensions: extensions pgcrypto, uuid-ossp are not available in PostgreSQL 18" in line
        assert "contrib" in line and "apt-get install postgresql-18" in line
    assert list(tmp_path.iterdir()) == [], "nothing started: no run directory"


@pytest.mark.slow
def test_the_server_is_the_production_version_with_its_extensions(upgrade) -> None:
    result, run_dir = upgrade
    assert result.returncode == 1, result.stderr  # the key rewrite fails its gates, as it should
    server = _summary(run_dir)["server"]
    assert server["major"] == 15 and "the system's install" in server["source"]
    assert server["extensions_installed"] and {e.split()[0] for e in server["extensions_installed"]} == \
        {"pgcrypto", "uuid-ossp"}


@pytest.mark.slow
def test_each_release_runs_on_its_own_runtime_configured_by_separate_variables(upgrade, notes: Path) -> None:
    _, run_dir = upgrade
    logs = run_dir / "logs"
    first = next(logs.glob("service-1.0-*.log")).read_text().splitlines()[0]
    assert f"notes-compat 1 from {notes}/deps/1" in first and f"python {notes}/.venv-1.0/bin/python" in first
    second = next(logs.glob("service-2.0-*.log")).read_text().splitlines()[0]
    assert f"notes-compat 2 from {notes}/deps/2" in second
    migrations = (logs / "migrations.log").read_text()
    assert f"$ {notes}/.venv-2/bin/python -m alembic upgrade r4" in migrations
    credentials = re.compile(rb"postgres(?:ql)?://[^:\s/]+:(?!\*\*\*)[^@\s]+@")
    assert not [p for p in run_dir.rglob("*") if p.is_file() and credentials.search(p.read_bytes())]


@pytest.mark.slow
def test_blue_green_swaps_fail_no_request_and_errors_are_attributed(upgrade) -> None:
    _, run_dir = upgrade
    summary = _summary(run_dir)
    assert [s["strategy"] for s in summary["swaps"]] == ["blue_green", "blue_green"]
    assert summary["downtime_s"] == 0 and all(s["failed_requests"] == 0 for s in summary["swaps"])
    upgrade_phase = next(p for p in summary["phases"] if p["name"] == "upgrade")
    assert "swap" not in upgrade_phase["errors_by_cause"] and upgrade_phase["errors_by_cause"]["statements"] > 0
    gates = {g["name"]: g for g in summary["gates"]}
    assert gates["errors[upgrade,cause=swap] <= 0"]["passed"]
    assert gates["errors[upgrade,cause=swap] <= 0"]["observed"] == 0


@pytest.mark.slow
def test_sqlstates_of_bare_500s_come_from_the_server_log(upgrade) -> None:
    _, run_dir = upgrade
    errors = _summary(run_dir)["errors"]
    found = {(e["phase"], e["name"], e["sqlstate"]) for e in errors if e["sqlstate_source"] == "server log"}
    assert ("upgrade", "/notes/[id]", "22P02") in found, errors  # 1.0 on the uuid keys: '123' is no uuid
    # uuid = smallint (/touch binds a number): requests failing at the same moment are matched by time alone, so
    # which of them gets which error can swap; that the server's 42883 is found for the upgrade cannot
    assert any(phase == "upgrade" and sqlstate == "42883" for phase, _, sqlstate in found), errors
    assert ("rollback", "/login", "42703") in found  # 2.0 on the rolled-back schema: no password_algo
    assert all(e["cause"] == "statements" for e in errors if e["sqlstate"] in ("22P02", "42883", "42703"))
    md = (run_dir / "summary.md").read_text()
    assert "| upgrade | /notes/[id] | 22P02 (server log) | invalid text representation | statements (#2)" in md


@pytest.mark.slow
def test_waits_are_blamed_on_the_statement_that_took_the_lock_and_held_it_to_commit(upgrade) -> None:
    _, run_dir = upgrade
    traced = [s for s in _summary(run_dir)["statements"] if s["origin"] == "traced" and s["phase"] == "upgrade"]
    add_algo = next(s for s in traced if s["sql"].startswith("ALTER TABLE accounts ADD COLUMN password_algo"))
    commit = next(s for s in traced if s["sql"] == "COMMIT")
    assert "AccessExclusiveLock accounts" in add_algo["locks"]
    assert add_algo["duration_ms"] < 100
    assert add_algo["held_ms"] >= (commit["ended"] - add_algo["started"]) * 1000 - 1, "held to COMMIT"
    assert add_algo["blamed_waits"] >= 1, "waits on accounts that began during later statements are its own"
    rewrite = next(s for s in traced if s["sql"].startswith("ALTER TABLE notes ADD COLUMN uid"))
    assert "notes" in rewrite["rewrites"], "command migrations show their rewrites too"
    others = [s for s in traced if s is not rewrite and s["rewrites"]]
    assert others == [], others
    visible = (run_dir / "summary.md").read_text().split("## Migration statements", 1)[1].split("\n## ", 1)[0]
    chatter = [s for s in traced if s["chatter"]]
    assert {"select pg_catalog.version()", 'SAVEPOINT "_pg3_1"'} <= {s["sql"] for s in chatter}
    assert "pg_catalog.version" not in visible and "SAVEPOINT" not in visible
    # the tool's bookkeeping is folded unless a wait began under it (under load, one of alembic's UPDATEs can be
    # the statement running while requests queue on the transaction's locks: then it is shown, as it should be)
    for statement in traced:
        if "alembic_version" in statement["sql"]:
            assert (_sql(statement["sql"]) in visible) == (not statement["chatter"]), statement


@pytest.mark.slow
def test_the_lock_order_inversion_is_flagged_as_a_deadlock_risk(upgrade) -> None:
    _, run_dir = upgrade
    (risk,) = _summary(run_dir)["lock_order_risks"]
    assert risk["tables"] == ["accounts", "notes"]
    assert risk["migration_order"][0].startswith("AccessExclusiveLock accounts (#2 ALTER TABLE accounts")
    assert risk["app_order"] == ["RowExclusiveLock notes", "RowExclusiveLock accounts"]
    assert risk["app_transactions"] >= 3
    assert "## Deadlock risks: lock order" in (run_dir / "summary.md").read_text()


@pytest.mark.slow
def test_natural_keys_match_rekeyed_rows_and_rehashed_passwords_fail_the_rollback(upgrade) -> None:
    _, run_dir = upgrade
    summary = _summary(run_dir)
    rollback = summary["rollback"]
    assert rollback["checked"] and not rollback["safe"]
    by_table = {(c["table"], c["compared_with"]): c for c in rollback["data_changes"]}
    notes = by_table[("notes", "baseline")]
    assert notes["key_columns"] == ["slug"] and notes["lost"] == 0, "renumbered notes are found by slug"
    accounts = by_table[("accounts", "baseline")]
    assert accounts["key_columns"] == ["email"] and list(accounts["changed_columns"]) == ["password_hash"]
    assert accounts["changed"] == accounts["changed_columns"]["password_hash"] > 0
    logins = [e for e in summary["errors"] if e["phase"] == "post_rollback" and e["name"] == "/login"]
    assert logins and logins[0]["statuses"] == {"401": logins[0]["errors"]}, "1.0 cannot read bcrypt hashes"


@pytest.mark.slow
def test_lint_reads_the_sql_alembic_would_run_with_the_releases_runtime(notes: Path) -> None:
    result = _cli("lint", str(notes), timeout=120)
    assert result.returncode == 1
    assert f'releases."2.0" up: 9 statements read from the SQL it would run, printed offline by {notes}/.venv-2' \
        in result.stdout
    assert "    ALTER TABLE notes ADD COLUMN uid uuid NOT NULL DEFAULT uuid_generate_v4()" in result.stdout
    assert "UPDATE alembic_version" not in result.stdout


@pytest.fixture(scope="module")
def failing_downgrade(notes: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess,
                                                                                        Path]:
    out = tmp_path_factory.mktemp("notes-2.1")
    result = _cli("run", str(notes), "--to", "2.1", "--repeat", "2", "--out", str(out), *REPEAT_SMALL, timeout=400)
    (parent,) = out.iterdir()
    return result, parent


@pytest.mark.slow
def test_a_failed_down_migration_stays_on_the_new_version_and_says_so(failing_downgrade) -> None:
    _, parent = failing_downgrade
    run_dir = sorted(p for p in parent.iterdir() if p.is_dir())[0]
    summary = _summary(run_dir)
    (failed,) = summary["failed_reverts"]
    assert failed["on_failure"] == "stay" and failed["served_after"] == "2.1"
    swap_back = next(a for a in summary["actions"] if a["name"] == "swap_back")
    assert swap_back["status"] == "skipped" and "2.1 keeps serving" in swap_back["message"]
    assert summary["phases"][-1]["to_version"] == "2.1"
    assert summary["migration_errors"] == 1
    down = [s for s in summary["statements"] if s["phase"] == "rollback"]
    command = next(s for s in down if s["origin"] == "command")
    assert command["sqlstate"] == "22001" and "exit code 1" in command["error"]
    failing = next(s for s in down if s["origin"] == "traced" and s["error"])
    assert failing["sql"] == "ALTER TABLE notes ALTER COLUMN title TYPE varchar(100)" and failing["sqlstate"] == "22001"
    assert [s for s in down if s["origin"] == "traced" and s["error"]] == [failing], "one failure, one error"
    md = (run_dir / "summary.md").read_text()
    assert "nan" not in md.lower() and "**Down-migrations failed** in rollback" in md
    assert "| 22001: value too long for type character varying(100)" in md


@pytest.mark.slow
def test_repeat_reports_how_often_each_outcome_occurred(failing_downgrade) -> None:
    result, parent = failing_downgrade
    assert result.returncode == 1, result.stderr
    report = json.loads((parent / "repeat.json").read_text())
    assert report["runs"] == 2 and len(report["repetitions"]) == 2
    assert report["frequencies"]["migration failed (22001) in rollback"] == 2
    assert report["frequencies"]["verdict fail"] == 2
    assert all(Path(r["run_dir"]).parent == parent for r in report["repetitions"])
    assert "| migration failed (22001) in rollback | 2 of 2 | 100% |" in (parent / "repeat.md").read_text()
    assert "outcomes of 2 runs:" in result.stdout


@pytest.mark.slow
def test_an_undeclared_missing_extension_fails_the_setup_naming_it(notes: Path, tmp_path: Path) -> None:
    """The embedded PostgreSQL 18 has no pgcrypto: without environment.extensions the first migration fails,
    and the failure says which extension is missing and where to get it, not just an exit code."""
    result = _cli("run", str(notes), "--out", str(tmp_path), "--set", "environment.postgres_version=18",
                  "--set", "environment.extensions=[]", timeout=120)
    assert result.returncode == 3, result.stderr
    line = result.stderr.strip().splitlines()[0]  # then the partial report's path
    assert "setting up the 1.0 schema failed" in line and "exit code 1" in line
    assert 'extension "pgcrypto" is not available' in line
    assert 'declare environment.extensions = ["pgcrypto"]' in line and "apt-get install postgresql-18" in line
    (run_dir,) = tmp_path.iterdir()
    assert processes_of(run_dir.name) == [] and postgres_temp_dirs(run_dir.name) == []
