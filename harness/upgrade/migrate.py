"""Apply the migrations of a chain of releases, and revert exactly what was applied."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.environments.base import Database
from harness.plan import Release
from harness.rundir import JsonLines
from harness.upgrade.command import CommandRunner
from harness.upgrade.options import RunnerOptions
from harness.upgrade.sql import SqlRunner, migration_files
from harness.upgrade.steps import Step


@dataclass(frozen=True)
class Applied:
    release: Release
    up_file: Path | None  # None for a command migration


class Migrator:
    """Verbs: apply(releases, phase) runs their up migrations; revert(phase) runs the downs of what applied."""

    def __init__(self, database: Database, stream: JsonLines, log_path: Path, run_id: str,
                 values: dict[str, str], options: RunnerOptions | None = None,
                 backends: JsonLines | None = None) -> None:
        self.stream = stream
        self.steps: list[Step] = []
        self.applied: list[Applied] = []
        self.sql = SqlRunner(database, self._record, options)
        self.command = CommandRunner(database, self._record, log_path, run_id, values, backends)
        self.seq = 0

    def _record(self, step: Step) -> None:
        self.steps.append(step)
        self.stream.write(step.row())

    def apply(self, releases: list[Release], phase: str) -> None:
        """Up-migrate each release in order. Raises MigrationFailed on the first failure."""
        for release in releases:
            migrations = release.migrations
            if migrations.sql_dir is not None:
                for path in migration_files(migrations.sql_dir, "up"):
                    self.seq = self.sql.run([path], phase, release.version, "up", self.seq, migrations.options)
                    self.applied.append(Applied(release, path))
            elif migrations.up_command is not None:
                # A tool may have applied part of its revisions before failing: its down command reverts them.
                self.applied.append(Applied(release, None))
                self.seq = self.command.run(migrations.up_command, migrations.cwd, phase, release.version, "up",
                                            self.seq)

    def revert(self, phase: str) -> None:
        """Down-migrate everything `apply` applied, newest first. Raises MigrationFailed on the first failure."""
        while self.applied:
            item = self.applied[-1]
            migrations = item.release.migrations
            if item.up_file is not None:
                down = item.up_file.with_name(item.up_file.name.replace(".up.sql", ".down.sql"))
                self.seq = self.sql.run([down], phase, item.release.version, "down", self.seq, migrations.options)
            else:
                self.seq = self.command.run(migrations.down_command, migrations.cwd, phase, item.release.version,
                                            "down", self.seq)
            self.applied.pop()
