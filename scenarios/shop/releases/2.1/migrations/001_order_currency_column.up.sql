-- Add orders.currency without rewriting or scanning orders: every statement here is metadata only and holds
-- its ACCESS EXCLUSIVE lock for milliseconds. What matters is the wait for it: a DDL statement queued behind
-- a running query makes every later query on orders queue behind the DDL, so it may wait 200 ms at most.
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

-- No default yet: existing rows stay NULL (filled in batches by 002), nothing is rewritten.
SELECT pg_temp.lock_retry('ALTER TABLE orders ADD COLUMN currency text');

-- From now on 1.0, which does not name currency, inserts 'EUR'. Rows it inserted in between are NULL: 002.
SELECT pg_temp.lock_retry('ALTER TABLE orders ALTER COLUMN currency SET DEFAULT ''EUR''');
