"""Row checksums kept on the server: cheap snapshots and bucketed comparisons, as pt-table-checksum does.

A snapshot is a temporary table of the check's own session holding each row's key (in the key's own types)
and a 64-bit hash of the row (hash_record_extended: each column hashed by its type's hash function, no text
conversion; types without one are hashed as text). Nothing but figures comes back to the harness.

A comparison aggregates both sides per bucket (count, sum of hashes) in the database: key ranges for an
integer key, hash buckets otherwise. Only the buckets that differ are compared row by row, by key: rows of
the snapshot missing now are lost, rows whose hash differs are changed; rows added since are not a change.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from harness.core.database import Database

EXAMPLES = 5
ROWS_PER_BUCKET = 1000
MAX_BUCKETS = 8192
HASH_BUCKETS = 1024
INTEGER_TYPES = ("smallint", "integer", "bigint")
CHECK_APPLICATION = "rehearse-check"
_names = itertools.count(1)


class TableProblem(Exception):
    """A table the plan names cannot be checked (missing, no primary key)."""


class CheckSession:
    """The rollback check's own connection for the whole run; its temporary tables are the snapshots."""

    def __init__(self, database: Database) -> None:
        self.conn = psycopg.connect(database.dsn(), autocommit=True, application_name=CHECK_APPLICATION)
        self.conn.execute("SET temp_buffers = '256MB'")  # before the session's first temporary table
        self.conn.execute("SET lock_timeout = '30s'")

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class TableShape:
    table: str  # as the plan names it
    keys: list[str]
    key_types: list[str]
    columns: list[str]
    hashable: dict[str, bool]

    def has(self, columns: list[str]) -> bool:
        return all(c in self.hashable for c in columns)


def table_shape(conn: psycopg.Connection, table: str) -> TableShape:
    """Primary key columns (with their types), columns in attnum order and which have a hash function."""
    found = conn.execute("SELECT to_regclass(%s)::oid", [table]).fetchone()
    if found is None or found[0] is None:
        raise TableProblem(f"table {table!r} does not exist")
    oid = found[0]
    rows = conn.execute(
        """SELECT a.attname, EXISTS (
               SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
               WHERE am.amname = 'hash' AND oc.opcdefault
                 AND (oc.opcintype IN (t.oid, t.typbasetype)
                      OR (t.typtype = 'e' AND oc.opcintype = 'anyenum'::regtype)))
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
           WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""", [oid]).fetchall()
    keys = conn.execute(
        """SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
           WHERE i.indrelid = %s AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)""", [oid]).fetchall()
    if not keys:
        raise TableProblem(f"table {table!r} has no primary key, so its rows cannot be matched after rollback")
    return TableShape(table, [k for k, _ in keys], [t for _, t in keys], [r[0] for r in rows],
                      {r[0]: bool(r[1]) for r in rows})


def relation(table: str) -> sql.Composed:
    return sql.SQL(".").join(map(sql.Identifier, table.split(".")))


def row_hash(shape: TableShape, columns: list[str], alias: str = "t") -> sql.Composable:
    """hash_record_extended over `columns` of `alias` (text for types without a hash function)."""
    parts = [sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)) if shape.hashable.get(c)
             else sql.SQL("{}.{}::text").format(sql.Identifier(alias), sql.Identifier(c)) for c in columns]
    return sql.SQL("hash_record_extended(ROW({}), 0)").format(sql.SQL(", ").join(parts))


@dataclass(frozen=True)
class Bucketing:
    """How keys map to buckets: integer key ranges (low, width) or hash buckets."""

    keys: list[str]
    integer: bool
    low: int = 0
    width: int = 1

    def expr(self, alias: str) -> sql.Composable:
        if self.integer:
            return sql.SQL("(({}.{} - {}) / {})").format(sql.Identifier(alias), sql.Identifier(self.keys[0]),
                                                         sql.Literal(self.low), sql.Literal(self.width))
        refs = sql.SQL(", ").join(sql.SQL("{}.{}::text").format(sql.Identifier(alias), sql.Identifier(k))
                                  for k in self.keys)
        return sql.SQL("(hashtextextended(ROW({})::text, 0) & {})").format(refs, sql.Literal(HASH_BUCKETS - 1))


