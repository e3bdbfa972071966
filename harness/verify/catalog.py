"""The database's catalog as objects with attributes, and every difference between two moments in DBA words.

Read from pg_catalog: schemas, tables (kind, persistence, row security), columns (type, nullability, default,
identity, generated, collation), constraints (definition, validated, deferrable; matched by definition so that
an unnamed constraint re-created under another generated name reads as renamed), indexes (definition, valid),
sequences (type, bounds, increment, owner column, position), views, functions, triggers (and whether enabled),
extensions (version), enum values, domains, and grants on schemas, relations and functions. Objects that
belong to an extension, and the harness's own temporary tables, are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from harness.core.database import Database

USER_SCHEMAS = ("n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
                "AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'")
NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = {oid} AND e.deptype = 'e')"
POSITION = "position"  # the sequence attribute judged by direction: only a step back is a difference


@dataclass(frozen=True)
class CatalogObject:
    """One catalog object: its kind, its identity, the relation and columns it belongs to, its attributes."""

    kind: str
    name: str
    table: str | None = None
    columns: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.name

    def attr(self, name: str) -> str:
        return dict(self.attrs).get(name, "")

    def describe(self) -> str:
        shown = [f"{k} {v}" if k not in ("type", "definition", "name") else v for k, v in self.attrs
                 if v not in ("", "yes") and k != POSITION]
        return f"{self.kind} {self.name}" + (f" ({', '.join(shown)})" if shown else "")


Catalog = dict[tuple[str, str], CatalogObject]

TABLES = f"""
SELECT n.nspname || '.' || c.relname, c.relkind::text, c.relpersistence::text, c.relrowsecurity,
       c.relispartition
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f', 'm', 'v') AND {USER_SCHEMAS} AND {NOT_EXTENSION.format(oid='c.oid')}
"""
COLUMNS = f"""
SELECT n.nspname || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'm', 'v') AND {USER_SCHEMAS}
  AND {NOT_EXTENSION.format(oid='c.oid')}
"""
CONSTRAINTS = f"""
SELECT n.nspname || '.' || c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid), k.convalidated,
       k.condeferrable,
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
             ORDER BY a.attnum)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_SCHEMAS} AND k.contype <> 'n'
"""
INDEXES = f"""
SELECT n.nspname || '.' || ci.relname, nt.nspname || '.' || ct.relname, pg_get_indexdef(i.indexrelid),
       i.indisvalid, i.indisready,
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             ORDER BY a.attnum)
FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ci.relnamespace
JOIN pg_class ct ON ct.oid = i.indrelid JOIN pg_namespace nt ON nt.oid = ct.relnamespace
WHERE {USER_SCHEMAS} AND {NOT_EXTENSION.format(oid='ct.oid')}
"""
SEQUENCES = f"""
SELECT n.nspname || '.' || c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
       s.seqmax, s.seqcycle,
       (SELECT tn.nspname || '.' || tc.relname || '.' || ta.attname FROM pg_depend dp
        JOIN pg_class tc ON tc.oid = dp.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
        JOIN pg_attribute ta ON ta.attrelid = dp.refobjid AND ta.attnum = dp.refobjsubid
        WHERE dp.objid = c.oid AND dp.classid = 'pg_class'::regclass AND dp.deptype IN ('a', 'i') LIMIT 1),
       ps.last_value
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_sequences ps ON ps.schemaname = n.nspname AND ps.sequencename = c.relname
WHERE {USER_SCHEMAS} AND {NOT_EXTENSION.format(oid='c.oid')}
"""
VIEWS = f"""
SELECT n.nspname || '.' || c.relname, c.relkind::text, pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMAS} AND {NOT_EXTENSION.format(oid='c.oid')}
"""
FUNCTIONS = f"""
SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       pg_get_function_result(p.oid), l.lanname, p.provolatile::text,
       md5(coalesce(p.prosrc, '') || coalesce(p.probin, '')),
       p.prokind::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE {USER_SCHEMAS} AND {NOT_EXTENSION.format(oid='p.oid')}
