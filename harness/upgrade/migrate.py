"""Apply the migrations of a chain of releases, and revert exactly what was applied."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import MigrationError
from harness.core.poller import Report
from harness.core.streams import JsonLines
from harness.events import Events
from harness.plan import CommandMigrations, Plan, Release, SqlMigrations, placeholders, runtime_env
from harness.records.run import Step
from harness.upgrade.command import CommandRunner
from harness.upgrade.sql import SqlRunner, migration_files


@dataclass(frozen=True)
class Applied:
    release: Release
    up_file: Path | None  # None for a command migration
    partial: bool = False  # a SQL file that failed after some of its statements committed


class Migrator:
    """Verbs: apply(releases, phase) runs their up migrations (all, or the next few); pending(releases) says
    which are left; revert(phase) runs the downs of what applied."""

    def __init__(self, plan: Plan, database: Database, stream: JsonLines, log_path: Path, run_id: str,
                 events: Events, report: Report) -> None:
        self.plan, self.stream, self.events, self.database = plan, stream, events, database
        self.steps: list[Step] = []
        self.applied: list[Applied] = []
        self.sql = SqlRunner(database, self._record, plan.runner, report)
        self.command = CommandRunner(database, self._record, log_path, run_id, events)
        self.seq = 0
        self.undone: list[str] = []  # down files / commands the last revert ran to the end

    def kill(self, after_s: float) -> None:
        """Kill what runs the migration now: the SQL runner's backend, or the migration command."""
        self.sql.kill(after_s) or self.command.kill(after_s)

    def _record(self, step: Step) -> None:
        self.steps.append(step)
        self.stream.write(step.row())
        self.events.step_recorded.fire(step=step)

    def pending(self, releases: list[Release]) -> list[Applied]:
        """The units `apply` would run for `releases`, in order, without those already applied (partly too):
        one per SQL file, one per migration command."""
        done = {(a.release.version, a.up_file) for a in self.applied}
        units: list[Applied] = []
        for release in releases:
            migrations = release.migrations
            if isinstance(migrations, SqlMigrations):
                units += [Applied(release, path) for path in migration_files(migrations.dir, "up")]
            elif isinstance(migrations, CommandMigrations):
                units.append(Applied(release, None))
        return [unit for unit in units if (unit.release.version, unit.up_file) not in done]

    def apply(self, releases: list[Release], phase: str, kill_after_s: float | None = None,
              limit: int | None = None) -> int:
        """Up-migrate each release in order (only the first `limit` pending units when given); returns how many
        units ran. Raises MigrationError on the first failure. `kill_after_s`: kill the migration that far in
        (a deploy that crashed mid-way)."""
        todo = self.pending(releases)
        todo = todo if limit is None else todo[:limit]
        timer = None
        if kill_after_s is not None:
            timer = threading.Timer(kill_after_s, self.kill, [kill_after_s])
            timer.daemon = True
            timer.start()
        try:
            self._apply(todo, phase)
        finally:
            if timer is not None:
                timer.cancel()
        return len(todo)

    def _apply(self, units: list[Applied], phase: str) -> None:
        for unit in units:
            release, path, migrations = unit.release, unit.up_file, unit.release.migrations
            if path is not None:
                self.sql.committed = 0
                try:
                    self._sql(path, release, phase, "up")
                except MigrationError:
                    if self.sql.committed:  # its down-migration may undo what did commit
                        self.applied.append(Applied(release, path, partial=True))
                    raise
                self.applied.append(Applied(release, path))
            elif isinstance(migrations, CommandMigrations):
                # A tool may have applied part of its revisions before failing: its down command reverts them.
                self.applied.append(Applied(release, None))
                self.seq = self.command.run(migrations.up, migrations.cwd, self._values(release), phase,
                                            release.version, "up", self.seq, runtime_env(release),
                                            migrations.deadline_s)

    def revert(self, phase: str) -> None:
        """Down-migrate everything `apply` applied, newest first (a partly applied file too). Raises
        MigrationError on the first failure."""
        self.undone = []
        while self.applied:
            item = self.applied[-1]
            migrations = item.release.migrations
            if item.up_file is not None:
                down = item.up_file.with_name(item.up_file.name.replace(".up.sql", ".down.sql"))
                self._sql(down, item.release, phase, "down")
                self.undone.append(down.name)
            elif isinstance(migrations, CommandMigrations):
                self.seq = self.command.run(migrations.down, migrations.cwd, self._values(item.release), phase,
                                            item.release.version, "down", self.seq, runtime_env(item.release),
                                            migrations.deadline_s)
                self.undone.append(" ".join(migrations.down))
            self.applied.pop()

    def _values(self, release: Release) -> dict[str, str]:
        """Every placeholder of a migration command: the release's ({version}, {release_dir}, {python}) and
        the database's ({dsn}, {db_host}, ...)."""
        return placeholders(self.plan, release, self.database, command=True)

    def _sql(self, path: Path, release: Release, phase: str, direction: str) -> None:
        migrations = release.migrations
        assert isinstance(migrations, SqlMigrations)
        self.events.migration_started.fire(phase=phase, version=release.version, direction=direction,
                                           source=path.name, command=None)
        failed = True
        try:
            self.seq = self.sql.run([path], phase, release.version, direction, self.seq, migrations.options)
            failed = False
        finally:
            self.events.migration_ended.fire(phase=phase, version=release.version, direction=direction,
                                             source=path.name, failed=failed)
