"""A tiny migration tool with its own version table: each step commits on its own, a pause between them."""

import os
import sys
import time

import psycopg

STEPS = [("s1", "ALTER TABLE items ADD COLUMN s1 int", "ALTER TABLE items DROP COLUMN s1"),
         ("s2", "ALTER TABLE items ADD COLUMN s2 int", "ALTER TABLE items DROP COLUMN s2"),
         ("s3", "ALTER TABLE items ADD COLUMN s3 int", "ALTER TABLE items DROP COLUMN s3")]

with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS tool_versions (step text PRIMARY KEY)")
    done = {row[0] for row in conn.execute("SELECT step FROM tool_versions")}
    if sys.argv[1] == "up":
        for name, up, _ in STEPS:
            if name not in done:
                with conn.transaction():
                    conn.execute(up)
                    conn.execute("INSERT INTO tool_versions VALUES (%s)", [name])
                time.sleep(float(os.environ.get("TOOL_PAUSE_S", "0.6")))
    else:
        for name, _, down in reversed(STEPS):
            if name in done:
                with conn.transaction():
                    conn.execute(down)
                    conn.execute("DELETE FROM tool_versions WHERE step = %s", [name])
