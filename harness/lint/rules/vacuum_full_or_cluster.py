"""vacuum-full-or-cluster: VACUUM FULL or CLUSTER, which copy a live table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule, is_existing


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag full-table rewrites done for maintenance."""
    for statement in statements:
        node = statement.node
        if not (isinstance(node, ast.ClusterStmt) or statement.prediction.kind == "VACUUM FULL"):
            continue
        tables = sorted(statement.prediction.locks) or ["every table it applies to"]
        if statement.prediction.locks and not any(is_existing(statement, t) for t in tables):
            continue
        names = ", ".join(tables)
        yield Hit(statement,
                  f"{statement.prediction.kind} rewrites {names} and all its indexes under ACCESS EXCLUSIVE: "
                  "every read and write waits for the whole copy (which also needs room for a second copy)",
                  "plain VACUUM (does not block reads or writes); to give space back online use pg_repack or "
                  "pg_squeeze", works=tuple(Work("rewrite", t) for t in statement.prediction.locks))


RULE = Rule("vacuum-full-or-cluster", "danger", check)
