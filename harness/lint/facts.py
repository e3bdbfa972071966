"""Table facts: what the lint needs to know about a database to predict how long a statement holds its locks.

Per table: estimated rows, heap and index bytes, column types (format_type), indexes (their columns, which are
unique), and whether the load touches it. Read from a live connection (`read_facts`), kept as JSON
(`Facts.to_json`, `load_facts`): a rehearsal writes streams/table_facts.json (observe.table_facts).
Relations are named as the lint names them: unqualified and lower case.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.core.errors import InputError

FACTS_FILE = "table_facts.json"
FORMAT = "rehearse-table-facts/1"
# Settings the duration model or the type rules read (TimeZone: timestamp -> timestamptz is free in UTC).
SETTINGS = ("server_version", "TimeZone", "max_parallel_maintenance_workers", "maintenance_work_mem",
            "shared_buffers", "lock_timeout", "statement_timeout")

TABLES_SQL = """
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.reltuples::float8 AS reltuples,
       s.n_live_tup::int8 AS live_rows, pg_table_size(c.oid)::int8 AS table_bytes,
       pg_indexes_size(c.oid)::int8 AS index_bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY (n.nspname = ANY (current_schemas(false))) DESC, n.nspname, c.relname
"""
COLUMNS_SQL = """
SELECT attrelid::int8 AS oid, attname AS name, format_type(atttypid, atttypmod) AS type
FROM pg_attribute WHERE attrelid = ANY(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attrelid, attnum
"""
INDEXES_SQL = """
SELECT i.indrelid::int8 AS oid, ic.relname AS name, i.indisunique AS is_unique,
       ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, pos)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.pos) AS columns
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = ANY(%s) ORDER BY ic.relname
"""
ACTIVITY_SQL = """
SELECT relname AS name, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0) + n_tup_ins + n_tup_upd + n_tup_del)::int8
       AS operations
