-- NOT NULL without scanning orders under ACCESS EXCLUSIVE: a NOT VALID check (instant), validated under
-- SHARE UPDATE EXCLUSIVE (reads and writes go on), lets SET NOT NULL skip its scan (PostgreSQL 12+).
-- Named orders_currency_check: PostgreSQL 18 gives the NOT NULL constraint itself the name
-- orders_currency_not_null.
ALTER TABLE orders ADD CONSTRAINT orders_currency_check CHECK (currency IS NOT NULL) NOT VALID;

ALTER TABLE orders VALIDATE CONSTRAINT orders_currency_check;

ALTER TABLE orders ALTER COLUMN currency SET NOT NULL;

-- Its own statement: dropping it in the SET NOT NULL statement would make that one scan the table.
ALTER TABLE orders DROP CONSTRAINT orders_currency_check;
