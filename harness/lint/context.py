"""What the lint knows beyond the SQL of a file: the table facts, and whether the runner sets a lock_timeout."""

from __future__ import annotations

from dataclasses import dataclass

from harness.lint.facts import Facts


@dataclass(frozen=True)
class LintContext:
    facts: Facts | None = None  # None: sizes unknown, today's rules apply
    lock_timeout: bool = False  # the plan's SQL runner sets a lock_timeout before the file runs

    def touched(self, table: str | None) -> bool | None:
        """Whether the load touches `table`: True, False, or None (not known)."""
        known = self.facts.table(table) if self.facts is not None else None
        return known.touched if known is not None else None


NO_CONTEXT = LintContext()
