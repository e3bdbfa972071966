"""Where a file runs without a lock_timeout: the statements that would wait for a blocking lock forever.

Tracks SET / SET LOCAL / RESET lock_timeout and set_config('lock_timeout', ...) through the file, starting
from what the migration runner sets (LintContext.lock_timeout).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pglast import ast
from pglast.enums import VariableSetKind

from harness.lint.context import LintContext
from harness.lint.predict import SHARE, Statement, lock_rank, walk


def uncovered(statements: Sequence[Statement], context: LintContext,
              strongest_lock: Callable[[Statement], tuple[str, str] | None]) -> list[tuple[Statement, tuple[str, str]]]:
    """(statement, (relation, mode)) for each statement needing a SHARE-or-stronger blocking lock while no
    lock_timeout is in effect. `strongest_lock(statement)` gives its strongest blocking lock, if any."""
    session, local = context.lock_timeout, False
    found: list[tuple[Statement, tuple[str, str]]] = []
    for statement in statements:
        setting = lock_timeout_setting(statement.node)
        if setting is not None:
            is_local, enabled = setting
            if not is_local:
                session, local = enabled, False
            elif statement.transaction is not None:
                local = enabled
        strongest = strongest_lock(statement)
        if strongest and lock_rank(strongest[1]) >= lock_rank(SHARE) and not (session or local):
            found.append((statement, strongest))
        if isinstance(statement.node, ast.TransactionStmt) and statement.transaction is not None \
                and statement.prediction.kind in ("COMMIT", "ROLLBACK", "PREPARE TRANSACTION"):
            local = False
    return found


def lock_timeout_setting(node: ast.Node) -> tuple[bool, bool] | None:
    """(is_local, enabled) when the statement sets lock_timeout, else None; '0' and DEFAULT disable it."""
    if isinstance(node, ast.VariableSetStmt):
        if node.kind == VariableSetKind.VAR_RESET_ALL:
            return False, False
        if str(node.name or "").lower() != "lock_timeout":
            return None
        if node.kind != VariableSetKind.VAR_SET_VALUE:
            return bool(node.is_local), False
        return bool(node.is_local), _enabled(node.args[0] if node.args else None)
    if isinstance(node, ast.SelectStmt):
        for call in walk(node):
            if isinstance(call, ast.FuncCall) and call.funcname \
                    and str(call.funcname[-1].sval).lower() == "set_config" \
                    and len(args := call.args or ()) == 3 and _constant(args[0]) == "lock_timeout":
                return str(_constant(args[2])).lower() in ("true", "t", "on"), _enabled(args[1])
    return None


def _constant(node: object) -> object:
    if isinstance(node, ast.A_Const) and node.val is not None:
        value = node.val
        for attribute in ("sval", "ival", "boolval", "fval"):
            if hasattr(value, attribute):
                return getattr(value, attribute)
    return None


def _enabled(node: object) -> bool:
    """Whether a lock_timeout value is a real timeout (not 0, which means wait forever)."""
    value = str(_constant(node)).strip().lower()
    return value not in ("0", "0ms", "0s", "none", "")
