"""missing-lock-timeout: a blocking lock requested with no lock_timeout set earlier in the file (or by the
runner), on tables the load is not known to touch (on those, lock-queue-trap is the danger)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from harness.lint.context import LintContext
from harness.lint.lock_timeout import uncovered
from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule, mode_words, strongest_blocking_lock


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag the first statement needing a SHARE-or-stronger lock while no lock_timeout is in effect."""
    found = [(statement, lock) for statement, lock in uncovered(statements, context, strongest_blocking_lock)
             if not context.touched(lock[0])]
    if found:
        statement, (relation, mode) = found[0]
        more = f" ({len(found) - 1} more statement(s) of this file likewise)" if len(found) > 1 else ""
        yield Hit(statement,
                  f"{statement.prediction.kind} waits for {mode_words(mode)} on {relation} with no lock_timeout: "
                  f"stuck behind one long query, it makes every later query on {relation} queue behind it{more}",
                  "SET lock_timeout = '2s' (or SET LOCAL inside the transaction) at the top of the file, and "
                  "retry the migration when it times out")


RULE = Rule("missing-lock-timeout", "warning", check)
