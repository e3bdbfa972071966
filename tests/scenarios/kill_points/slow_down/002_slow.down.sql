-- Sleeps on purpose: tests stop the harness while the rollback runs.
SELECT pg_sleep(60);
