"""unique-without-index: ADD UNIQUE / PRIMARY KEY that builds its index under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule, alter_commands, is_existing

KINDS = {ConstrType.CONSTR_UNIQUE: "UNIQUE", ConstrType.CONSTR_PRIMARY: "PRIMARY KEY"}


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag unique constraints whose index is built while the table is locked."""
    for statement in statements:
        for table, command in alter_commands(statement):
            definition = command.def_
            constraints: list[ast.Constraint] = []
            if command.subtype == AlterTableType.AT_AddConstraint and isinstance(definition, ast.Constraint):
                constraints = [definition]
            elif command.subtype == AlterTableType.AT_AddColumn and isinstance(definition, ast.ColumnDef):
                constraints = list(definition.constraints or ())
            for constraint in constraints:
                if constraint.contype in KINDS and not constraint.indexname and is_existing(statement, table):
                    kind = KINDS[constraint.contype]
                    yield Hit(statement,
                              f"ADD {kind} builds its unique index on {table} while holding ACCESS EXCLUSIVE: all "
                              f"reads and writes of {table} wait for the whole build",
                              f"CREATE UNIQUE INDEX CONCURRENTLY name ON {table} (...); then ALTER TABLE {table} "
                              f"ADD CONSTRAINT name {kind} USING INDEX name (a brief lock)"
                              + (" once the columns are NOT NULL" if kind == "PRIMARY KEY" else ""),
                              works=(Work("index", table),))


RULE = Rule("unique-without-index", "danger", check)
