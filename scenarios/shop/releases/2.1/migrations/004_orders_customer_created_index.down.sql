-- Marks the index dead and waits for the queries using it, without blocking reads or writes of orders.
SET lock_timeout = '30s';

DROP INDEX CONCURRENTLY IF EXISTS orders_customer_created_idx;
