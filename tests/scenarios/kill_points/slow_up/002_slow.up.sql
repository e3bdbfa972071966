-- Sleeps on purpose: tests stop the harness (or hit a deadline) while this statement runs.
SELECT pg_sleep(60);
