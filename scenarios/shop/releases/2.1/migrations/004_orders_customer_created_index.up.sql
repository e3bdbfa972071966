-- Build the index without blocking writes. CONCURRENTLY cannot run in a transaction (nor in a DO block, so
-- no lock_retry here). Its SHARE UPDATE EXCLUSIVE lock does not conflict with the service's reads and writes,
-- so a longer wait holds up no request: it only bounds how long the build waits for a VACUUM or other DDL
-- (after deadlock_timeout, a blocked lock request cancels autovacuum) and for older transactions to finish.
SET lock_timeout = '30s';

-- A CONCURRENTLY build that failed leaves an INVALID index behind: clear it before building again.
DROP INDEX CONCURRENTLY IF EXISTS orders_customer_created_idx;

CREATE INDEX CONCURRENTLY orders_customer_created_idx ON orders (customer_id, created_at);
