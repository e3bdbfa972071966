"""What the migrations really did, from the steps they recorded: which ran, which committed (statements whose
transaction committed; a failed statement takes the rest of its transaction with it), which files are only
partly applied, which down-migrations ran, and the migration tool's own table at each moment."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from harness.core.database import Database
from harness.records.run import MigrationState, Step
from harness.verify.checksum import CHECK_APPLICATION, relation

MAX_VERSION_ROWS = 50


def read_version_table(database: Database, table: str) -> list[str]:
    """The rows of the migration tool's table, as text, sorted (['(absent)'] when it does not exist)."""
    with psycopg.connect(database.dsn(), autocommit=True, application_name=CHECK_APPLICATION) as conn:
        found = conn.execute("SELECT to_regclass(%s)", [table]).fetchone()
        if found is None or found[0] is None:
            return ["(absent)"]
        rows = conn.execute(sql.SQL("SELECT t::text FROM {} t ORDER BY 1 LIMIT {}").format(
            relation(table), sql.Literal(MAX_VERSION_ROWS))).fetchall()
    return [row[0] for row in rows]


@dataclass
class MigrationLedger:
    """Verbs: step(step) for each recorded step, upgrade_ended(status) / rollback_ended(), state()."""

    upgrade_phase: str | None = None
    rollback_phase: str | None = None
    version_table: str | None = None
    steps: list[Step] = field(default_factory=list)
    upgrade: str = "not run"
    versions: dict[str, list[str]] = field(default_factory=dict)
    serving: str | None = None

    def step(self, step: Step) -> None:
        if step.phase in (self.upgrade_phase, self.rollback_phase):
            self.steps.append(step)

    def state(self) -> MigrationState:
        ups = [s for s in self.steps if s.phase == self.upgrade_phase and s.direction == "up"]
        downs = [s for s in self.steps if s.phase == self.rollback_phase and s.direction == "down"]
        failed = next((s for s in ups if s.error), None)
        committed_files: list[str] = []
        partial: list[str] = []
        for source in dict.fromkeys(s.source for s in ups):
            steps = [s for s in ups if s.source == source]
            if not any(s.error for s in steps):
                committed_files.append(source)
            elif failed is not None and any(s.error is None and s.txn != failed.txn for s in steps):
                partial.append(source)
        committed = [s for s in ups if s.error is None and (failed is None or s.txn != failed.txn)]
        down_failed = next((s for s in downs if s.error), None)
        undone = [source for source in dict.fromkeys(s.source for s in downs)
                  if not any(s.error for s in downs if s.source == source)]
        return MigrationState(
            upgrade=self.upgrade, steps_ran=len(committed),
            failed_step=None if failed is None else f"{failed.source}: {failed.sql[:200]} -> "
                                                     f"{failed.sqlstate or 'error'}: {failed.error}",
            committed=committed_files, partial=partial, undone=undone,
            down_failed=None if down_failed is None else f"{down_failed.source}: {down_failed.sql[:200]} -> "
                                                          f"{down_failed.sqlstate or 'error'}: {down_failed.error}",
            version_table=self.version_table, versions=dict(self.versions), serving=self.serving)
