"""statements-after-exclusive-lock: more work after an ACCESS EXCLUSIVE lock inside one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast

from harness.lint.context import LintContext
from harness.lint.predict import ACCESS_EXCLUSIVE, Statement
from harness.lint.rules import Hit, Rule, blocking_locks, statement_works, transactions

# Statements that do no work of their own while the lock is held.
PASSIVE = (ast.TransactionStmt, ast.VariableSetStmt, ast.VariableShowStmt)


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag the first ACCESS EXCLUSIVE statement of a transaction that goes on doing work before COMMIT."""
    for block in transactions(statements):
        for position, statement in enumerate(block):
            locked = [rel for rel, mode in blocking_locks(statement).items() if mode == ACCESS_EXCLUSIVE]
            if not locked:
                continue
            after = [s for s in block[position + 1:] if not isinstance(s.node, PASSIVE)]
            if after:
                names = ", ".join(sorted(locked))
                yield Hit(statement,
                          f"{statement.prediction.kind} takes ACCESS EXCLUSIVE on {names}, then the transaction "
                          f"runs {len(after)} more statement(s) before COMMIT: every read and write of {names} "
                          "queues until then",
                          "commit right after the ACCESS EXCLUSIVE step: move the other statements into their own "
                          "transactions, or make the exclusive step the last one before COMMIT",
                          works=tuple(work for later in (statement, *after) for work in statement_works(later)))
            break


RULE = Rule("statements-after-exclusive-lock", "danger", check)
