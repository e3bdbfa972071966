"""A service that answers every database error with a bare 500 (no SQLSTATE in the body), as real apps do.

Connects with libpq's PG* variables (the harness sets them for every command). Routes: /health, /ok,
/undefined-function (42883), /bad-cast (22P02), /deadlock/a and /deadlock/b (one of the two is the 40P01 victim).
"""

from __future__ import annotations

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

SETUP = "CREATE TABLE IF NOT EXISTS pair (id int PRIMARY KEY, n int); INSERT INTO pair VALUES (1, 0), (2, 0) " \
        "ON CONFLICT DO NOTHING"
QUERIES = {"/undefined-function": ["SELECT no_such_function(1)"], "/bad-cast": ["SELECT 'abc'::int"],
           "/ok": ["SELECT 1"]}


def deadlock(first: int, second: int) -> list[str]:
    return [f"UPDATE pair SET n = n + 1 WHERE id = {first}", "SELECT pg_sleep(0.3)",
            f"UPDATE pair SET n = n + 1 WHERE id = {second}"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/health":
            return self._answer(200, b"ok")
        statements = QUERIES.get(self.path) or {"/deadlock/a": deadlock(1, 2), "/deadlock/b": deadlock(2, 1)}.get(
            self.path)
        if statements is None:
            return self._answer(404, b"not found")
        try:
            with psycopg.connect(application_name="plain-errors") as conn:  # PGHOST, PGPORT, ... from the env
                for sql in statements:
                    conn.execute(sql)
        except psycopg.Error:
            return self._answer(500, b"Internal Server Error")
        return self._answer(200, b"ok")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


if __name__ == "__main__":
    for _attempt in range(50):
        try:
            with psycopg.connect() as conn:
                conn.execute(SETUP)
            break
        except psycopg.OperationalError:
            time.sleep(0.1)
    ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler).serve_forever()
