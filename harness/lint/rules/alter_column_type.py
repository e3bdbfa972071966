"""alter-column-type: ALTER COLUMN TYPE that rewrites a live table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule, is_existing


def check(statements: Sequence[Statement]) -> Iterator[Hit]:
    """Flag type changes that are not binary-coercible (or whose old type the file does not show)."""
    for statement in statements:
        for rewrite in statement.rewrite_causes:
            if rewrite.cause == "column-type" and is_existing(statement, rewrite.relation):
                yield Hit(statement,
                          f"{rewrite.detail} rewrites {rewrite.relation} and rebuilds its indexes under ACCESS "
                          f"EXCLUSIVE: all reads and writes of {rewrite.relation} wait for the copy",
                          "add a new column of the new type, keep it in sync with a trigger, backfill in "
                          "batches, switch the code over, then drop the old column (widening varchar(n) or "
                          "changing varchar to text does not rewrite)")


RULE = Rule("alter-column-type", "danger", check)
