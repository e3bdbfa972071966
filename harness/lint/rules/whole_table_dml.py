"""whole-table-dml: one UPDATE or DELETE over a whole live table (no range of a key bounds it).

Each row it touches stays locked until its transaction commits, so every write of those rows by the service
waits for the whole statement; and it writes the table's full size of WAL and dead rows in one go. With table
facts, the key is the leading column of a unique index; without them, only a statement with no WHERE at all
is known to cover the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import Statement, relname, walk
from harness.lint.rules import Hit, Rule, is_existing

BOUNDING = ("=", "<", "<=", ">", ">=")  # with a constant: a bounded slice of the key


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag UPDATE / DELETE whose WHERE does not bound a key of the table."""
    for statement in statements:
        node = statement.node
        if not isinstance(node, ast.UpdateStmt | ast.DeleteStmt) or getattr(node, "withClause", None):
            continue
        table = relname(node.relation)
        if not is_existing(statement, table):
            continue
        facts = context.facts.table(table) if context.facts is not None else None
        if node.whereClause is not None and (facts is None or _bounds_a_key(node.whereClause, facts.key_columns())):
            continue
        kind = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        scope = f"every row of {table}" if node.whereClause is None else \
            f"rows all over {table} (its WHERE bounds no key)"
        yield Hit(statement,
                  f"{kind} of {scope} in one statement: each row it touches stays locked until it "
                  f"commits, so every write of those rows waits for the whole statement",
                  f"{kind} in batches by key range (e.g. WHERE id >= $1 AND id < $1 + 10000), each batch in its "
                  "own transaction, pausing between batches",
                  works=(Work("rows", table),))


def _bounds_a_key(where: ast.Node, keys: set[str]) -> bool:
    """Whether the condition (AND-ed parts) compares a key column with a constant: =, <, >, BETWEEN, IN."""
    if isinstance(where, ast.BoolExpr):
        parts = where.args or ()
        if where.boolop == BoolExprType.AND_EXPR:
            return any(_bounds_a_key(part, keys) for part in parts)
        if where.boolop == BoolExprType.OR_EXPR:
            return bool(parts) and all(_bounds_a_key(part, keys) for part in parts)
        return False
    if isinstance(where, ast.A_Expr):
        column = _column(where.lexpr)
        if column not in keys:
            return False
        if where.kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_IN):
            return not any(isinstance(n, ast.ColumnRef) for n in walk(where.rexpr))
        operator = str(where.name[-1].sval) if where.name else ""
        return where.kind == A_Expr_Kind.AEXPR_OP and operator in BOUNDING \
            and not any(isinstance(n, ast.ColumnRef) for n in walk(where.rexpr))
    return False


def _column(node: object) -> str | None:
    if isinstance(node, ast.ColumnRef) and node.fields and isinstance(node.fields[-1], ast.String):
        return str(node.fields[-1].sval).lower()
    return None


RULE = Rule("whole-table-dml", "danger", check)
