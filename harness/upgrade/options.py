"""How SQL migrations run: the plan's [upgrade] section."""

from __future__ import annotations

from dataclasses import dataclass

TRANSACTION_MODES = ("as_written", "statement", "file")
RUNNER_OPTION_KEYS = ("lock_timeout_ms", "statement_timeout_ms", "lock_retries", "retry_backoff_ms", "transaction")


@dataclass(frozen=True)
class RunnerOptions:
    """lock_timeout / statement_timeout for the migration session, retries with exponential backoff on
    lock timeouts (55P03), and the unit of commit: as the files say, one per statement, or one per file
    (CONCURRENTLY and other non-transactional statements always run on their own)."""

    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    lock_retries: int = 0
    retry_backoff_ms: int = 200
    transaction: str = "as_written"
