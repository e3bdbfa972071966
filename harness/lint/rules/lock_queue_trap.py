"""lock-queue-trap: a statement queueing for a blocking lock with no lock_timeout, on a table the load touches.

However instant the statement, while it waits for its lock (behind any transaction that has touched the
table) every later query of the table queues behind it: the whole table stops serving. Needs table facts
that say the load touches the table (a rehearsal's streams/table_facts.json, or a live database's statistics).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from harness.lint.context import LintContext
from harness.lint.lock_timeout import uncovered
from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule, mode_words, strongest_blocking_lock


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag each uncovered statement whose table the load touches."""
    for statement, (relation, mode) in uncovered(statements, context, strongest_blocking_lock):
        if context.touched(relation):
            yield Hit(statement,
                      f"{statement.prediction.kind} queues for {mode_words(mode)} on {relation}, which the load "
                      f"uses, with no lock_timeout: behind one open transaction on {relation} it waits, and every "
                      f"query of {relation} queues behind it for as long (the lock queue)",
                      "SET lock_timeout (e.g. '200ms') before it and retry on lock timeouts (the runner's "
                      "lock_timeout_ms with lock_retries), so it leaves the queue instead of blocking it")


RULE = Rule("lock-queue-trap", "danger", check)