"""
TRIGGERS = f"""
SELECT t.tgname, n.nspname || '.' || c.relname, pg_get_triggerdef(t.oid), t.tgenabled::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND {USER_SCHEMAS}
"""
EXTENSIONS = ("SELECT e.extname, e.extversion, n.nspname FROM pg_extension e "
              "JOIN pg_namespace n ON n.oid = e.extnamespace")
ENUMS = f"""
SELECT n.nspname || '.' || t.typname, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
WHERE {USER_SCHEMAS} AND {NOT_EXTENSION.format(oid='t.oid')} GROUP BY 1
"""
DOMAINS = f"""
SELECT n.nspname || '.' || t.typname, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
       coalesce(t.typdefault, ''),
       coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ' AND ' ORDER BY k.conname) FROM pg_constraint k
                 WHERE k.contypid = t.oid), '')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'd' AND {USER_SCHEMAS} AND {NOT_EXTENSION.format(oid='t.oid')}
"""
SCHEMAS = f"SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS} AND {NOT_EXTENSION.format(oid='n.oid')}"
GRANTS = f"""
SELECT 'relation', n.nspname || '.' || c.relname, a.grantee::regrole::text, a.privilege_type, a.is_grantable
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
WHERE c.relacl IS NOT NULL AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_SCHEMAS}
UNION ALL
SELECT 'schema', n.nspname, a.grantee::regrole::text, a.privilege_type, a.is_grantable
FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspacl IS NOT NULL AND {USER_SCHEMAS}
UNION ALL
SELECT 'function', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       a.grantee::regrole::text, a.privilege_type, a.is_grantable
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, aclexplode(p.proacl) a
WHERE p.proacl IS NOT NULL AND {USER_SCHEMAS}
"""
RELKINDS = {"r": "table", "p": "partitioned table", "f": "foreign table", "m": "materialized view", "v": "view"}
CONTYPES = {"p": "primary key", "u": "unique", "f": "foreign key", "c": "check", "x": "exclusion", "t": "trigger"}
IDENTITY = {"a": "GENERATED ALWAYS AS IDENTITY", "d": "GENERATED BY DEFAULT AS IDENTITY"}
VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}
TRIGGER_ENABLED = {"O": "enabled", "D": "disabled", "R": "enabled on replica", "A": "enabled always"}


def read_catalog(conn: psycopg.Connection) -> Catalog:
    """Every object of the database's own schemas, keyed by (kind, identity)."""
    objects: list[CatalogObject] = []
    for (name,) in conn.execute(SCHEMAS):
        objects.append(CatalogObject("schema", name))
    for name, relkind, persistence, rls, partition in conn.execute(TABLES):
        if relkind == "v":
            continue
        objects.append(CatalogObject("table", name, name, attrs=(
            ("kind", RELKINDS[relkind]), ("persistence", {"u": "UNLOGGED", "t": "TEMPORARY"}.get(persistence, "")),
            ("row security", "enabled" if rls else ""), ("partition", "yes" if partition else ""))))
    for table, column, type_, notnull, default, identity, generated, collation in conn.execute(COLUMNS):
        attrs = [("type", type_), ("nullability", "NOT NULL" if notnull else ""),
                 ("identity", IDENTITY.get(identity, ""))]
        if generated:
            attrs.append(("generated", f"GENERATED ALWAYS AS ({default}) STORED"))
        else:
            attrs.append(("default", default or ""))
        attrs.append(("collation", collation or ""))
        objects.append(CatalogObject("column", f"{table}.{column}", table, (column,), tuple(attrs)))
    seen: dict[tuple[str, str], int] = {}
    for table, name, contype, definition, validated, deferrable, columns in conn.execute(CONSTRAINTS):
        definition = definition.removesuffix(" NOT VALID")  # validation is an attribute, not the identity
        identity = f"{CONTYPES.get(contype, contype)} {definition} on {table}"
        seen[("constraint", identity)] = seen.get(("constraint", identity), 0) + 1
        if seen[("constraint", identity)] > 1:
            identity += f" #{seen[('constraint', identity)]}"
        objects.append(CatalogObject("constraint", identity, table, tuple(columns), (
            ("name", name), ("validated", "yes" if validated else "NOT VALID"),
            ("deferrable", "DEFERRABLE" if deferrable else ""))))
    for name, table, definition, valid, ready, columns in conn.execute(INDEXES):
        objects.append(CatalogObject("index", name, table, tuple(columns), (
            ("definition", definition), ("valid", "yes" if valid and ready else "INVALID"))))
    for name, type_, start, increment, low, high, cycle, owner, position in conn.execute(SEQUENCES):
        objects.append(CatalogObject("sequence", name, owner.rsplit(".", 1)[0] if owner else None,
                                     (owner.rsplit(".", 1)[1],) if owner else (), (
            ("type", str(type_)), ("start", str(start)), ("increment", str(increment)), ("min", str(low)),
            ("max", str(high)), ("cycle", "CYCLE" if cycle else ""), ("owned by", owner or ""),
            (POSITION, "" if position is None else str(position)))))
    for name, relkind, definition in conn.execute(VIEWS):
        objects.append(CatalogObject("materialized view" if relkind == "m" else "view", name, name,
                                     attrs=(("definition", " ".join((definition or "").split())),)))
    for name, result, language, volatility, body, kind in conn.execute(FUNCTIONS):
        noun = {"p": "procedure", "a": "aggregate", "w": "window function"}.get(kind, "function")
        objects.append(CatalogObject(noun, name, attrs=(
            ("returns", result or ""), ("language", language), ("volatility", VOLATILITY.get(volatility, "")),
            ("body md5", body))))
    for name, table, definition, enabled in conn.execute(TRIGGERS):
        objects.append(CatalogObject("trigger", f"{name} on {table}", table, attrs=(
            ("definition", definition), ("state", TRIGGER_ENABLED.get(enabled, str(enabled))))))
    for name, version, schema in conn.execute(EXTENSIONS):
        objects.append(CatalogObject("extension", name, attrs=(("version", version), ("schema", schema))))
    for name, values in conn.execute(ENUMS):
        objects.append(CatalogObject("enum", name, attrs=(("values", values),)))
    for name, base, notnull, default, checks in conn.execute(DOMAINS):
        objects.append(CatalogObject("domain", name, attrs=(
            ("type", base), ("nullability", "NOT NULL" if notnull else ""), ("default", default),
            ("check", checks))))
    grants: dict[tuple[str, str, str], list[str]] = {}
    for on, target, grantee, privilege, grantable in conn.execute(GRANTS):
        grantee = grantee if grantee != "-" else "PUBLIC"
        grants.setdefault((on, target, grantee), []).append(privilege + (" WITH GRANT OPTION" if grantable else ""))
    for (on, target, grantee), privileges in grants.items():
        objects.append(CatalogObject("grant", f"on {on} {target} to {grantee}",
                                     target if on == "relation" else None,
                                     attrs=(("privileges", ", ".join(sorted(privileges))),)))
    return {obj.key: obj for obj in objects}


