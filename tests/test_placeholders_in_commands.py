"""Every documented placeholder is expanded in migration and seed commands, the libpq variables are set for
them, and a release's python runs its commands: real commands against a real server."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from harness.core.database import Database
from harness.core.streams import JsonLines
from harness.events import Events
from harness.plan import load_plan
from harness.seed import seed
from harness.upgrade.migrate import Migrator

DUMP = ("import json, os, sys; json.dump({'argv': sys.argv[1:], 'python': sys.executable, "
        "'env': {k: os.environ.get(k) for k in ('PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGAPPNAME', "
        "'VIRTUAL_ENV')}, 'password': bool(os.environ.get('PGPASSWORD'))}, open(os.environ['OUT'], 'w'))")
ARGS = ["{version}", "{release_dir}", "{scenario_dir}", "{rows}", "{db_host}", "{db_port}", "{db_user}",
        "{db_name}"]


def _plan(tmp_path: Path) -> Path:
    (tmp_path / "releases" / "1.0").mkdir(parents=True)
    (tmp_path / "releases" / "2.0").mkdir(parents=True)
    (tmp_path / "locustfile.py").write_text("from locust import HttpUser\n\n\nclass Nobody(HttpUser):\n    pass\n")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = x\n")
    os.symlink(sys.executable, venv / "bin" / "python")
    words = ", ".join(f'"{w}"' for w in ARGS)
    (tmp_path / "rehearsal.toml").write_text(
        f'[scenario]\nname = "p"\n[versions]\nfrom = "1.0"\nto = "2.0"\n[service]\ncommand = ["true"]\n'
        f'[releases."1.0"]\nmigrations = {{ up = ["true"], down = ["true"] }}\n'
        f'[releases."2.0"]\nupgrades_from = "1.0"\npython = "venv"\n'
        f'migrations = {{ up = ["{{python}}", "-c", "{DUMP}", {words}], down = ["true"] }}\n'
        f'[seed]\ncommand = ["{{python}}", "-c", "{DUMP}", {words}]\nrows = 77\n'
        f'[load]\nlocustfile = "locustfile.py"\n')
    return tmp_path


def test_migration_commands_get_every_placeholder_the_releases_python_and_libpq(tmp_path: Path,
                                                                              database: Database,
                                                                              monkeypatch) -> None:
    plan = load_plan(_plan(tmp_path))
    out = tmp_path / "migration.json"
    monkeypatch.setenv("OUT", str(out))
    migrator = Migrator(plan, database, JsonLines(tmp_path / "statements.jsonl"), tmp_path / "migrations.log",
                        "placeholders-test", Events(), lambda message: None)
    migrator.apply(plan.upgrade_path(), phase="upgrade")
    seen = json.loads(out.read_text())
    assert seen["argv"] == ["2.0", str(tmp_path / "releases" / "2.0"), str(tmp_path), "77", database.host,
                            str(database.port), database.user, database.dbname]
    assert seen["python"] == str(tmp_path / "venv" / "bin" / "python"), "the release's interpreter"
    assert seen["env"] | {"password": seen["password"]} == {
        "PGHOST": database.host, "PGPORT": str(database.port), "PGUSER": database.user,
        "PGDATABASE": database.dbname, "PGAPPNAME": "rehearse-migrate", "VIRTUAL_ENV": str(tmp_path / "venv"),
        "password": True}
    assert database.password not in (tmp_path / "migrations.log").read_text()


def test_the_seed_command_gets_the_from_releases_placeholders(tmp_path: Path, database: Database,
                                                             monkeypatch) -> None:
    plan = load_plan(_plan(tmp_path))
    out = tmp_path / "seed.json"
    monkeypatch.setenv("OUT", str(out))
    seed(plan, database, tmp_path / "seed.log", "placeholders-test")
    seen = json.loads(out.read_text())
    assert seen["argv"][:4] == ["1.0", str(tmp_path / "releases" / "1.0"), str(tmp_path), "77"]
    assert seen["env"]["PGAPPNAME"] == "rehearse-seed" and seen["password"]
