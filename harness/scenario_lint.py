"""Lint what a scenario's migrations would run, whatever runs them: SQL files as they are, and for a migration
tool's commands the SQL the tool emits offline, else the SQL traced while the last rehearsal ran it.

For each release and direction, in order of preference:
  sql        its migration files (migrations = { sql = DIR });
  offline    the release's `sql_command` / `down_sql_command` (prints the SQL without a database), or for
             Alembic `alembic upgrade PREV:REV --sql` derived from its up / down commands;
  traced     the statements the tool ran during the latest rehearsal of this plan (a run directory);
  nothing    not checked, and said so: a release that was not read is never reported clean.
The tool's own bookkeeping (UPDATE alembic_version, ...) is not linted.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pglast

from harness.core.database import Database
from harness.core.errors import InputError
from harness.core.streams import read_json_lines
from harness.core.text import expand
from harness.core.tools import is_bookkeeping, is_chatter
from harness.lint import Finding, lint_sql
from harness.lint.runner import sql_files
from harness.plan import CommandMigrations, Plan, Release, SqlMigrations, placeholders, runtime_env
from harness.rundir import RUN_LOG, RunDir

OFFLINE_TIMEOUT_S = 120
# What offline commands are given as their database: a reserved loopback port nothing listens on, so that a
# tool that tries to connect anyway fails at once, and nothing leaves the machine.
OFFLINE_DATABASE = Database("127.0.0.1", 1, "rehearse-lint", "offline", "offline")


@dataclass
class Source:
    """What was read for one release and direction: how (sql, offline, traced, nothing), from where, the SQL."""

    release: str
    direction: str
    how: str
    where: str
    statements: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    problem: str | None = None

    @property
    def checked(self) -> bool:
        return self.how != "nothing"


def lint_scenario(plan: Plan, run_dir: Path | None = None, reports: Path | None = None) -> list[Source]:
    """Every release's migrations, up and down, linted from the best source there is."""
    traced = _traced_run(plan, run_dir, reports or Path.cwd() / "reports")
    sources: list[Source] = []
    for release in plan.releases.values():
        migrations = release.migrations
        if isinstance(migrations, SqlMigrations):
            sources.append(_sql_dir(release, migrations))
        elif isinstance(migrations, CommandMigrations):
            for direction in ("up", "down"):
                sources.append(_commands(plan, release, migrations, direction, traced))
    return sources


def _sql_dir(release: Release, migrations: SqlMigrations) -> Source:
    source = Source(release.version, "up and down", "sql", str(migrations.dir))
    for file in sql_files(migrations.dir):
        text = file.read_text(encoding="utf-8")
        source.statements += list(pglast.split(text, with_parser=True))
        source.findings += lint_sql(text, str(file))
    return source


def _commands(plan: Plan, release: Release, migrations: CommandMigrations, direction: str,
              traced: RunDir | None) -> Source:
    command = migrations.sql_command if direction == "up" else migrations.down_sql_command
    how = "sql_command" if direction == "up" else "down_sql_command"
    if command is None:
        command = alembic_offline(plan, release, direction)
        how = "alembic --sql"
    if command is not None:
        source = _offline(plan, release, migrations, direction, command, how)
        if source.problem is None or traced is None:
            return source
        problem = source.problem
    else:
        problem = None
    if traced is not None:
        sqls = _traced_sql(traced, release.version, direction)
        if sqls:
            source = Source(release.version, direction, "traced", f"the rehearsal {traced.path}"
                            + (f" ({problem})" if problem else ""), sqls)
            source.findings = _lint_statements(sqls, f'releases."{release.version}" {direction} (traced SQL)')
            return source
    why = problem or "no offline SQL (set the release's sql_command / down_sql_command) and no rehearsal of this " \
        "plan traced it (rehearse it, or give --run RUN_DIR)"
    return Source(release.version, direction, "nothing", "", problem=why)


def alembic_offline(plan: Plan, release: Release, direction: str) -> list[str] | None:
    """`alembic upgrade PREV:REV --sql` (or `downgrade REV:PREV --sql`) for a release whose up command is an
    `alembic upgrade REV`: PREV is what the release it upgrades from upgrades to (none: from the start)."""
    migrations = release.migrations
    assert isinstance(migrations, CommandMigrations)
    target = _alembic_target(migrations.up, "upgrade")
    if target is None:
        return None
    previous_release = plan.releases.get(release.upgrades_from) if release.upgrades_from else None
    previous = None
    if previous_release is not None and isinstance(previous_release.migrations, CommandMigrations):
        previous = _alembic_target(previous_release.migrations.up, "upgrade")
    verb_at = migrations.up.index("upgrade")
    head = migrations.up[:verb_at]
    if direction == "up":
        return [*head, "upgrade", f"{previous}:{target}" if previous else target, "--sql"]
    down_target = _alembic_target(migrations.down, "downgrade")
    if down_target is None or "downgrade" not in migrations.down:
        return None
    return [*migrations.down[:migrations.down.index("downgrade")], "downgrade", f"{target}:{down_target}", "--sql"]


