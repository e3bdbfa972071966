"""Was the rollback safe? Schema back to baseline, and no row of the named tables lost or changed."""

from __future__ import annotations

from typing import Any

from harness.environments.base import Database
from harness.verify.data import TableChanges, TableSnapshot, compare, snapshot_tables
from harness.verify.schema import schema_diff, snapshot_schema


class RollbackCheck:
    """Verbs, in timeline order: before_upgrade(), before_rollback(), after_rollback(), then result()."""

    def __init__(self, database: Database, tables: list[str]) -> None:
        self.database, self.tables = database, tables
        self.baseline_schema: set[str] | None = None
        self.baseline: dict[str, TableSnapshot] = {}
        self.pre_rollback: dict[str, TableSnapshot] = {}
        self.diff: list[str] = []
        self.changes: list[TableChanges] = []
        self.completed = False

    def before_upgrade(self) -> None:
        self.baseline_schema = snapshot_schema(self.database)
        self.baseline = snapshot_tables(self.database, self.tables)

    def before_rollback(self) -> None:
        columns = {t: snap.columns for t, snap in self.baseline.items()}
        self.pre_rollback = snapshot_tables(self.database, self.tables, columns)

    def after_rollback(self) -> None:
        self.diff = schema_diff(self.baseline_schema or set(), snapshot_schema(self.database))
        post_base = snapshot_tables(self.database, self.tables, {t: s.columns for t, s in self.baseline.items()})
        self.changes = []
        for table, base in self.baseline.items():
            after = post_base[table]
            if after.columns != base.columns:
                missing = [c for c in base.columns if c not in after.columns]
                self.changes.append(TableChanges(table, "baseline", len(base), len(after), missing_columns=missing))
                continue
            self.changes.append(compare(base, after, "baseline"))
        for table, pre in self.pre_rollback.items():
            if pre.columns == post_base[table].columns:
                after = post_base[table]
            else:
                after = snapshot_tables(self.database, [table], {table: pre.columns})[table]
            written = set(pre.rows.index.difference(self.baseline[table].rows.index))
            self.changes.append(compare(pre, after, "before_rollback", written))
        self.completed = True

    @property
    def safe(self) -> bool:
        return self.completed and not self.diff and all(c.clean for c in self.changes)

    def result(self) -> dict[str, Any]:
        return {"safe": self.safe, "checked": self.completed, "schema_diff": self.diff,
                "data_changes": [c.summary() for c in self.changes]}
