"""constraint-without-not-valid: ADD FOREIGN KEY / ADD CHECK validated in the same step on a live table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import Statement, relname
from harness.lint.rules import Hit, Rule, alter_commands, is_existing

SAFER = ("ADD CONSTRAINT ... NOT VALID (a short lock, no scan), then in a separate transaction ALTER TABLE ... "
         "VALIDATE CONSTRAINT name (SHARE UPDATE EXCLUSIVE: reads and writes go on during the scan)")


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag constraints whose validation scans the table while blocking it."""
    for statement in statements:
        for table, command in alter_commands(statement):
            if not is_existing(statement, table):
                continue
            for constraint in _added_constraints(command):
                if constraint.skip_validation:
                    continue
                if constraint.contype == ConstrType.CONSTR_FOREIGN:
                    target = relname(constraint.pktable)
                    yield Hit(statement,
                              f"ADD FOREIGN KEY checks every row of {table} against {target} while holding SHARE "
                              f"ROW EXCLUSIVE on both: all writes to {table} and {target} wait for the scan",
                              SAFER, works=(Work("scan", table),))
                elif constraint.contype == ConstrType.CONSTR_CHECK:
                    yield Hit(statement,
                              f"ADD CHECK scans every row of {table} under ACCESS EXCLUSIVE: all reads and writes "
                              f"of {table} wait for the scan", SAFER, works=(Work("scan", table),))


def _added_constraints(command: ast.AlterTableCmd) -> list[ast.Constraint]:
    """Constraints a subcommand adds: ADD CONSTRAINT, or inline REFERENCES on ADD COLUMN."""
    definition = command.def_
    if command.subtype == AlterTableType.AT_AddConstraint and isinstance(definition, ast.Constraint):
        return [definition]
    if command.subtype == AlterTableType.AT_AddColumn and isinstance(definition, ast.ColumnDef):
        return [c for c in definition.constraints or () if c.contype == ConstrType.CONSTR_FOREIGN]
    return []


RULE = Rule("constraint-without-not-valid", "danger", check)
