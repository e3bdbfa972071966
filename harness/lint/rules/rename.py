"""rename: renaming a table, view or column breaks the code still running against the old name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import ObjectType

from harness.lint.context import LintContext
from harness.lint.predict import Statement, relname
from harness.lint.rules import Hit, Rule, is_existing

RELATIONS = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
             ObjectType.OBJECT_FOREIGN_TABLE)


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag renames of tables, views and columns that existed before this file."""
    for statement in statements:
        node = statement.node
        if not isinstance(node, ast.RenameStmt) or node.relation is None:
            continue
        table = relname(node.relation)
        if not is_existing(statement, table):
            continue
        if node.renameType == ObjectType.OBJECT_COLUMN:
            old, what = f"{table}.{node.subname}", "column"
        elif node.renameType in RELATIONS:
            old, what = table, "table" if node.renameType == ObjectType.OBJECT_TABLE else "view"
        else:
            continue
        yield Hit(statement,
                  f"renaming {what} {old} to {node.newname} breaks every query of the running (old) release "
                  "that still uses the old name, during the rollout and after a rollback",
                  "expand and contract: add the new name alongside the old (a new column kept in sync by a "
                  "trigger, or a view under the new name), move the code over, drop the old name in a later "
                  "release")


RULE = Rule("rename", "warning", check)
