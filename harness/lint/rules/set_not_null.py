"""set-not-null: SET NOT NULL on a live table without a validated CHECK (col IS NOT NULL) before it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import AlterTableType, BoolExprType, ConstrType, NullTestType

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule, alter_commands, is_existing


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag NOT NULL additions that must scan the table under ACCESS EXCLUSIVE."""
    checks: dict[str, tuple[str, set[str], bool]] = {}  # constraint -> (table, not-null columns, validated)
    for statement in statements:
        for table, command in alter_commands(statement):
            definition, column = command.def_, str(command.name or "").lower()
            if command.subtype == AlterTableType.AT_AddConstraint and isinstance(definition, ast.Constraint):
                if definition.contype == ConstrType.CONSTR_CHECK and definition.conname:
                    checks[str(definition.conname).lower()] = (table, _not_null_columns(definition.raw_expr),
                                                               not definition.skip_validation)
                    continue
                if definition.contype != ConstrType.CONSTR_NOTNULL or definition.skip_validation:
                    continue
                column = str((definition.keys or [ast.String("")])[0].sval).lower()
            elif command.subtype == AlterTableType.AT_ValidateConstraint and column in checks:
                checks[column] = (*checks[column][:2], True)
                continue
            elif command.subtype != AlterTableType.AT_SetNotNull:
                continue
            proven = any(owner == table and column in columns and valid for owner, columns, valid in checks.values())
            if is_existing(statement, table) and not proven:
                yield Hit(statement,
                          f"SET NOT NULL on {table}.{column} scans the whole table under ACCESS EXCLUSIVE to prove "
                          f"there is no NULL: all reads and writes of {table} wait for the scan",
                          f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_not_null CHECK ({column} IS NOT NULL) "
                          f"NOT VALID; then VALIDATE CONSTRAINT {table}_{column}_not_null (no blocking); then SET "
                          "NOT NULL skips the scan (PostgreSQL 12+) and the CHECK can be dropped",
                          works=(Work("scan", table),))


def _not_null_columns(expression: object) -> set[str]:
    """Columns a CHECK expression proves NOT NULL: `col IS NOT NULL`, possibly AND-ed together."""
    if isinstance(expression, ast.NullTest) and expression.nulltesttype == NullTestType.IS_NOT_NULL \
            and isinstance(expression.arg, ast.ColumnRef) and expression.arg.fields:
        return {str(expression.arg.fields[-1].sval).lower()}
    if isinstance(expression, ast.BoolExpr) and expression.boolop == BoolExprType.AND_EXPR:
        return set().union(*(_not_null_columns(arg) for arg in expression.args or ()))
    return set()


RULE = Rule("set-not-null", "danger", check)
