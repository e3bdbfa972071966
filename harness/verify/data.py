"""Row-level data snapshots (key -> 64-bit row checksum) and what a rollback lost or changed.

Snapshots are taken before the upgrade, just before the rollback (so rows written during the upgrade window
are in it), and after the rollback. Checksums are computed by the server over the columns both moments share.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pandas as pd
import psycopg
from psycopg import sql

from harness.core.database import Database
from harness.records.run import TableChange

EXAMPLES = 5


class TableProblem(Exception):
    """A table the plan names cannot be checked (missing, no primary key)."""


@dataclass(frozen=True)
class TableSnapshot:
    table: str
    key_columns: list[str]
    columns: list[str]
    rows: pd.Series  # row checksum (int64) indexed by key text

    def __len__(self) -> int:
        return len(self.rows)


def table_columns(conn: psycopg.Connection, table: str) -> tuple[list[str], list[str]]:
    """(primary key columns, all columns) of `table`, in key and attnum order."""
    found = conn.execute("SELECT to_regclass(%s)::oid", [table]).fetchone()
    if found is None or found[0] is None:
        raise TableProblem(f"table {table!r} does not exist")
    oid = found[0]
    columns = [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        [oid])]
    keys = [r[0] for r in conn.execute(
        """SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
           AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary
           ORDER BY array_position(i.indkey, a.attnum)""", [oid])]
    if not keys:
        raise TableProblem(f"table {table!r} has no primary key, so its rows cannot be matched after rollback")
    return keys, columns


def snapshot_table(conn: psycopg.Connection, table: str, columns: list[str] | None = None) -> TableSnapshot:
    """Checksum every row of `table` over `columns` (default: all current columns)."""
    keys, current = table_columns(conn, table)
    cols = [c for c in (columns or current) if c in current]
    key_expr = sql.SQL("({})::text").format(sql.SQL(", ").join(map(sql.Identifier, keys))) if len(keys) > 1 \
        else sql.SQL("{}::text").format(sql.Identifier(keys[0]))
    row_expr = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(map(sql.Identifier, cols)))
    query = sql.SQL("COPY (SELECT {k}, ('x' || left(md5({r}), 16))::bit(64)::bigint FROM {t}) TO STDOUT").format(
        k=key_expr, r=row_expr, t=sql.Identifier(*table.split(".")))
    buffer = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    frame = pd.read_csv(buffer, sep="\t", header=None, names=["key", "h"], dtype={"key": str, "h": "int64"},
                        keep_default_na=False)
    return TableSnapshot(table, keys, cols, frame.set_index("key")["h"])


def check_tables(database: Database, tables: list[str]) -> None:
    """Raise TableProblem for the first table that cannot be checked (missing, no primary key)."""
    if not tables:
        return
    with psycopg.connect(database.dsn(), autocommit=True, connect_timeout=10) as conn:
        for table in tables:
            table_columns(conn, table)


def snapshot_tables(database: Database, tables: list[str],
                    columns: dict[str, list[str]] | None = None) -> dict[str, TableSnapshot]:
    """Snapshots of each table, over the given columns per table (or all of them)."""
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        return {t: snapshot_table(conn, t, (columns or {}).get(t)) for t in tables}


@dataclass
class TableChanges:
    table: str
    compared_with: str
    rows_before: int
    rows_after: int
    lost: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    lost_written_during_upgrade: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.changed or self.missing_columns)

    def record(self) -> TableChange:
        return TableChange(self.table, self.compared_with, self.rows_before, self.rows_after, lost=len(self.lost),
                           changed=len(self.changed), lost_written_during_upgrade=len(self.lost_written_during_upgrade),
                           missing_columns=self.missing_columns,
                           examples={"lost": self.lost[:EXAMPLES], "changed": self.changed[:EXAMPLES]})


def compare(before: TableSnapshot, after: TableSnapshot, label: str,
            written_during_upgrade: set[str] | None = None) -> TableChanges:
    """Rows of `before` that `after` lacks, or holds with another checksum (same columns required)."""
    if before.columns != after.columns:
        raise ValueError(f"{before.table}: snapshots over different columns cannot be compared")
    lost = before.rows.index.difference(after.rows.index).tolist()
    common = before.rows.index.intersection(after.rows.index)
    differs = before.rows.loc[common].to_numpy() != after.rows.loc[common].to_numpy()
    changed = common[differs].tolist()
    fresh = written_during_upgrade or set()
    return TableChanges(before.table, label, len(before), len(after), lost=lost, changed=changed,
                        lost_written_during_upgrade=[k for k in lost if k in fresh])