FROM pg_stat_user_tables
"""


@dataclass(frozen=True)
class TableFacts:
    name: str
    schema: str
    rows: int
    table_bytes: int  # heap and TOAST
    index_bytes: int
    columns: dict[str, str] = field(default_factory=dict)  # column -> type as format_type writes it
    indexes: dict[str, list[str]] = field(default_factory=dict)  # index -> its columns ("expr" for expressions)
    unique: list[str] = field(default_factory=list)  # the unique indexes (the primary key's included)
    touched: bool | None = None  # the load read or wrote it (None: not known)

    @property
    def total_bytes(self) -> float:
        return self.table_bytes + self.index_bytes

    def key_columns(self) -> set[str]:
        """Leading columns of its unique indexes: a range on one of them bounds a batch."""
        return {self.indexes[name][0] for name in self.unique if self.indexes.get(name)}

    def describe(self) -> str:
        """e.g. `1.0M rows, 110 MB`."""
        return f"{_count(self.rows)} rows, {_bytes(self.total_bytes)}"


@dataclass(frozen=True)
class Facts:
    """Facts of one database, and where they came from (a DSN without its password, a plan, a file)."""

    source: str
    tables: dict[str, TableFacts]
    settings: dict[str, str] = field(default_factory=dict)
    captured_at: float = 0.0
    touched_source: str | None = None  # how `touched` was learnt, when it was

    def table(self, name: str | None) -> TableFacts | None:
        return self.tables.get(name.lower()) if name else None

    def index_table(self, index: str) -> str | None:
        """The table an index belongs to."""
        for table in self.tables.values():
            if index.lower() in table.indexes:
                return table.name
        return None

    def with_touched(self, operations_before: dict[str, int], operations_after: dict[str, int],
                     how: str) -> Facts:
        """The facts with `touched` set from two activity snapshots: a table whose reads or writes grew."""
        tables = {name: replace(t, touched=operations_after.get(name, 0) > operations_before.get(name, 0))
                  for name, t in self.tables.items()}
        return replace(self, tables=tables, touched_source=how)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> Facts:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        tables = {name: TableFacts(**row) for name, row in dict(data["tables"]).items()}
        return cls(source=str(data["source"]), tables=tables, settings=dict(data.get("settings") or {}),
                   captured_at=float(data.get("captured_at") or 0.0), touched_source=data.get("touched_source"))


def read_facts(conn: Any, source: str, extra_settings: tuple[str, ...] = ()) -> Facts:
    """Facts of the database `conn` (a psycopg connection, autocommit) is connected to; `touched` unknown."""
    rows = [dict(zip(("oid", "schema", "name", "reltuples", "live_rows", "table_bytes", "index_bytes"), r,
                     strict=True)) for r in conn.execute(TABLES_SQL).fetchall()]
    oids = [r["oid"] for r in rows]
    columns: dict[int, dict[str, str]] = {}
    for oid, name, type_name in conn.execute(COLUMNS_SQL, [oids]).fetchall():
        columns.setdefault(oid, {})[str(name).lower()] = str(type_name)
    indexes: dict[int, dict[str, list[str]]] = {}
    unique: dict[int, list[str]] = {}
    for oid, name, is_unique, index_columns in conn.execute(INDEXES_SQL, [oids]).fetchall():
        indexes.setdefault(oid, {})[str(name).lower()] = [str(c).lower() for c in index_columns] or ["expr"]
        if is_unique:
            unique.setdefault(oid, []).append(str(name).lower())
    tables: dict[str, TableFacts] = {}
    for r in rows:
        name = str(r["name"]).lower()
        if name in tables:  # the same name in a schema later on the search path: the first one is meant
            continue
        estimated = r["reltuples"] if r["reltuples"] is not None and r["reltuples"] >= 0 else r["live_rows"]
        tables[name] = TableFacts(name=name, schema=str(r["schema"]), rows=int(estimated or 0),
                                  table_bytes=int(r["table_bytes"]), index_bytes=int(r["index_bytes"]),
                                  columns=columns.get(r["oid"], {}), indexes=indexes.get(r["oid"], {}),
                                  unique=unique.get(r["oid"], []))
    wanted = list(dict.fromkeys((*SETTINGS, *extra_settings)))
    settings = {str(n): str(v) for n, v in conn.execute(
        "SELECT name, setting FROM pg_settings WHERE lower(name) = ANY(%s)", [[w.lower() for w in wanted]])}
    return Facts(source=source, tables=tables, settings=settings, captured_at=time.time())


def activity(conn: Any) -> dict[str, int]:
    """Per table, the reads and writes the statistics counted so far (scans, rows inserted, updated, deleted)."""
    return {str(name).lower(): int(ops) for name, ops in conn.execute(ACTIVITY_SQL).fetchall()}


def touched_since_reset(facts: Facts, conn: Any) -> Facts:
    """`touched`: the statistics counted reads or writes of the table since they were last reset (on a live
    database: the application uses it)."""
    return facts.with_touched({}, activity(conn), "reads or writes counted since the statistics were reset")


def load_facts(path: Path) -> Facts:
    """Facts from a JSON file, or from a run directory's streams/table_facts.json."""
    target = Path(path)
    if target.is_dir():
        target = target / "streams" / FACTS_FILE
    try:
        return Facts.from_json(json.loads(target.read_text(encoding="utf-8")))
    except OSError as exc:
        raise InputError(target, "", exc.strerror or str(exc)) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(target, "", f"not a table facts file ({' '.join(str(exc).split())[:120]})") from None


def _count(rows: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rows >= limit:
            return f"{rows / limit:.1f}{suffix}"
    return str(int(rows))


def _bytes(size: float) -> str:
    for limit, suffix in ((2**30, "GB"), (2**20, "MB"), (2**10, "kB")):
        if size >= limit:
            return f"{size / limit:.0f} {suffix}" if size >= 10 * limit else f"{size / limit:.1f} {suffix}"
    return f"{int(size)} B"
