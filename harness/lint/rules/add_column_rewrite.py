"""add-column-rewrite: ADD COLUMN that rewrites a live table (volatile default, STORED generated, identity)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from harness.lint.context import LintContext
from harness.lint.duration import Work
from harness.lint.predict import Statement
from harness.lint.rules import Hit, Rule, is_existing

CAUSES = ("volatile-default", "serial", "identity", "generated-stored")
SAFER = {
    "volatile-default": "add the column with no default (or a constant / STABLE one such as now(), which does not "
                        "rewrite), then ALTER COLUMN ... SET DEFAULT for new rows, and backfill old rows in "
                        "batches, each in its own transaction",
    "serial": "add a nullable bigint column, CREATE SEQUENCE and ALTER COLUMN ... SET DEFAULT nextval(...) (no "
              "rewrite), then backfill old rows in batches",
    "identity": "add a nullable bigint column, CREATE SEQUENCE and ALTER COLUMN ... SET DEFAULT nextval(...) (no "
                "rewrite), then backfill old rows in batches",
    "generated-stored": "add a plain nullable column, fill new rows with a trigger, backfill old rows in batches",
}


def check(statements: Sequence[Statement], context: LintContext) -> Iterator[Hit]:
    """Flag column additions that copy the whole table under ACCESS EXCLUSIVE."""
    for statement in statements:
        for rewrite in statement.rewrite_causes:
            if rewrite.cause in CAUSES and is_existing(statement, rewrite.relation):
                yield Hit(statement,
                          f"{rewrite.detail} rewrites every row of {rewrite.relation} and rebuilds its indexes "
                          f"under ACCESS EXCLUSIVE: all reads and writes of {rewrite.relation} wait for the copy",
                          SAFER[rewrite.cause], works=(Work("rewrite", rewrite.relation),))


RULE = Rule("add-column-rewrite", "danger", check)
