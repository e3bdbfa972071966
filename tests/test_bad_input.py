"""Bad input, as a hostile user would give it: every entry of the corpus (the defects the reliability issue found
and a hundred more) must end with exit code 2 and one line naming the file, the key and the problem, before
anything starts; property-based tests (hypothesis, bounded) feed the plan loader bytes, TOML, mutations of the
demo plan, --set values, SQL files and locustfiles, and allow no other outcome than a plan or that one line."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli
from harness.core.errors import InputError
from harness.plan import load_plan, parse_override
from harness.timeline.actions import compile_timeline

from .conftest import REPO

SHOP = REPO / "scenarios" / "shop"
Edit = Callable[[Path], None]


def _replace(old: str, new: str, file: str = "rehearsal.toml") -> Edit:
    def edit(root: Path) -> None:
        path = root / file
        text = path.read_text()
        assert old in text, f"{old!r} not in {file}"
        path.write_text(text.replace(old, new, 1))
    return edit


def _append(text: str) -> Edit:
    return lambda root: (root / "rehearsal.toml").write_text((root / "rehearsal.toml").read_text() + "\n" + text)


def _write(file: str, data: bytes | str) -> Edit:
    def edit(root: Path) -> None:
        path = root / file
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return edit


def _remove(file: str) -> Edit:
    return lambda root: (root / file).unlink()


R20 = 'releases."2.0"'
UP_20 = "releases/2.0/migrations/001_order_currency.up.sql"
DOWN_20 = "releases/2.0/migrations/001_order_currency.down.sql"
UP_10 = "releases/1.0/migrations/001_schema.up.sql"
CMD_MIGRATIONS = '{ up = ["alembic", "upgrade"], down = ["alembic", "downgrade"]'

# (name, edit of a copy of the demo scenario, key the line must name (None: the file alone), file it names)
EDITS: list[tuple[str, Edit, str | None, str]] = [
    ("non-UTF-8 plan", _write("rehearsal.toml", b"[scenario]\nname = \"\xff\xfe\"\n"), None, "rehearsal.toml"),
    ("empty plan", _write("rehearsal.toml", ""), "scenario", "rehearsal.toml"),
    ("NUL in plan", _write("rehearsal.toml", b"[scenario]\x00\n"), None, "rehearsal.toml"),
    ("duplicate key", _replace('name = "shop"', 'name = "shop"\nname = "x"'), None, "rehearsal.toml"),
    ("upgrades_from list", _replace('upgrades_from = "1.0"', 'upgrades_from = ["1.0"]'),
     f"{R20}.upgrades_from", "rehearsal.toml"),
    ("upgrades_from unknown", _replace('upgrades_from = "1.0"', 'upgrades_from = "0.9"'), f"{R20}.upgrades_from",
     "rehearsal.toml"),
    ("upgrades_from itself", _replace('upgrades_from = "1.0"', 'upgrades_from = "2.0"'), "versions",
     "rehearsal.toml"),
    ("release command int", _replace('[releases."1.0"]', '[releases."1.0"]\ncommand = 5'),
     'releases."1.0".command', "rehearsal.toml"),
    ("release command ints", _replace('[releases."1.0"]', '[releases."1.0"]\ncommand = [1, 2]'),
     'releases."1.0".command', "rehearsal.toml"),
    ("release command empty", _replace('[releases."1.0"]', '[releases."1.0"]\ncommand = []'),
     'releases."1.0".command', "rehearsal.toml"),
    ("migrations cwd int", _replace('migrations = { sql = "migrations" }\n\n# The same',
                                    f'migrations = {CMD_MIGRATIONS}, cwd = 5 }}\n\n# The same'),
     f"{R20}.migrations.cwd", "rehearsal.toml"),
    ("migrations cwd missing dir", _replace('migrations = { sql = "migrations" }\n\n# The same',
                                            f'migrations = {CMD_MIGRATIONS}, cwd = "nope" }}\n\n# The same'),
     f"{R20}.migrations.cwd", "rehearsal.toml"),
    ("migrations up only", _replace('migrations = { sql = "migrations" }\n\n# The same',
                                    'migrations = { up = ["x"] }\n\n# The same'), f"{R20}.migrations",
     "rehearsal.toml"),
    ("migrations empty", _replace('migrations = { sql = "migrations" }\n\n# The same', 'migrations = {}\n\n# The same'),
     f"{R20}.migrations", "rehearsal.toml"),
    ("migrations sql missing", _replace('migrations = { sql = "migrations" }\n\n# The same',
                                        'migrations = { sql = "nope" }\n\n# The same'), f"{R20}.migrations.sql",
     "rehearsal.toml"),
    ("migrations unknown key", _replace('migrations = { sql = "migrations" }\n\n# The same',
                                        'migrations = { sql = "migrations", lock_timeout = 5 }\n\n# The same'),
     f"{R20}.migrations.lock_timeout", "rehearsal.toml"),
    ("migrations deadline 0", _replace('migrations = { sql = "migrations" }\n\n# The same',
                                       'migrations = { sql = "migrations", step_deadline_s = 0 }\n\n# The same'),
     f"{R20}.migrations.step_deadline_s", "rehearsal.toml"),
    ("release unknown key", _replace('[releases."1.0"]', '[releases."1.0"]\nimagee = "x"'), 'releases."1.0".imagee',
     "rehearsal.toml"),
    ("release not a table", _append('[releases]\n"3.0" = 5'), None, "rehearsal.toml"),
    ("release dir missing", _replace('dir = "releases/1.0"', 'dir = "releases/nope"'), 'releases."1.0".dir',
     "rehearsal.toml"),
    ("gate endpoint int", _replace('metric = "p99_ms"\nphase = "upgrade"', 'metric = "p99_ms"\nendpoint = 5'),
     "gates[0].endpoint", "rehearsal.toml"),
    ("gate metric unknown", _replace('metric = "p99_ms"', 'metric = "p99"'), "gates[0].metric", "rehearsal.toml"),
    ("gate phase unknown", _replace('phase = "upgrade"\nmax = 1000', 'phase = "upgrad"\nmax = 1000'),
     "gates[0].phase", "rehearsal.toml"),
    ("gate both bounds", _replace("max = 1000", "max = 1000\nmin = 1"), "gates[0]", "rehearsal.toml"),
    ("gate no bound", _replace("max = 1000\n", ""), "gates[0]", "rehearsal.toml"),
    ("gate max string", _replace("max = 1000", 'max = "1s"'), "gates[0].max", "rehearsal.toml"),
    ("gate max nan", _replace("max = 1000", "max = nan"), "gates[0].max", "rehearsal.toml"),
    ("gate max inf", _replace("max = 1000", "max = inf"), "gates[0].max", "rehearsal.toml"),
    # issue 14: every metric but rollback_safe can be limited to a phase
    ("gate phase on rollback_safe", _replace('metric = "rollback_safe"', 'metric = "rollback_safe"\n'
                                             'phase = "upgrade"'), "gates[6].phase", "rehearsal.toml"),
    ("gate cause on a step metric", _replace('metric = "downtime_s"', 'metric = "downtime_s"\n'
                                             'cause = "swap"'), "gates[5].cause", "rehearsal.toml"),
    ("gate unknown key", _replace("max = 1000", "max = 1000\nlimit = 3"), "gates[0].limit", "rehearsal.toml"),
    ("gates not a list", _append("gates = 5"), None, "rehearsal.toml"),
    ("health_path relative", _replace('health_path = "/health"', 'health_path = "health"'), "service.health_path",
     "rehearsal.toml"),
    ("health_path int", _replace('health_path = "/health"', "health_path = 5"), "service.health_path",
     "rehearsal.toml"),
    ("database quote", _replace('database = "shop"', "database = 'shop\"x'"), "environment.database",
     "rehearsal.toml"),
    ("database empty", _replace('database = "shop"', 'database = ""'), "environment.database", "rehearsal.toml"),
    ("database too long", _replace('database = "shop"', f'database = "{"a" * 64}"'), "environment.database",
     "rehearsal.toml"),
    ("database semicolon", _replace('database = "shop"', 'database = "shop; DROP"'), "environment.database",
     "rehearsal.toml"),
    ("lock_timeout huge", _replace("lock_timeout_ms = 200", "lock_timeout_ms = 3000000000"),
     'releases."2.1".migrations.lock_timeout_ms', "rehearsal.toml"),
    ("lock_timeout negative", _replace("lock_timeout_ms = 200", "lock_timeout_ms = -200"),
     'releases."2.1".migrations.lock_timeout_ms', "rehearsal.toml"),
    ("lock_retries huge", _replace("lock_retries = 30", "lock_retries = 100000"),
     'releases."2.1".migrations.lock_retries', "rehearsal.toml"),
    ("retry_backoff 0", _replace("retry_backoff_ms = 50", "retry_backoff_ms = 0"),
     'releases."2.1".migrations.retry_backoff_ms', "rehearsal.toml"),
    ("upgrade transaction", _append('[upgrade]\ntransaction = "sometimes"'), "upgrade.transaction", "rehearsal.toml"),
    ("upgrade statement_timeout string", _append('[upgrade]\nstatement_timeout_ms = "1s"'),
     "upgrade.statement_timeout_ms", "rehearsal.toml"),
    ("upgrade deadline negative", _append("[upgrade]\nstep_deadline_s = -1"), "upgrade.step_deadline_s",
     "rehearsal.toml"),
    ("upgrade deadline nan", _append("[upgrade]\nstep_deadline_s = nan"), "upgrade.step_deadline_s",
     "rehearsal.toml"),
    ("upgrade unknown", _append("[upgrade]\nlock_timeout = 5"), "upgrade.lock_timeout", "rehearsal.toml"),
    ("seed rows 0", _replace("rows = 1000000", "rows = 0"), "seed.rows", "rehearsal.toml"),
    ("seed rows float", _replace("rows = 1000000", "rows = 1.5"), "seed.rows", "rehearsal.toml"),
    ("seed rows string", _replace("rows = 1000000", 'rows = "many"'), "seed.rows", "rehearsal.toml"),
    ("seed command empty string", _replace('command = ["{python}", "seed.py", "--orders", "{rows}"]',
                                           'command = ""'), "seed.command", "rehearsal.toml"),
    ("seed command list of ints", _replace('command = ["{python}", "seed.py", "--orders", "{rows}"]',
                                           "command = [1]"), "seed.command", "rehearsal.toml"),
    ("seed deadline 0", _replace("rows = 1000000", "rows = 1000000\ndeadline_s = 0"), "seed.deadline_s",
     "rehearsal.toml"),
    ("seed unknown", _replace("rows = 1000000", "rows = 1000000\nrow = 5"), "seed.row", "rehearsal.toml"),
    ("users 0", _replace("users = 40", "users = 0"), "load.users", "rehearsal.toml"),
    ("users huge", _replace("users = 40", "users = 1000000"), "load.users", "rehearsal.toml"),
    ("users bool", _replace("users = 40", "users = true"), "load.users", "rehearsal.toml"),
    ("spawn_rate 0", _replace("spawn_rate = 40", "spawn_rate = 0"), "load.spawn_rate", "rehearsal.toml"),
    ("spawn_rate string", _replace("spawn_rate = 40", 'spawn_rate = "fast"'), "load.spawn_rate", "rehearsal.toml"),
    ("load env int", _replace('env = { SEED_ROWS = "{rows}" }', "env = 5"), "load.env", "rehearsal.toml"),
    ("load env list value", _replace('env = { SEED_ROWS = "{rows}" }', "env = { X = [1] }"), "load.env.X",
     "rehearsal.toml"),
    ("load env bool value", _replace('env = { SEED_ROWS = "{rows}" }', "env = { X = true }"), "load.env.X",
     "rehearsal.toml"),
    ("locustfile int", _replace('locustfile = "locustfile.py"', "locustfile = 5"), "load.locustfile",
     "rehearsal.toml"),
    ("locustfile missing", _replace('locustfile = "locustfile.py"', 'locustfile = "nope.py"'), "load.locustfile",
     "rehearsal.toml"),
    ("locustfile a directory", _replace('locustfile = "locustfile.py"', 'locustfile = "releases"'),
     "load.locustfile", "rehearsal.toml"),
    ("load unknown", _replace("users = 40", "users = 40\nuser = 5"), "load.user", "rehearsal.toml"),
    ("start_timeout 0", _replace("start_timeout_s = 30", "start_timeout_s = 0"), "service.start_timeout_s",
     "rehearsal.toml"),
    ("start_timeout huge", _replace("start_timeout_s = 30", "start_timeout_s = 1e9"), "service.start_timeout_s",
     "rehearsal.toml"),
    ("stop_timeout string", _replace("stop_timeout_s = 10", 'stop_timeout_s = "10s"'), "service.stop_timeout_s",
     "rehearsal.toml"),
    ("service unknown", _replace("stop_timeout_s = 10", "stop_timeout_s = 10\nport = 80"), "service.port",
     "rehearsal.toml"),
    ("service env DATABASE_URL elsewhere", _replace("stop_timeout_s = 10", 'stop_timeout_s = 10\nenv = { '
                                                    'DATABASE_URL = "postgresql://app:pw@db.example.com/prod" }'),
     "service.env.DATABASE_URL", "rehearsal.toml"),
    ("service env DATABASE_URL loopback", _replace("stop_timeout_s = 10", 'stop_timeout_s = 10\nenv = { '
                                                   'DATABASE_URL = "postgresql://app@127.0.0.1:5432/prod" }'),
     "service.env.DATABASE_URL", "rehearsal.toml"),
    ("service env PGHOST", _replace("stop_timeout_s = 10", 'stop_timeout_s = 10\nenv = { PGHOST = "db.invalid" }'),
     "service.env.PGHOST", "rehearsal.toml"),
    ("service env HOST all interfaces", _replace("stop_timeout_s = 10",
                                                 'stop_timeout_s = 10\nenv = { HOST = "0.0.0.0" }'),
     "service.env.HOST", "rehearsal.toml"),
    ("service env URL lookalike", _replace("stop_timeout_s = 10", 'stop_timeout_s = 10\nenv = { '
                                           'API = "http://localhost.example.com/v1" }'), "service.env.API",
     "rehearsal.toml"),
    ("load env URL elsewhere", _replace('env = { SEED_ROWS = "{rows}" }',
                                        'env = { TARGET = "https://shop.example/api" }'), "load.env.TARGET",
     "rehearsal.toml"),
    ("seed command URL elsewhere", _replace('command = ["{python}", "seed.py", "--orders", "{rows}"]',
                                            'command = ["{python}", "seed.py", "postgresql://db.invalid/prod"]'),
     "seed.command[2]", "rehearsal.toml"),
    ("seed command host flag", _replace('command = ["{python}", "seed.py", "--orders", "{rows}"]',
                                        'command = ["{python}", "seed.py", "--host", "10.0.0.5"]'),
     "seed.command[3]", "rehearsal.toml"),
    ("targets allow not confirmed", _replace("stop_timeout_s = 10", 'stop_timeout_s = 10\nenv = { '
                                             'PGHOST = "staging.example" }\n[targets]\nallow = ["staging.example"]'),
     "service.env.PGHOST", "rehearsal.toml"),
    ("targets allow string", _append('[targets]\nallow = "staging.example"'), "targets.allow", "rehearsal.toml"),
    ("targets unknown", _append("[targets]\nalow = []"), "targets.alow", "rehearsal.toml"),
    ("environment kind", _replace('kind = "auto"', 'kind = "cloud"'), "environment.kind", "rehearsal.toml"),
    ("environment network", _append('[environment]\nnetwork = "overlay"'), None, "rehearsal.toml"),
    ("postgres_bin missing", _replace('database = "shop"', 'database = "shop"\npostgres_bin = "/no/such/bin"'),
     "environment.postgres_bin", "rehearsal.toml"),
    ("postgres_image empty", _replace('database = "shop"', 'database = "shop"\npostgres_image = " "'),
     "environment.postgres_image", "rehearsal.toml"),
    ("environment unknown", _replace('database = "shop"', 'database = "shop"\nkindd = "local"'),
     "environment.kindd", "rehearsal.toml"),
    ("lock interval 0", _replace("lock_sample_interval_ms = 50", "lock_sample_interval_ms = 0"),
     "observe.lock_sample_interval_ms", "rehearsal.toml"),
    ("health interval 1", _replace("lock_sample_interval_ms = 50", "lock_sample_interval_ms = 50\n"
                                   "health_interval_ms = 1"), "observe.health_interval_ms", "rehearsal.toml"),
    ("observe unknown", _replace("lock_sample_interval_ms = 50", "lock_sample_interval_ms = 50\nsample = 1"),
     "observe.sample", "rehearsal.toml"),
    ("rollback tables string", _replace('tables = ["customers", "products", "orders"]', 'tables = "orders"'),
     "rollback.tables", "rehearsal.toml"),
    ("rollback tables int", _replace('tables = ["customers", "products", "orders"]', "tables = [5]"),
     "rollback.tables", "rehearsal.toml"),
    ("rollback tables empty name", _replace('tables = ["customers", "products", "orders"]', 'tables = [""]'),
     "rollback.tables", "rehearsal.toml"),
    ("phases baseline", _replace("baseline_s = 30", "baseline = 3"), "phases.baseline", "rehearsal.toml"),
    ("phases nan", _replace("baseline_s = 30", "baseline_s = nan"), "phases.baseline_s", "rehearsal.toml"),
    ("phases inf", _replace("baseline_s = 30", "baseline_s = inf"), "phases.baseline_s", "rehearsal.toml"),
    ("phases negative", _replace("baseline_s = 30", "baseline_s = -1"), "phases.baseline_s", "rehearsal.toml"),
    ("phases too long", _replace("baseline_s = 30", "baseline_s = 1e7"), "phases.baseline_s", "rehearsal.toml"),
    ("timeline not a list", _append("timeline = 5"), "timeline", "rehearsal.toml"),
    ("timeline empty", _append("timeline = []"), "timeline", "rehearsal.toml"),
    ("timeline bad name", _append('[[timeline]]\nphase = "a b"'), "timeline[0].phase", "rehearsal.toml"),
    ("timeline reserved name", _append('[[timeline]]\nphase = "setup"'), "timeline[0].phase", "rehearsal.toml"),
    ("timeline soak inf", _append('[[timeline]]\nphase = "a"\nsoak_s = inf'), "timeline[0].soak_s", "rehearsal.toml"),
    ("timeline action int", _append('[[timeline]]\nphase = "a"\nactions = [5]'), "timeline[0].actions[0]",
     "rehearsal.toml"),
    ("contention kind", _append('[[contention]]\nkind = "deadlock"\ntable = "orders"'), "contention[0].kind",
     "rehearsal.toml"),
    ("contention table int", _append('[[contention]]\nkind = "long_query"\ntable = 5'), "contention[0].table",
     "rehearsal.toml"),
    ("contention phase", _append('[[contention]]\nkind = "long_query"\ntable = "orders"\nphase = "x"'),
     "contention[0].phase", "rehearsal.toml"),
    ("contention seconds 0", _append('[[contention]]\nkind = "long_query"\ntable = "orders"\nseconds = 0'),
     "contention[0].seconds", "rehearsal.toml"),
    ("scenario int", _replace('[scenario]\nname = "shop"', "scenario = 5"), "scenario", "rehearsal.toml"),
    ("scenario name int", _replace('name = "shop"', "name = 5"), "scenario.name", "rehearsal.toml"),
    ("scenario name empty", _replace('name = "shop"', 'name = ""'), "scenario.name", "rehearsal.toml"),
    ("unknown section", _append("[surprise]\nx = 1"), "surprise", "rehearsal.toml"),
    ("versions missing", _replace('[versions]\nfrom = "1.0"\nto = "2.0"', ""), "versions", "rehearsal.toml"),
    ("versions from float", _replace('from = "1.0"', "from = 1.0"), "versions.from", "rehearsal.toml"),
    ("versions same", _replace('to = "2.0"', 'to = "1.0"'), "versions.to", "rehearsal.toml"),
    ("versions to unknown", _replace('to = "2.0"', 'to = "9.9"'), "versions.to", "rehearsal.toml"),
    ("unparsable up SQL", _write(UP_20, "ALTER TABLE orders ADD COLUMN;"), 'releases."2.0".migrations.sql',
     "001_order_currency.up.sql"),
    ("unparsable down SQL", _write(DOWN_20, "DROP COLUMN currency FROM;"), 'releases."2.0".migrations.sql',
     "001_order_currency.down.sql"),
    ("non-UTF-8 SQL", _write(UP_20, b"SELECT '\xff';"), 'releases."2.0".migrations.sql', "001_order_currency.up.sql"),
    ("NUL in SQL", _write(UP_20, b"SELECT 1;\x00"), 'releases."2.0".migrations.sql', "001_order_currency.up.sql"),
    ("unparsable setup SQL", _write(UP_10, "CREATE TABLE (;"), 'releases."1.0".migrations.sql',
     "001_schema.up.sql"),
    ("up without down", _remove(DOWN_20), f"{R20}.migrations.sql", "rehearsal.toml"),
    ("locustfile syntax error", _write("locustfile.py", "class ShopUser(:\n"), "load.locustfile", "rehearsal.toml"),
    ("locustfile not UTF-8", _write("locustfile.py", b"# \xff\nclass U: pass\n"), "load.locustfile",
     "rehearsal.toml"),
    ("locustfile without a class", _write("locustfile.py", "print('hello')\n"), "load.locustfile",
     "rehearsal.toml"),
    ("locustfile empty", _write("locustfile.py", ""), "load.locustfile", "rehearsal.toml"),
    ("locustfile NUL", _write("locustfile.py", b"class U: pass\n\x00"), "load.locustfile", "rehearsal.toml"),
]

# (--set value, key the line must name)
SETS: list[tuple[str, str]] = [
    ("load.user=5", "load.user"), ("load.userz=5", "load.userz"), ("phases.baseline=3", "phases.baseline"),
    ("phases.baseline_s=nan", "phases.baseline_s"), ("phases.baseline_s=inf", "phases.baseline_s"),
    ("phases.baseline_s=-inf", "phases.baseline_s"), ('phases.baseline_s="3"', "phases.baseline_s"),
    ("load.users=nan", "load.users"), ("load.users=1e3", "load.users"), ("load.users=-1", "load.users"),
    ("load=5", "load"), ("load.users.x=5", "load.users"), ("seed.rows=-1", "seed.rows"),
    ("environment.kind=cloud", "environment.kind"), ("versions.to=9.9", "versions.to"),
    ("upgrade.lock_timeout_ms=3000000000", "upgrade.lock_timeout_ms"), ("upgrade.step_deadline_s=0",
                                                                         "upgrade.step_deadline_s"),
    ("rollback.tables=orders", "rollback.tables"), ("gates=[{metric='p99_ms'}]", "gates[0]"),
    ("service.env.HOST=0.0.0.0", "service.env.HOST"), ("targets.allow=[1]", "targets.allow"),
    ("novalue", "novalue"), ("=5", "=5"), ("load..users=5", "load..users=5"), (" =x", " =x"),
]


@pytest.fixture()
def shop_copy(tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(SHOP, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse's own errors leave through SystemExit, as `python -m` shows them
        code = exit_.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.mark.parametrize(("name", "edit", "key", "file"), EDITS, ids=[e[0] for e in EDITS])
def test_every_bad_plan_is_one_line_naming_file_and_key(name: str, edit: Edit, key: str | None, file: str,
                                                        shop_copy: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    edit(shop_copy)
    line = _one_line(["check", str(shop_copy)], capsys)  # check starts nothing, even if the input were accepted
    assert file in line and (key is None or f"{key}:" in line), line
    out = tmp_path / "out"
    assert _one_line(["run", str(shop_copy), "--out", str(out)], capsys) == line
    assert not out.exists(), "nothing started: not even a run directory"


@pytest.mark.parametrize(("text", "key"), SETS, ids=[s[0] for s in SETS])
def test_every_bad_set_is_one_line_naming_the_key(text: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line(["check", str(SHOP), "--set", text], capsys)
    assert key in line and ("--set" in line), line


@pytest.mark.parametrize("argv", [["run"], ["run", "scenarios/shop", "--env", "moon"], ["run", "/no/such/plan"],
                                  ["report", "/"], ["run", "scenarios/shop", "--bogus"], ["nope"], []])
def test_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    _one_line(argv, capsys)


def test_the_corpus_size_is_the_figure_the_issue_asks_for() -> None:
    print(f"\nbad inputs tried: {len(EDITS) + len(SETS) + 7}")
    assert len(EDITS) + len(SETS) + 7 >= 107


def test_a_confirmed_staging_target_is_accepted(shop_copy: Path) -> None:
    _replace("stop_timeout_s = 10", 'stop_timeout_s = 10\nenv = { PGHOST = "staging.example" }\n'
             '[targets]\nallow = ["staging.example"]')(shop_copy)
    assert load_plan(shop_copy, targets_confirmed=True).service_env["PGHOST"] == "staging.example"


# -- property-based: nothing but a plan or one InputError, whatever the input -------------------------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _loads_or_input_error(target: Path, overrides: dict | None = None) -> None:
    try:
        compile_timeline(load_plan(target, overrides))
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).strip(), repr(exc)


values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20) | st.sampled_from(["{dsn}", "../..", "0.0.0.0", "http://localhost.example.com", "nan"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)
KEYS = ["scenario.name", "environment.kind", "environment.database", "versions.from", "versions.to",
        'releases.x', "service.command", "service.env", "service.health_path", "service.start_timeout_s", "seed",
        "seed.rows", "seed.command", "load.users", "load.spawn_rate", "load.env", "load.locustfile", "phases",
        "phases.baseline_s", "timeline", "observe.lock_sample_interval_ms", "rollback.tables", "gates", "upgrade",
        "upgrade.lock_timeout_ms", "upgrade.transaction", "contention", "targets.allow", "extra", "load.x"]


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=3))
def test_mutations_of_the_demo_plan(mutation: dict) -> None:
    mutation.pop("scenario.name", None) if isinstance(mutation.get("scenario.name"), str) else None
    try:
        _loads_or_input_error(SHOP, mutation)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the property: nothing else may escape
        raise AssertionError(f"{mutation!r} -> {type(exc).__name__}: {exc}") from exc


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_as_a_plan(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "rehearsal.toml").write_bytes(data)
    _loads_or_input_error(directory)


toml_lines = st.lists(st.sampled_from([
    "[scenario]", 'name = "x"', "[versions]", 'from = "1.0"', 'to = "2.0"', '[releases."1.0"]',
    '[releases."2.0"]', 'upgrades_from = "1.0"', 'dir = "."', 'command = ["x"]', "[load]", 'locustfile = "p.py"',
    "users = 0", "users = 5", "[[gates]]", 'metric = "p99_ms"', "max = 1", "[[timeline]]", 'phase = "a"',
    'actions = ["migrate"]', "soak_s = nan", "[phases]", "a_s = 1", "[seed]", "rows = 1", "[targets]",
    'allow = ["x"]', "[service]", 'env = { HOST = "0.0.0.0" }', "[rollback]", "tables = []", "x = {",
]), max_size=25)


@FUZZ
@given(lines=toml_lines)
def test_toml_assembled_from_plan_lines(lines: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "rehearsal.toml").write_text("\n".join(lines))
    (directory / "p.py").write_text("class U: pass\n")
    _loads_or_input_error(directory)


@FUZZ
@given(st.text(max_size=60))
def test_any_set_value(text: str) -> None:
    try:
        key, value = parse_override(text)
    except InputError:
        return
    _loads_or_input_error(SHOP, {key: value})


@FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_sql_migration_file(data: bytes, shop_copy: Path) -> None:
    (shop_copy / UP_20).write_bytes(data)
    _loads_or_input_error(shop_copy)


@FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_locustfile(data: bytes, shop_copy: Path) -> None:
    (shop_copy / "locustfile.py").write_bytes(data)
    _loads_or_input_error(shop_copy)


def test_float_edge_values_are_refused() -> None:
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(InputError):
            load_plan(SHOP, {"phases.baseline_s": value})


@pytest.mark.slow
def test_unknown_rollback_tables_are_bad_input_before_any_load(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(REPO / "tests/scenarios/kill_points"),
                             "--out", str(tmp_path), "--set", 'rollback.tables=["orders", "ordres"]'],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "rollback.tables: table 'ordres' does not exist in the v1 schema" in line
    (run_dir,) = tmp_path.iterdir()
    assert not (run_dir / "streams" / "requests.csv").exists(), "reported before the load started"
    assert not (run_dir / "logs" / "seed.log").exists(), "reported before the seed"