def snapshot_catalog(database: Database) -> Catalog:
    """The catalog of `database` now."""
    with psycopg.connect(database.dsn(), autocommit=True, application_name="rehearse-check") as conn:
        return read_catalog(conn)


@dataclass(frozen=True)
class Difference:
    """One difference: `sign` is '-' (only before), '+' (only after) or '~' (changed); `text` in DBA words."""

    sign: str
    obj: CatalogObject
    text: str
    changed: tuple[str, ...] = ()  # attribute names that changed (for '~')

    def line(self) -> str:
        return f"{self.sign} {self.text}"


@dataclass
class CatalogDiff:
    differences: list[Difference] = field(default_factory=list)
    allowed: list[Difference] = field(default_factory=list)  # left over on purpose (the release allows it)

    def lines(self) -> list[str]:
        return [d.line() for d in self.differences]


def diff_catalogs(before: Catalog, after: Catalog, positions: bool = True) -> list[Difference]:
    """Every difference from `before` to `after`, in DBA words, sorted by object. With `positions`, a
    sequence whose position went back is a difference (moving forward is what traffic does)."""
    found: list[Difference] = []
    for key in sorted(before.keys() - after.keys()):
        obj = before[key]
        found.append(Difference("-", obj, f"{obj.describe()}: there before the upgrade, missing after"))
    for key in sorted(after.keys() - before.keys()):
        obj = after[key]
        found.append(Difference("+", obj, f"{obj.describe()}: not there before the upgrade, left after"))
    for key in sorted(before.keys() & after.keys()):
        old, new = before[key], after[key]
        changes, names = [], []
        old_attrs, new_attrs = dict(old.attrs), dict(new.attrs)
        for name in dict.fromkeys([*old_attrs, *new_attrs]):
            was, now = old_attrs.get(name, ""), new_attrs.get(name, "")
            if was == now:
                continue
            if name == POSITION:
                if not positions or not _went_back(was, now):
                    continue
                changes.append(f"position reset: was at {was}, now {now or 'never used'}")
            else:
                changes.append(_changed(name, was, now))
            names.append(name)
        if changes:
            found.append(Difference("~", new, f"{new.kind} {new.name}: {'; '.join(changes)}", tuple(names)))
    return found


