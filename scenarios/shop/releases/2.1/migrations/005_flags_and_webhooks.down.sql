-- Expand/contract: feature_flags and webhooks stay for 1.0 to ignore (the flags' state and the registrations
-- survive the rollback); dropping them is the contract step of a later release. The partner's login goes.
DROP ROLE IF EXISTS shop_backfill;
