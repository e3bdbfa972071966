"""Seed the notes 1.0 schema: 2000 accounts (password pw-<n>, notes-compat 1 hashes) and N notes.

    python seed.py --notes N      (connects with libpq's PG* variables)
"""

from __future__ import annotations

import argparse
import io

import notes_compat
import psycopg

ACCOUNTS = 2000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, required=True)
    notes = parser.parse_args().notes
    with psycopg.connect() as conn, conn.cursor() as cur:
        with cur.copy("COPY accounts (id, email, password_hash) FROM STDIN") as copy:
            for n in range(1, ACCOUNTS + 1):
                copy.write_row((n, f"a{n}@example.test", notes_compat.hash_password(f"pw-{n}")))
        buffer = io.StringIO()
        for i in range(1, notes + 1):
            buffer.write(f"{i}\tnote-{i}\t{i % ACCOUNTS + 1}\tNote {i}\tThe body of note {i}.\n")
        buffer.seek(0)
        with cur.copy("COPY notes (id, slug, account_id, title, body) FROM STDIN") as copy:
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
        cur.execute("SELECT setval('accounts_id_seq', %s), setval('notes_id_seq', %s)", [ACCOUNTS, notes])
        cur.execute("ANALYZE")


if __name__ == "__main__":
    main()