@dataclass
class RowSnapshot:
    """Rows of a table at one moment, kept in the check session's temporary table `temp`."""

    table: str
    temp: str
    keys: list[str]
    columns: list[str]
    rows: int
    bucketing: Bucketing
    key_range: tuple[int, int] | None  # integer keys: (min, max) at the snapshot
    seconds: float = 0.0

    def __len__(self) -> int:
        return self.rows


def take_snapshot(session: CheckSession, table: str, columns: list[str] | None = None,
                  bucketing: Bucketing | None = None) -> RowSnapshot:
    """Hash every row of `table` over `columns` (default: all of its columns now) into a temporary table."""
    started = time.monotonic()
    conn = session.conn
    shape = table_shape(conn, table)
    cols = [c for c in (columns or shape.columns) if c in shape.hashable]
    temp = f"rehearse_snapshot_{next(_names)}"
    keys = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in shape.keys)
    conn.execute(sql.SQL("CREATE TEMPORARY TABLE {temp} AS SELECT {keys}, {h} AS rehearse_hash FROM {rel} t").format(
        temp=sql.Identifier(temp), keys=keys, h=row_hash(shape, cols), rel=relation(table)))
    integer = len(shape.keys) == 1 and shape.key_types[0] in INTEGER_TYPES
    key_range = None
    if integer:
        count, low, high = conn.execute(sql.SQL("SELECT count(*), min({k}), max({k}) FROM {temp}").format(
            k=sql.Identifier(shape.keys[0]), temp=sql.Identifier(temp))).fetchone() or (0, None, None)
        key_range = (int(low), int(high)) if low is not None else None
    else:
        count = (conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(temp))).fetchone() or (0,))[0]
    if bucketing is None:
        if integer and key_range is not None:
            buckets = max(1, min(MAX_BUCKETS, count // ROWS_PER_BUCKET))
            width = max(1, (key_range[1] - key_range[0] + 1) // buckets + 1)
            bucketing = Bucketing(shape.keys, True, key_range[0], width)
        else:
            bucketing = Bucketing(shape.keys, integer and key_range is not None)
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(temp)))
    return RowSnapshot(table, temp, shape.keys, cols, int(count), bucketing, key_range,
                       seconds=time.monotonic() - started)


def drop_snapshot(session: CheckSession, snapshot: RowSnapshot) -> None:
    session.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(snapshot.temp)))


@dataclass
class Comparison:
    """What a snapshot's rows became: lost (key gone), changed (hash differs), with example keys."""

    table: str
    rows_before: int
    rows_after: int
    lost: int = 0
    changed: int = 0
    lost_written_since: int = 0  # lost rows that a `since` snapshot did not hold
    lost_examples: list[str] = field(default_factory=list)
    changed_examples: list[str] = field(default_factory=list)
    buckets: int = 0
    mismatched_buckets: int = 0
    missing_columns: list[str] = field(default_factory=list)


