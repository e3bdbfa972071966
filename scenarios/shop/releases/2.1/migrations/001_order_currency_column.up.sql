-- Add orders.currency without rewriting or scanning orders: both statements are metadata only and hold their
-- ACCESS EXCLUSIVE lock for milliseconds. What matters is the wait for it: a DDL queued behind a running query
-- makes every later query on orders queue behind the DDL. So the plan runs 2.1's migrations with a 200 ms
-- lock_timeout, retried with backoff (releases."2.1".migrations in rehearsal.toml): a DDL that cannot get its
-- lock quickly leaves the queue, lets the requests through, and tries again.

-- No default yet: existing rows stay NULL (filled in batches by 002), nothing is rewritten.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text;

-- From now on 1.0, which does not name currency, inserts 'EUR'. Rows it inserted in between are NULL: 002.
ALTER TABLE orders ALTER COLUMN currency SET DEFAULT 'EUR';
