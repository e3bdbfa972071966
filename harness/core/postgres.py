"""PostgreSQL facts the harness relies on in several places: application names, the log prefix, OIDs, SQLSTATEs."""

from __future__ import annotations

# application_name of each backend the harness opens, so that observers can tell them apart.
MIGRATION_APPLICATION = "rehearse-migrate"  # migration runners and migration tools (PGAPPNAME)
SEED_APPLICATION = "rehearse-seed"
LOCK_SAMPLER_APPLICATION = "rehearse-lock-sampler"
MIGRATION_TRACER_APPLICATION = "rehearse-migration-tracer"
LOCK_WATCHER_APPLICATION = "rehearse-lock-watcher"
CONTENTION_APPLICATION = "rehearse-contention"
CHECK_APPLICATION = "rehearse-check"
# Every application_name above starts with it: a backend without it is the service's (or the user's own).
HARNESS_APPLICATION_PREFIX = "rehearse-"

# The server's log_line_prefix: epoch, pid, SQLSTATE, application. observe.server_log parses lines back with it,
# so that the errors the service's backends hit are known without the service saying so.
LOG_LINE_PREFIX = "%n [%p] %e %a: "
# Given to migration tools through PGOPTIONS: the server logs every statement they run, with its duration.
STATEMENT_LOGGING_OPTIONS = "-c log_min_duration_statement=0"

FIRST_USER_OID = 16384  # objects below it belong to the system catalogs

LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
DEADLOCK_DETECTED = "40P01"
SQLSTATE_MEANINGS = {
    LOCK_NOT_AVAILABLE: "lock timeout",
    QUERY_CANCELED: "statement timeout (or cancel)",
    DEADLOCK_DETECTED: "deadlock",
    "42703": "undefined column (schema mismatch)",
    "42P01": "undefined table (schema mismatch)",
    "42883": "undefined function (schema mismatch)",
    "22P02": "invalid text representation",
    "23502": "not-null violation",
    "23505": "unique violation",
    "23503": "foreign key violation",
    "0A000": "feature not supported (a missing extension?)",
    "42804": "datatype mismatch (schema mismatch)",
    "53300": "too many connections",
}
