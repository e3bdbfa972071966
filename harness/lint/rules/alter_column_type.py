"""alter-column-type: ALTER COLUMN TYPE that rewrites a live table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule, is_existing

SAFER = ("add a new column of the new type, keep it in sync with a trigger, backfill in batches, switch the code "
         "over, then drop the old column (widening varchar(n) or changing varchar to text does not rewrite)")


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag type changes that are not binary-coercible; those whose old type is not known (neither the file
    nor the table facts say it) and could be free are a warning."""
    for statement in statements:
        for rewrite in statement.rewrite_causes:
            if rewrite.cause == "column-type" and is_existing(statement, rewrite.relation):
                yield Hit(statement,
                          f"{rewrite.detail} rewrites {rewrite.relation} and rebuilds its indexes under ACCESS "
                          f"EXCLUSIVE: all reads and writes of {rewrite.relation} wait for the copy",
                          SAFER, works=(Work("rewrite", rewrite.relation),))
        for rewrite in statement.uncertain_rewrites:
            if is_existing(statement, rewrite.relation):
                yield Hit(statement,
                          f"{rewrite.detail} is a catalog change if the column already has a narrower type of the "
                          f"same family (varchar(n), numeric(p, s)), else it rewrites {rewrite.relation} under "
                          "ACCESS EXCLUSIVE: its current type is not known here (give table facts: --dsn, "
                          "--plan or --facts)",
                          SAFER, works=(Work("rewrite", rewrite.relation),), severity="warning")


RULE = Rule("alter-column-type", "danger", check)
