-- Backfill the orders that predate the default, outside any DDL transaction: batches of 10,000 rows by
-- primary key, each committed on its own (COMMIT inside DO is allowed because the harness runs it in
-- autocommit, not in a transaction block). No table lock beyond ROW EXCLUSIVE, row locks held for one batch.
-- Rows above max(id) were inserted after 001 set the default, so they already hold 'EUR'.
DO $backfill$
DECLARE
    batch CONSTANT bigint := 10000;
    last_id bigint;
    low bigint;
BEGIN
    SELECT min(id) - 1, max(id) INTO low, last_id FROM orders;
    WHILE low < last_id LOOP
        UPDATE orders SET currency = 'EUR' WHERE id > low AND id <= low + batch AND currency IS NULL;
        low := low + batch;
        COMMIT;
    END LOOP;
END
$backfill$;
