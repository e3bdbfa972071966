DROP ROLE IF EXISTS shop_backfill;
DROP TABLE IF EXISTS webhooks;
DROP TABLE IF EXISTS feature_flags;
