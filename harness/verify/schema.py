"""Schema snapshot from the catalogs, and its difference between two moments."""

from __future__ import annotations

import psycopg

from harness.core.database import Database

EXCLUDED_SCHEMAS = "('pg_catalog', 'information_schema', 'pg_toast')"

SCHEMA_SQL = f"""
SELECT format('table %s.%s (%s)', n.nspname, c.relname, c.relkind)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN {EXCLUDED_SCHEMAS}
  AND n.nspname NOT LIKE 'pg_temp%'
UNION ALL
SELECT format('column %s.%s.%s %s%s%s', n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
              COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''))
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN {EXCLUDED_SCHEMAS} AND n.nspname NOT LIKE 'pg_temp%'
UNION ALL
SELECT format('index %s.%s: %s%s', n.nspname, ci.relname, pg_get_indexdef(i.indexrelid),
              CASE WHEN i.indisvalid THEN '' ELSE ' (INVALID)' END)
FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ci.relnamespace
WHERE n.nspname NOT IN {EXCLUDED_SCHEMAS} AND n.nspname NOT LIKE 'pg_temp%'
UNION ALL
SELECT format('constraint %s.%s.%s: %s%s', n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid),
              CASE WHEN k.convalidated THEN '' ELSE ' (NOT VALIDATED)' END)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN {EXCLUDED_SCHEMAS} AND n.nspname NOT LIKE 'pg_temp%'
UNION ALL
SELECT format('function %s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN {EXCLUDED_SCHEMAS} AND n.nspname NOT LIKE 'pg_temp%'
UNION ALL
SELECT format('trigger %s on %s: %s', t.tgname, t.tgrelid::regclass, pg_get_triggerdef(t.oid))
FROM pg_trigger t WHERE NOT t.tgisinternal
UNION ALL
SELECT format('type %s.%s', n.nspname, t.typname)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'c') AND n.nspname NOT IN {EXCLUDED_SCHEMAS}
  AND (t.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
"""


def snapshot_schema(database: Database) -> set[str]:
    """One line per table, column (type, nullability, default), index, constraint, function, trigger, type."""
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        return {row[0] for row in conn.execute(SCHEMA_SQL)}


def schema_diff(before: set[str], after: set[str]) -> list[str]:
    """Lines only before ('- ...') or only after ('+ ...'), sorted by object."""
    lines = [f"- {line}" for line in before - after] + [f"+ {line}" for line in after - before]
    return sorted(lines, key=lambda line: (line[2:], line[0]))
