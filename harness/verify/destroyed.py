"""The data a rollback destroys: what the upgrade added or changed, measured before the rollback, then looked
for after it.

Before the rollback, the catalog then is compared with the baseline's: tables the upgrade created are counted,
columns it added to existing tables are measured (non-null values, values other than a constant default, the
most common of those), and columns whose type it changed are copied (key, value as text) into the check
session. After the rollback: a table gone lost its rows, a column gone lost its values, a column converted
back is compared value by value (a narrowed type, a truncated text).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from harness.records.run import DestroyedData
from harness.verify.catalog import Catalog, CatalogObject, constant_default
from harness.verify.checksum import CheckSession, relation, table_shape

TOP_VALUES = 10
SAMPLES = 5
VALUE_CHARS = 60


@dataclass
class ColumnFigures:
    table: str
    column: str
    type: str
    default: str | None  # a constant default, when the column has one
    non_null: int
    non_default: int
    top: dict[str, int]


@dataclass
class Converted:
    table: str
    column: str
    type_before: str
    temp: str
    keys: list[str]
    rows: int


@dataclass
class UpgradeData:
    """What the upgrade added or changed, as measured just before the rollback."""

    tables: dict[str, int] = field(default_factory=dict)  # new table -> rows
    columns: list[ColumnFigures] = field(default_factory=list)
    converted: list[Converted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _tables(catalog: Catalog) -> set[str]:
    return {obj.name for obj in catalog.values() if obj.kind == "table"}


def _columns(catalog: Catalog) -> dict[str, CatalogObject]:
    return {obj.name: obj for obj in catalog.values() if obj.kind == "column"}


def measure_upgrade(session: CheckSession, baseline: Catalog, now: Catalog) -> UpgradeData:
    """Measure the tables and columns the upgrade added, and copy the values of the columns it retyped."""
    conn = session.conn
    data = UpgradeData()
    old_tables, old_columns = _tables(baseline), _columns(baseline)
    for table in sorted(_tables(now) - old_tables):
        data.tables[table] = _count(conn, table)
    for name, obj in sorted(_columns(now).items()):
        assert obj.table is not None
        if obj.table not in old_tables:
            continue
        column = obj.columns[0]
        before = old_columns.get(name)
        if before is None:
            data.columns.append(_measure_column(conn, obj.table, column, obj.attr("type"), obj.attr("default")))
        elif before.attr("type") != obj.attr("type"):
            copied = _copy_values(session, obj.table, column, obj.attr("type"))
            if copied is None:
                data.notes.append(f"{name}: retyped from {before.attr('type')} to {obj.attr('type')}, but its table "
                                  "has no primary key: values converted back cannot be compared")
            else:
                data.converted.append(copied)
    return data


def _count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(relation(table))).fetchone()
    return int(row[0]) if row else 0


def _measure_column(conn: psycopg.Connection, table: str, column: str, type_: str, default: str) -> ColumnFigures:
    constant = constant_default(default)
    col = sql.Identifier(column)
    other = sql.SQL("{c} IS NOT NULL").format(c=col) if constant is None or constant.startswith("NULL") else \
        sql.SQL("{c} IS DISTINCT FROM ({d})").format(c=col, d=sql.SQL(constant))
    row = conn.execute(sql.SQL("SELECT count({c}), count(*) FILTER (WHERE {other}) FROM {t}").format(
        c=col, other=other, t=relation(table))).fetchone()
    non_null, non_default = (int(row[0]), int(row[1])) if row else (0, 0)
    top: dict[str, int] = {}
    if non_default:
        for value, count in conn.execute(sql.SQL(
                "SELECT left({c}::text, {n}), count(*) FROM {t} WHERE {other} AND {c} IS NOT NULL "
                "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {k}").format(
                c=col, n=sql.Literal(VALUE_CHARS), t=relation(table), other=other, k=sql.Literal(TOP_VALUES))):
            top[str(value)] = int(count)
    return ColumnFigures(table, column, type_, constant, non_null, non_default, top)


def _copy_values(session: CheckSession, table: str, column: str, type_: str) -> Converted | None:
    conn = session.conn
    try:
        shape = table_shape(conn, table)
    except Exception:  # noqa: BLE001 - no primary key: reported as a note
        return None
    temp = f"rehearse_converted_{abs(hash((table, column))) % 10**8}"
    keys = sql.SQL(", ").join(map(sql.Identifier, shape.keys))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {temp}").format(temp=sql.Identifier(temp)))
    conn.execute(sql.SQL("CREATE TEMPORARY TABLE {temp} AS SELECT {keys}, {c}::text AS rehearse_value FROM {t}").format(
        temp=sql.Identifier(temp), keys=keys, c=sql.Identifier(column), t=relation(table)))
    rows = _count(conn, temp)
    return Converted(table, column, type_, temp, shape.keys, rows)


def destroyed_by_rollback(session: CheckSession, measured: UpgradeData, after: Catalog) -> list[DestroyedData]:
    """What of `measured` the rollback took away (a table or column gone, values changed on the way back)."""
    conn = session.conn
    found: list[DestroyedData] = []
    tables, columns = _tables(after), _columns(after)
    for table, rows in measured.tables.items():
        if table not in tables:
            if rows:
                found.append(DestroyedData("table", table, lost=rows, rows=rows,
                                           message=f"table {table} dropped with {rows:,} rows"))
            continue
        now = _count(conn, table)
        if now < rows:
            found.append(DestroyedData("table", table, lost=rows - now, rows=rows,
                                       message=f"table {table} kept, but {rows - now:,} of its {rows:,} rows are gone"))
    for figures in measured.columns:
        name = f"{figures.table}.{figures.column}"
        lost_basis = figures.non_default if figures.default is not None else figures.non_null
        if name not in columns:
            if lost_basis:
                found.append(_dropped(figures, lost_basis))
            continue
        again = _measure_column(conn, figures.table, figures.column, figures.type, figures.default or "")
        if again.non_default < figures.non_default:
            lost = figures.non_default - again.non_default
            found.append(DestroyedData(
                "column", name, lost=lost, non_null=again.non_null, default=figures.default,
                values={k: v - again.top.get(k, 0) for k, v in figures.top.items() if v > again.top.get(k, 0)},
                message=f"column {name} kept, but {lost:,} of its values other than the default are gone"))
    for converted in measured.converted:
        name = f"{converted.table}.{converted.column}"
        if name not in columns:
            found.append(DestroyedData("column", name, lost=converted.rows, non_null=converted.rows,
                                       message=f"column {name} (retyped by the upgrade) dropped with "
                                               f"{converted.rows:,} values"))
            continue
        found.extend(_conversion(conn, converted, columns[name].attr("type")))
    return found


def _dropped(figures: ColumnFigures, lost: int) -> DestroyedData:
    name = f"{figures.table}.{figures.column}"
    shown = ", ".join(f"{value} {count:,}" for value, count in figures.top.items())
    if figures.default is not None:
        what = f"{lost:,} values other than its default {figures.default}"
    else:
        what = f"{lost:,} non-null values"
    message = f"column {name} dropped with {what}" + (f" ({shown})" if shown else "") + \
        (f"; {figures.non_null:,} non-null in all" if figures.default is not None else "")
    return DestroyedData("column", name, lost=lost, non_null=figures.non_null, default=figures.default,
                         values=dict(figures.top), message=message)


def _conversion(conn: psycopg.Connection, converted: Converted, type_now: str) -> list[DestroyedData]:
    join = sql.SQL(" AND ").join(sql.SQL("t.{k} = e.{k}").format(k=sql.Identifier(k)) for k in converted.keys)
    key_text = sql.SQL("e.{}::text").format(sql.Identifier(converted.keys[0])) if len(converted.keys) == 1 else \
        sql.SQL("ROW({})::text").format(sql.SQL(", ").join(sql.SQL("e.{}").format(sql.Identifier(k))
                                                           for k in converted.keys))
    row = conn.execute(sql.SQL("""
        WITH d AS (SELECT {key} AS k, e.rehearse_value AS before, t.{c}::text AS after
                   FROM {temp} e JOIN {t} t ON {join} WHERE e.rehearse_value IS DISTINCT FROM t.{c}::text)
        SELECT count(*), (array_agg(k || ': ' || coalesce(left(before, 40), 'NULL') || ' -> '
                                    || coalesce(left(after, 40), 'NULL') ORDER BY k))[1:{n}] FROM d""").format(
        key=key_text, c=sql.Identifier(converted.column), temp=sql.Identifier(converted.temp),
        t=relation(converted.table), join=join, n=sql.Literal(SAMPLES))).fetchone()
    if not row or not row[0]:
        return []
    name = f"{converted.table}.{converted.column}"
    return [DestroyedData("conversion", name, lost=int(row[0]), samples=list(row[1] or []),
                          message=f"column {name} converted back from {converted.type_before} to {type_now}: "
                                  f"{int(row[0]):,} values changed on the way")]
