#!/bin/sh
# Nightly maintenance (run by systemd/shop-maintenance.timer): rebuild the search index, refresh statistics.
set -eu
psql "$DATABASE_URL" -c "REINDEX TABLE CONCURRENTLY products"
psql "$DATABASE_URL" -c "VACUUM (ANALYZE) orders"
systemctl status --no-pager shop-maintenance.service >/dev/null || true
