#!/bin/sh
# Yesterday's sales, uploaded to the reporting partner (run by cron/shop-reports).
set -eu
psql "$DATABASE_URL" -c "\copy (SELECT date_trunc('day', created_at) AS day, count(*), sum(total_cents) FROM orders WHERE created_at >= now() - interval '1 day' GROUP BY 1) TO '/tmp/shop-report.csv' CSV HEADER"
curl -fsS -X POST --data-binary @/tmp/shop-report.csv https://reports.partner-analytics.com/v2/upload