def compare(session: CheckSession, expected: RowSnapshot, since: RowSnapshot | None = None,
            keys_only: bool = False) -> Comparison:
    """Compare `expected` with the table now, bucket by bucket; row by row only in buckets that differ.
    `since`: count the lost rows that this earlier snapshot did not have (written after it). `keys_only`:
    match rows by key alone (a table traffic updates)."""
    conn = session.conn
    shape = table_shape(conn, expected.table)
    missing = [c for c in expected.columns if c not in shape.hashable]
    by_key = keys_only or bool(missing)
    rel, temp = relation(expected.table), sql.Identifier(expected.temp)
    b = expected.bucketing
    live_hash = sql.SQL("0::bigint") if by_key else row_hash(shape, expected.columns)
    snap_hash = sql.SQL("0::bigint") if by_key else sql.SQL("e.rehearse_hash")
    in_range: sql.Composable = sql.SQL("TRUE")
    if expected.key_range is not None:
        in_range = sql.SQL("t.{} BETWEEN {} AND {}").format(sql.Identifier(expected.keys[0]),
                                                             sql.Literal(expected.key_range[0]),
                                                             sql.Literal(expected.key_range[1]))
    rows_after = (conn.execute(sql.SQL("SELECT count(*) FROM {}").format(rel)).fetchone() or (0,))[0]
    mine = dict((r[0], (r[1], r[2])) for r in conn.execute(sql.SQL(
        "SELECT {b}, count(*), sum({h}) FROM {temp} e GROUP BY 1").format(b=b.expr("e"), h=snap_hash, temp=temp)))
    theirs = dict((r[0], (r[1], r[2])) for r in conn.execute(sql.SQL(
        "SELECT {b}, count(*), sum({h}) FROM {rel} t WHERE {in_range} GROUP BY 1").format(
        b=b.expr("t"), h=live_hash, rel=rel, in_range=in_range)))
    differing = [bucket for bucket, figures in mine.items() if theirs.get(bucket) != figures]
    result = Comparison(expected.table, expected.rows, int(rows_after), buckets=len(mine),
                        mismatched_buckets=len(differing), missing_columns=missing)
    if not differing:
        return result
    join = sql.SQL(" AND ").join(sql.SQL("l.{k} = e.{k}").format(k=sql.Identifier(k)) for k in expected.keys)
    key_text = sql.SQL("e.{}::text").format(sql.Identifier(expected.keys[0])) if len(expected.keys) == 1 else \
        sql.SQL("ROW({})::text").format(sql.SQL(", ").join(sql.SQL("e.{}").format(sql.Identifier(k))
                                                           for k in expected.keys))
    live_keys = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in expected.keys)
    fresh: sql.Composable = sql.SQL("FALSE")
    if since is not None:
        since_join = sql.SQL(" AND ").join(sql.SQL("s.{k} = e.{k}").format(k=sql.Identifier(k)) for k in expected.keys)
        fresh = sql.SQL("NOT EXISTS (SELECT 1 FROM {s} s WHERE {j})").format(s=sql.Identifier(since.temp),
                                                                             j=since_join)
    query = sql.SQL("""
        WITH e AS (SELECT * FROM {temp} e WHERE {be} = ANY(%(buckets)s)),
             l AS (SELECT {live_keys}, {h} AS rehearse_hash FROM {rel} t WHERE {bt} = ANY(%(buckets)s)),
             d AS (SELECT {key_text} AS k, l.rehearse_hash IS NULL AS lost, {fresh} AS fresh
                   FROM e LEFT JOIN l ON {join}
                   WHERE l.rehearse_hash IS NULL OR l.rehearse_hash <> {snap_hash})
        SELECT count(*) FILTER (WHERE lost), count(*) FILTER (WHERE NOT lost),
               count(*) FILTER (WHERE lost AND fresh),
               (array_agg(k ORDER BY k) FILTER (WHERE lost))[1:{n}],
               (array_agg(k ORDER BY k) FILTER (WHERE NOT lost))[1:{n}]
        FROM d""").format(temp=temp, be=b.expr("e"), bt=b.expr("t"), live_keys=live_keys, h=live_hash, rel=rel,
                          key_text=key_text, fresh=fresh, join=join, snap_hash=snap_hash, n=sql.Literal(EXAMPLES))
    row = conn.execute(query, {"buckets": differing}).fetchone()
    assert row is not None
    result.lost, result.changed, result.lost_written_since = int(row[0]), int(row[1]), int(row[2])
    result.lost_examples, result.changed_examples = list(row[3] or []), list(row[4] or [])
    return result


def check_tables(database: Database, tables: list[str]) -> None:
    """Raise TableProblem for the first table that cannot be checked (missing, no primary key)."""
    if not tables:
        return
    with psycopg.connect(database.dsn(), autocommit=True, connect_timeout=10) as conn:
        for table in tables:
            table_shape(conn, table)
