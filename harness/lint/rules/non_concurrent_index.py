"""non-concurrent-index: CREATE INDEX, DROP INDEX or REINDEX without CONCURRENTLY on a live table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import ObjectType, ReindexObjectType

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import Statement, relname
from harness.lint.rules import Hit, Rule, is_existing


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag index builds and drops that block writes (or all access) for their whole duration."""
    for statement in statements:
        node, prediction = statement.node, statement.prediction
        if isinstance(node, ast.IndexStmt) and not node.concurrent and is_existing(statement, relname(node.relation)):
            table = relname(node.relation)
            yield Hit(statement,
                      f"CREATE INDEX holds a SHARE lock on {table} for the whole build: every INSERT, UPDATE and "
                      f"DELETE on {table} waits until the index is finished",
                      "CREATE INDEX CONCURRENTLY, on its own outside a transaction block (if it fails, drop the "
                      "INVALID index it leaves and retry)", works=(Work("index", table),))
        elif isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX and not node.concurrent:
            names = [rel for rel in prediction.locks if is_existing(statement, rel)]
            tables = [rel for rel in names if context.facts is not None and context.facts.table(rel) is not None]
            if names:
                which = f"its table {', '.join(tables)}" if tables else "the index's table"
                yield Hit(statement,
                          f"DROP INDEX takes ACCESS EXCLUSIVE on {which}: it queues behind running queries and "
                          "every read and write of the table queues behind it",
                          "DROP INDEX CONCURRENTLY, on its own outside a transaction block",
                          works=tuple(Work("catalog", table) for table in tables))
        elif isinstance(node, ast.ReindexStmt) and not prediction.concurrent:
            target = relname(node.relation) if node.relation is not None else None
            if target is None or is_existing(statement, target):
                what = "the index" if node.kind == ReindexObjectType.REINDEX_OBJECT_INDEX else "each index"
                yield Hit(statement,
                          f"REINDEX blocks writes to the table (SHARE) and takes ACCESS EXCLUSIVE on {what} it "
                          "rebuilds, so reads that would use it wait too, for the whole rebuild",
                          "REINDEX (CONCURRENTLY) ... outside a transaction block (PostgreSQL 12+), or CREATE "
                          "INDEX CONCURRENTLY a replacement and DROP INDEX CONCURRENTLY the old one",
                          works=_reindexed(statement, context))


def _reindexed(statement: Statement, context: LintContext) -> tuple[Work, ...]:
    """REINDEX rebuilds the indexes of its table: like an index build of the table (when the facts know it)."""
    facts = context.facts
    tables = {facts.index_table(rel) or rel for rel in statement.prediction.locks} if facts is not None else set()
    return tuple(Work("index", t) for t in sorted(tables) if facts is not None and facts.table(t) is not None)


RULE = Rule("non-concurrent-index", "danger", check)