def _alembic_target(command: list[str], verb: str) -> str | None:
    words = [os.path.basename(w) for w in command]
    if not any(w == "alembic" or w.startswith("alembic") for w in words) or verb not in command:
        return None
    rest = [w for w in command[command.index(verb) + 1:] if not w.startswith("-")]
    return rest[0] if rest else None


def _offline(plan: Plan, release: Release, migrations: CommandMigrations, direction: str, command: list[str],
             how: str) -> Source:
    values = placeholders(plan, release, OFFLINE_DATABASE, command=True)
    argv = [expand(word, values) for word in command]
    shown = " ".join(argv).replace(OFFLINE_DATABASE.password, "***")
    env = {**os.environ, **runtime_env(release), **OFFLINE_DATABASE.libpq_env("rehearse-lint")}
    source = Source(release.version, direction, "offline", f"{shown} ({how}, cwd {migrations.cwd})")
    try:
        done = subprocess.run(argv, cwd=migrations.cwd, env=env, capture_output=True, text=True,
                              timeout=OFFLINE_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        source.problem = f"{shown} could not run: {exc}"
        return source
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or [""])[-1]
        source.problem = f"{shown} exited with code {done.returncode}: {last[:200]}"
        return source
    try:
        source.statements = [s for s in pglast.split(done.stdout, with_parser=True) if not is_bookkeeping(s)]
    except pglast.parser.ParseError as exc:
        source.problem = f"{shown} printed SQL that does not parse: {exc}"
        return source
    source.findings = _lint_statements(source.statements, f'releases."{release.version}" {direction} (offline SQL)')
    return source


def _lint_statements(statements: list[str], where: str) -> list[Finding]:
    text = ";\n".join(s.rstrip().rstrip(";") for s in statements) + ";\n"
    try:
        return lint_sql(text, where)
    except InputError:
        return [f for s in statements for f in _lint_one(s, where)]


def _lint_one(sql: str, where: str) -> list[Finding]:
    try:
        return lint_sql(sql, where)
    except InputError:
        return []


def _traced_run(plan: Plan, run_dir: Path | None, reports: Path) -> RunDir | None:
    """The run directory to read traced SQL from: the one given, else the newest under `reports` of this plan."""
    if run_dir is not None:
        started = next((r for r in read_json_lines(run_dir / "streams" / RUN_LOG) if r.get("event") == "run"), None)
        if started is None:
            raise InputError(run_dir, "", f"not a run directory (no streams/{RUN_LOG})")
        return RunDir(run_dir.resolve(), run_dir.name)
    if not reports.is_dir():
        return None
    runs = []
    for candidate in reports.iterdir():
        started = next((r for r in read_json_lines(candidate / "streams" / RUN_LOG) if r.get("event") == "run"), None)
        if started is not None and started.get("plan") == str(plan.path):
            runs.append((candidate.stat().st_mtime, candidate))
    if not runs:
        return None
    newest = max(runs)[1]
    return RunDir(newest, newest.name)


def _traced_sql(run: RunDir, version: str, direction: str) -> list[str]:
    """The statements a release's command ran in that direction, as the rehearsal traced them (tool chatter
    and bookkeeping left out, but not the transaction's BEGIN and COMMIT: the lint reads what ran together)."""
    from harness.result.frames import load_frames  # noqa: PLC0415 - pandas loads only for this fallback

    statements = load_frames(run).statements
    mine = statements[(statements["origin"] == "traced") & (statements["version"] == version)
                      & (statements["direction"] == direction) & (statements["phase"] != "setup")]
    if mine.empty:
        mine = statements[(statements["origin"] == "traced") & (statements["version"] == version)
                          & (statements["direction"] == direction)]
    first_seq = mine["seq"].min() if len(mine) else None  # one run of the command (a re-upgrade repeats it)
    control = ("BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION")
    kept = [str(sql) for sql in mine[mine["seq"] == first_seq]["sql"]
            if str(sql).strip().upper() in control or not is_chatter(str(sql))]
    empty = [i for i in range(len(kept) - 1) if kept[i].upper() == "BEGIN" and kept[i + 1].upper() in control[1:3]]
    return [sql for i, sql in enumerate(kept) if i not in empty and i - 1 not in empty]  # no empty transactions
