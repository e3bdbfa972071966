"""A tiny generic HTTP service for the lint corpus: reads and writes rows of a big and a small table.

Standard library HTTP server, one thread per request, a psycopg pool. No lock_timeout or statement_timeout
of its own: a request waits as long as PostgreSQL makes it wait. Errors answer 500 with the SQLSTATE.
"""

from __future__ import annotations

import json
import os
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from psycopg_pool import ConnectionPool

BIG_ROWS = int(os.environ.get("BIG_ROWS", "1500000"))
SMALL_ROWS = 100
POOL = ConnectionPool(os.environ["DATABASE_URL"], min_size=4, max_size=24, open=True,
                      kwargs={"autocommit": True, "application_name": "corpus-app", "prepare_threshold": None})
QUERIES = {
    ("GET", "/big"): ("SELECT id, v FROM big WHERE id = %s", BIG_ROWS),
    ("POST", "/big"): ("UPDATE big SET v = v + 1 WHERE id = %s", BIG_ROWS),
    ("GET", "/small"): ("SELECT id, v FROM small WHERE id = %s", SMALL_ROWS),
    ("POST", "/small"): ("UPDATE small SET v = v + 1 WHERE id = %s", SMALL_ROWS),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def _answer(self, method: str) -> None:
        if self.path == "/health":
            return self._send(200, {"ok": True})
        query = QUERIES.get((method, self.path))
        if query is None:
            return self._send(404, {"error": "no such endpoint"})
        sql, rows = query
        try:
            with POOL.connection() as conn:
                conn.execute(sql, [random.randint(1, rows)])
        except psycopg.Error as exc:
            return self._send(500, {"error": str(exc).strip()[:200], "sqlstate": exc.sqlstate})
        self._send(200, {"ok": True})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    server.serve_forever()
