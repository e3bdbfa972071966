"""What one migration statement did to the catalog: the locks its backend took, the relations it rewrote.

A statement outside an explicit transaction is run as BEGIN; <stmt>; <read own locks>; COMMIT, so its locks
can be read from pg_locks for its own backend before they are released (the approach of eugene's tracer).
Statements that cannot run in a transaction block (CONCURRENTLY, VACUUM, procedures that COMMIT) are watched
from a second connection while they run instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pglast
import psycopg
from pglast import ast

FIRST_USER_OID = 16384

OWN_LOCKS_SQL = """
SELECT l.relation, l.mode FROM pg_locks l
WHERE l.pid = %s AND l.locktype = 'relation' AND l.granted AND l.relation >= %s
"""

RELFILENODES_SQL = """
SELECT c.oid, c.oid::regclass::text, c.relfilenode, c.relkind FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%%'
  AND c.relkind IN ('r', 'i', 'm', 'p', 't')
"""


@dataclass
class Catalog:
    """Relation oid -> (name, relfilenode, relkind) at one moment."""

    relations: dict[int, tuple[str, int, str]] = field(default_factory=dict)


def read_catalog(conn: psycopg.Connection) -> Catalog:
    return Catalog({oid: (name, node, kind) for oid, name, node, kind in conn.execute(RELFILENODES_SQL)})


def rewrites(before: Catalog, after: Catalog) -> list[str]:
    """Relations (tables and indexes) that existed before and got a new relfilenode."""
    return sorted(describe(oid, before) for oid, (_, node, _) in before.relations.items()
                  if oid in after.relations and after.relations[oid][1] not in (node, 0) and node != 0)


def describe(oid: int, catalog: Catalog) -> str | None:
    """A relation's name as `catalog` knows it, marked "(index)" for indexes (DML locks every index of its
    table); None for a relation the catalog did not have (created by the statement itself)."""
    if oid not in catalog.relations:
        return None
    name, _, kind = catalog.relations[oid]
    return f"{name} (index)" if kind == "i" else name


def own_locks(conn: psycopg.Connection, pid: int) -> set[tuple[int, str]]:
    """(relation oid, mode) of every relation lock `pid` holds, catalogs excluded."""
    return {(oid, mode) for oid, mode in conn.execute(OWN_LOCKS_SQL, [pid, FIRST_USER_OID])}


def named(locks: set[tuple[int, str]], catalog: Catalog) -> list[str]:
    """'Mode relation' for the locks on relations `catalog` knows, sorted."""
    return sorted(f"{mode} {name}" for oid, mode in locks if (name := describe(oid, catalog)) is not None)


def traceable_in_transaction(sql: str) -> bool:
    """Whether wrapping `sql` in BEGIN/COMMIT leaves its meaning unchanged."""
    try:
        (raw,) = pglast.parse_sql(sql)
    except (pglast.parser.ParseError, ValueError):
        return False
    node = raw.stmt
    if isinstance(node, (ast.TransactionStmt, ast.VacuumStmt, ast.CreatedbStmt, ast.DropdbStmt,
                         ast.AlterSystemStmt, ast.CallStmt, ast.DoStmt, ast.VariableSetStmt,
                         ast.VariableShowStmt, ast.CreateTableSpaceStmt, ast.DropTableSpaceStmt)):
        return False
    if isinstance(node, (ast.IndexStmt, ast.DropStmt)) and getattr(node, "concurrent", False):
        return False
    if isinstance(node, ast.ReindexStmt):
        return not any(getattr(p, "defname", "") == "concurrently" for p in (node.params or ()))
    if isinstance(node, ast.AlterTableStmt):
        return not any(getattr(cmd, "subtype", None) is not None and
                       getattr(getattr(cmd, "def_", None), "concurrent", False) for cmd in node.cmds or ())
    return True


class LockWatcher:
    """Polls the locks of one backend from a second connection while a statement runs outside a transaction.
    Verbs: start(), stop() -> the (relation, mode) pairs seen."""

    def __init__(self, dsn: str, pid: int, interval_s: float = 0.005) -> None:
        self.dsn, self.pid, self.interval_s = dsn, pid, interval_s
        self.seen: set[tuple[int, str]] = set()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-watcher", daemon=True)

    def start(self) -> None:
        """Returns once the watcher is connected, so that it sees the statement from its start."""
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> set[tuple[int, str]]:
        self._stop.set()
        self._thread.join(5)
        return self.seen

    def _run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True, application_name="rehearse-lock-watcher") as conn:
                self._ready.set()
                while not self._stop.is_set():
                    self.seen |= own_locks(conn, self.pid)
                    self._stop.wait(self.interval_s)
        except psycopg.Error:
            return
        finally:
            self._ready.set()
