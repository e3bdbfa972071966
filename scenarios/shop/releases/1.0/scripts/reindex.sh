#!/bin/sh
# Rebuild the search index without blocking writes (run by systemd/shop-reindex.timer).
set -eu
psql "$DATABASE_URL" -c "REINDEX TABLE CONCURRENTLY products"
