"""What one migration statement did to the catalog: the locks its backend took, the relations it rewrote.

A statement outside an explicit transaction is run as BEGIN; <stmt>; <read own locks>; COMMIT, so its locks
can be read from pg_locks for its own backend before they are released (the approach of eugene's tracer).
Statements that cannot run in a transaction block (CONCURRENTLY, VACUUM, procedures that COMMIT) are watched
from a second connection while they run instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pglast
import psycopg
from pglast import ast

from harness.core.poller import Poller, Report
from harness.core.postgres import FIRST_USER_OID, LOCK_WATCHER_APPLICATION
from harness.records.run import Lock

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
    """Relations (tables and indexes) that existed before and got a new relfilenode, "(index)" marked."""
    found = []
    for oid, (name, node, kind) in before.relations.items():
        if oid in after.relations and after.relations[oid][1] not in (node, 0) and node != 0:
            found.append(f"{name} (index)" if kind == "i" else name)
    return sorted(found)


def own_locks(conn: psycopg.Connection, pid: int) -> set[tuple[int, str]]:
    """(relation oid, mode) of every relation lock `pid` holds, catalogs excluded."""
    return {(oid, mode) for oid, mode in conn.execute(OWN_LOCKS_SQL, [pid, FIRST_USER_OID])}


def named(locks: set[tuple[int, str]], catalog: Catalog) -> list[Lock]:
    """Lock records for the locks on relations `catalog` knows (those the statement created are left out)."""
    records = [Lock(mode, catalog.relations[oid][0], catalog.relations[oid][2] == "i")
               for oid, mode in locks if oid in catalog.relations]
    return sorted(records, key=lambda lock: (lock.relation, lock.is_index, lock.mode))


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


class LockWatcher(Poller):
    """Polls the locks of one backend from a second connection while a statement runs outside a transaction.
    Verbs: start(), stop_and_collect() -> the (relation, mode) pairs seen."""

    name = "lock-watcher"

    def __init__(self, dsn: str, pid: int, report: Report, interval_s: float = 0.005) -> None:
        super().__init__(interval_s, report)
        self.dsn, self.pid = dsn, pid
        self.seen: set[tuple[int, str]] = set()
        self.conn: psycopg.Connection | None = None

    def connect(self) -> None:
        self.conn = psycopg.connect(self.dsn, autocommit=True, application_name=LOCK_WATCHER_APPLICATION)

    def poll(self) -> None:
        assert self.conn is not None
        self.seen |= own_locks(self.conn, self.pid)

    def disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def stop_and_collect(self) -> set[tuple[int, str]]:
        self.stop(5)
        return self.seen
