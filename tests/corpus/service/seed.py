"""Seed the corpus tables: `big` with N rows (argument), `small` with 100."""

from __future__ import annotations

import os
import sys

import psycopg

rows = int(sys.argv[1])
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("INSERT INTO small SELECT g, g, 'note ' || g, g FROM generate_series(1, 100) g")
    conn.execute("INSERT INTO big SELECT g, (g::bigint * 7919) %% 100000, md5(g::text), 'note ' || g, g %% 100 + 1 "
                 "FROM generate_series(1, %s) g", [rows])
    conn.execute("VACUUM ANALYZE big")
    conn.execute("VACUUM ANALYZE small")
