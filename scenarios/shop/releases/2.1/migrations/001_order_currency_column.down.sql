-- Dropping a column is metadata only (no rewrite); only the wait for the lock needs bounding.
SET lock_timeout = '200ms';

-- lock_retry(ddl): run one statement with the session's short lock_timeout. If the lock is not granted in
-- time (55P03 lock_not_available), the failed attempt's subtransaction gives up its place in the lock queue,
-- so the requests queued behind it proceed; sleep with exponential backoff and jitter, retry, and after
-- `attempts` tries re-raise. A temporary function: it lives only as long as this file's connection.
CREATE OR REPLACE FUNCTION pg_temp.lock_retry(ddl text, attempts integer DEFAULT 40) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    attempt integer := 1;
BEGIN
    LOOP
        BEGIN
            EXECUTE ddl;
            RETURN attempt;
        EXCEPTION WHEN lock_not_available THEN
            IF attempt >= attempts THEN
                RAISE;
            END IF;
        END;
        PERFORM pg_sleep(least(2.0, 0.05 * 2 ^ attempt) * (0.5 + random()));
        attempt := attempt + 1;
    END LOOP;
END
$fn$;

SELECT pg_temp.lock_retry('ALTER TABLE orders DROP COLUMN IF EXISTS currency');
