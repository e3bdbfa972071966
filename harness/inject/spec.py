"""What a plan's [[contention]] entry asks for (kept free of imports: the plan module reads it)."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("idle_in_transaction", "long_transaction", "long_query")


@dataclass(frozen=True)
class Contention:
    kind: str  # one of KINDS
    table: str
    phase: str  # starts when this phase begins
    seconds: float
