"""non-concurrent-index: CREATE INDEX, DROP INDEX or REINDEX without CONCURRENTLY on a live table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import ObjectType, ReindexObjectType

from harness.lint.predict import Statement, relname
from harness.lint.rules import Hit, Rule, is_existing


def check(statements: Sequence[Statement]) -> Iterator[Hit]:
    """Flag index builds and drops that block writes (or all access) for their whole duration."""
    for statement in statements:
        node, prediction = statement.node, statement.prediction
        if isinstance(node, ast.IndexStmt) and not node.concurrent and is_existing(statement, relname(node.relation)):
            table = relname(node.relation)
            yield Hit(statement,
                      f"CREATE INDEX holds a SHARE lock on {table} for the whole build: every INSERT, UPDATE and "
                      f"DELETE on {table} waits until the index is finished",
                      "CREATE INDEX CONCURRENTLY, on its own outside a transaction block (if it fails, drop the "
                      "INVALID index it leaves and retry)")
        elif isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX and not node.concurrent:
            names = [rel for rel in prediction.locks if is_existing(statement, rel)]
            if names:
                yield Hit(statement,
                          "DROP INDEX takes ACCESS EXCLUSIVE on the index's table: it queues behind running "
                          "queries and every read and write of the table queues behind it",
                          "DROP INDEX CONCURRENTLY, on its own outside a transaction block")
        elif isinstance(node, ast.ReindexStmt) and not prediction.concurrent:
            target = relname(node.relation) if node.relation is not None else None
            if target is None or is_existing(statement, target):
                what = "the index" if node.kind == ReindexObjectType.REINDEX_OBJECT_INDEX else "each index"
                yield Hit(statement,
                          f"REINDEX blocks writes to the table (SHARE) and takes ACCESS EXCLUSIVE on {what} it "
                          "rebuilds, so reads that would use it wait too, for the whole rebuild",
                          "REINDEX (CONCURRENTLY) ... outside a transaction block (PostgreSQL 12+), or CREATE "
                          "INDEX CONCURRENTLY a replacement and DROP INDEX CONCURRENTLY the old one")


RULE = Rule("non-concurrent-index", "danger", check)
