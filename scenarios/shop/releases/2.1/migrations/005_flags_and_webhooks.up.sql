-- Feature flags (read by the service) and outgoing webhooks (a dispatcher posts to them). IF NOT EXISTS: the
-- rollback leaves both tables in place (expand/contract), so an upgrade applied again finds them.
CREATE TABLE IF NOT EXISTS feature_flags (name text PRIMARY KEY, enabled boolean NOT NULL DEFAULT false);
INSERT INTO feature_flags (name, enabled) VALUES ('order_currency', false) ON CONFLICT (name) DO NOTHING;
CREATE TABLE IF NOT EXISTS webhooks (name text PRIMARY KEY, url text NOT NULL,
                                     created_at timestamptz NOT NULL DEFAULT now());
-- The payments partner follows the upgrade while it runs; a cleanup step removes the registration after.
INSERT INTO webhooks (name, url) VALUES ('migration-progress', 'https://hooks.partner-payments.com/v1/migrations/shop')
ON CONFLICT (name) DO NOTHING;
-- The partner's backfill job logs in for the time of the upgrade; a cleanup step revokes it after.
CREATE ROLE shop_backfill LOGIN PASSWORD 'shop-backfill-2024-q3';  -- pragma: allowlist secret
