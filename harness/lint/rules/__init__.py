"""Dangerous-pattern rules. Each module of this package checks one pattern and exposes `RULE`.

A rule reads the analysed statements of one file (harness.lint.predict.Statement) and the LintContext (table
facts, the runner's lock_timeout) and yields a `Hit` per offending statement: what goes wrong under load, the
safer way, and the work it does while it holds its lock (lint.duration). With table facts, the runner turns
that work into a duration class: long is a danger, shorter a warning. Relations created earlier in the same
file are new and carry no traffic yet, so rules about blocking ignore them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import ACCESS_EXCLUSIVE, Statement, lock_rank, relname

Severity = Literal["danger", "warning"]


@dataclass(frozen=True)
class Hit:
    """One statement a rule objects to; `works`: what it does while it holds its lock (none: no estimate,
    the rule's severity stands); `severity`: the rule's own, unless given."""

    statement: Statement
    message: str
    safer: str
    works: tuple[Work, ...] = ()
    severity: Severity | None = None


@dataclass(frozen=True)
class Rule:
    """A named check over a file's statements."""

    name: str
    severity: Severity
    check: Callable[[Sequence[Statement], LintContext], Iterable[Hit]]


def is_existing(statement: Statement, relation: str | None) -> bool:
    """Whether `relation` existed before this file (was not created by an earlier statement of it)."""
    return bool(relation) and relation not in statement.created_before


def alter_commands(statement: Statement) -> Iterator[tuple[str, ast.AlterTableCmd]]:
    """(table, subcommand) for each subcommand of an ALTER TABLE statement; nothing for other statements."""
    node = statement.node
    if isinstance(node, ast.AlterTableStmt):
        for command in node.cmds or ():
            yield relname(node.relation), command


def transactions(statements: Sequence[Statement]) -> list[list[Statement]]:
    """The statements of each explicit BEGIN .. COMMIT block, in file order."""
    blocks: dict[int, list[Statement]] = {}
    for statement in statements:
        if statement.transaction is not None:
            blocks.setdefault(statement.transaction, []).append(statement)
    return list(blocks.values())


def mode_words(mode: str) -> str:
    """A pg_locks mode name as the docs write it: AccessExclusiveLock -> ACCESS EXCLUSIVE."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", mode.removesuffix("Lock")).upper()


def blocking_locks(statement: Statement) -> dict[str, str]:
    """Locks that can make other sessions wait: on relations that existed before this file, and without the
    ACCESS EXCLUSIVE that CONCURRENTLY index operations take on an already-dead index as their last step."""
    concurrent_index = statement.prediction.concurrent and isinstance(
        statement.node, ast.IndexStmt | ast.DropStmt | ast.ReindexStmt)
    return {rel: mode for rel, mode in statement.prediction.locks.items()
            if is_existing(statement, rel) and not (concurrent_index and mode == ACCESS_EXCLUSIVE)}


def strongest_blocking_lock(statement: Statement) -> tuple[str, str] | None:
    """(relation, mode) of the strongest of the statement's blocking locks, if any."""
    return max(blocking_locks(statement).items(), key=lambda item: lock_rank(item[1]), default=None)


_DML = (ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
_UNKNOWN_WORK = (ast.DoStmt, ast.CallStmt)  # they may do anything: no estimate


def statement_works(statement: Statement) -> tuple[Work, ...]:
    """What a statement does to the tables it locks, as far as the SQL tells: rewrites, index builds, rows
    written, validation scans, else a catalog change of its most strongly locked relation. A DO block or a
    CALL may do anything: `unknown` (the relation "?" that no facts know)."""
    node = statement.node
    if isinstance(node, _UNKNOWN_WORK):
        return (Work("catalog", "?"),)
    if statement.rewrite_causes:
        return tuple(Work("rewrite", r.relation) for r in statement.rewrite_causes)
    if isinstance(node, ast.IndexStmt) and not node.concurrent:
        return (Work("index", relname(node.relation)),)
    if isinstance(node, _DML) or (isinstance(node, ast.InsertStmt) and isinstance(node.selectStmt, ast.SelectStmt)
                                  and node.selectStmt.valuesLists is None):
        return (Work("rows", relname(node.relation)),)
    scans = [Work("scan", table) for table, command in alter_commands(statement) if _validates(command)]
    if scans:
        return tuple(scans)
    strongest = strongest_blocking_lock(statement)
    return (Work("catalog", strongest[0]),) if strongest else ()


def _validates(command: ast.AlterTableCmd) -> bool:
    """SET NOT NULL, or a CHECK or FOREIGN KEY added without NOT VALID: a scan of the table."""
    if command.subtype == AlterTableType.AT_SetNotNull:
        return True
    definition = command.def_
    return command.subtype == AlterTableType.AT_AddConstraint and isinstance(definition, ast.Constraint) \
        and definition.contype in (ConstrType.CONSTR_CHECK, ConstrType.CONSTR_FOREIGN) \
        and not definition.skip_validation