def _went_back(was: str, now: str) -> bool:
    if not was:
        return False
    return not now or int(now) < int(was)


def _changed(name: str, was: str, now: str) -> str:
    if name == "name":
        return f"renamed from {was} to {now}"
    if name == "valid":
        return "valid before, INVALID now" if now == "INVALID" else "INVALID before, valid now"
    if name == "validated":
        return "validated before, NOT VALID now" if now == "NOT VALID" else "NOT VALID before, validated now"
    if name == "values":
        gone = [v for v in was.split(", ") if v not in now.split(", ")]
        added = [v for v in now.split(", ") if v not in was.split(", ")]
        detail = "; ".join(x for x in (f"added {', '.join(added)}" if added else "",
                                       f"removed {', '.join(gone)}" if gone else "") if x)
        return f"values were {was}, now {now}" + (f" ({detail})" if detail else "")
    return f"{name} was {was or 'none'}, now {now or 'none'}"


def allowed_by(difference: Difference, allow: Iterable[str]) -> bool:
    """Whether a '+' difference is a leftover the release declares (`allow`: table or table.column names,
    schema optional): the column itself, or a constraint / index / sequence on those columns only."""
    if difference.sign != "+":
        return False
    obj = difference.obj
    if obj.table is None:
        return False
    for entry in allow:
        table, column = _split_allowed(entry)
        if not _same_table(obj.table, table):
            continue
        if column is None or (obj.columns and set(obj.columns) <= {column}):
            return True
    return False


def _split_allowed(entry: str) -> tuple[str, str | None]:
    parts = entry.split(".")
    if len(parts) == 3:
        return f"{parts[0]}.{parts[1]}", parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    return parts[0], None


def _same_table(qualified: str, named: str) -> bool:
    return qualified == named or ("." not in named and qualified.split(".", 1)[-1] == named)


def split_leftovers(differences: list[Difference], allow: Iterable[str]) -> CatalogDiff:
    """The differences, with the leftovers `allow` names set apart."""
    allow = list(allow)
    result = CatalogDiff()
    for difference in differences:
        (result.allowed if allowed_by(difference, allow) else result.differences).append(difference)
    return result


LITERAL_DEFAULT = re.compile(r"^(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false|NULL)(?:::[\w\s\".\[\]()]+)?$")


def constant_default(default: str) -> str | None:
    """The default expression when it is a constant (a literal with casts), else None (now(), nextval...)."""
    text = default.strip()
    return text if text and LITERAL_DEFAULT.match(text) else None
