"""concurrently-in-transaction: a statement that cannot run inside a transaction block, inside one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import ObjectType

from harness.lint.context import LintContext
from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag CONCURRENTLY index work, DETACH CONCURRENTLY and VACUUM inside BEGIN .. COMMIT: they fail."""
    for statement in statements:
        if statement.transaction is not None and _needs_autocommit(statement):
            kind = statement.prediction.kind
            what = kind if statement.prediction.kind.startswith("VACUUM") else f"{kind} CONCURRENTLY"
            yield Hit(statement,
                      f"{what} cannot run inside a transaction block: the migration fails here and the "
                      "transaction rolls back",
                      "run it on its own, outside BEGIN/COMMIT; if the migration tool wraps each file in a "
                      "transaction, give it a separate non-transactional migration")


def _needs_autocommit(statement: Statement) -> bool:
    node = statement.node
    if isinstance(node, ast.VacuumStmt):
        return bool(node.is_vacuumcmd)
    if isinstance(node, ast.IndexStmt | ast.ReindexStmt):
        return statement.prediction.concurrent
    if isinstance(node, ast.DropStmt):
        return node.removeType == ObjectType.OBJECT_INDEX and bool(node.concurrent)
    if isinstance(node, ast.AlterTableStmt):
        return statement.prediction.concurrent  # DETACH PARTITION .. CONCURRENTLY
    return False


RULE = Rule("concurrently-in-transaction", "danger", check)
