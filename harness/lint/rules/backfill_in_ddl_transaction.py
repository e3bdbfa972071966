"""backfill-in-ddl-transaction: UPDATE / DELETE / INSERT .. SELECT in a transaction that also does DDL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import SHARE, Statement, lock_rank, relname
from harness.lint.rules import Hit, Rule, mode_words, strongest_blocking_lock, transactions

DML = (ast.UpdateStmt, ast.DeleteStmt, ast.InsertStmt, ast.MergeStmt, ast.SelectStmt, ast.CopyStmt)


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag backfills that keep the transaction's DDL locks held for as long as they run."""
    for block in transactions(statements):
        ddl = []
        for statement in block:
            strongest = strongest_blocking_lock(statement)
            if not isinstance(statement.node, DML) and strongest and lock_rank(strongest[1]) >= lock_rank(SHARE):
                ddl.append((statement, strongest))
        if not ddl:
            continue
        for statement in block:
            if not _is_backfill(statement.node):
                continue
            other, (relation, mode) = ddl[0]
            yield Hit(statement,
                      f"{statement.prediction.kind} runs in the same transaction as {other.prediction.kind} "
                      f"(line {other.line}): the {mode_words(mode)} lock on {relation} stays held for "
                      "the whole backfill, and the backfill's row locks until COMMIT",
                      "run the DDL in its own short transaction; backfill afterwards in batches (e.g. by "
                      "primary-key range), committing each batch",
                      works=tuple(Work("rows", table) for table in _written(statement)))


def _written(statement: Statement) -> list[str]:
    """The table a backfill writes."""
    node = statement.node
    relation = getattr(node, "relation", None)
    return [relname(relation)] if isinstance(relation, ast.RangeVar) else []


def _is_backfill(node: ast.Node) -> bool:
    if isinstance(node, ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt):
        return True
    return isinstance(node, ast.InsertStmt) and node.selectStmt is not None \
        and getattr(node.selectStmt, "valuesLists", None) is None


RULE = Rule("backfill-in-ddl-transaction", "danger", check)
