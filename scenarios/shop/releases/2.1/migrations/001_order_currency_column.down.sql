-- Metadata only; the 200 ms lock_timeout and retries of the plan apply here too.
ALTER TABLE orders DROP COLUMN IF EXISTS currency;
