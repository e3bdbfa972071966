"""A tiny login service for the rollback tests: 1.0 and 2.0 in one file (REHEARSE_VERSION says which).

2.0 re-encodes a user's password hash at login (sha256$... -> v2$salt$...), records where users signed up
(users.signup_source, its migration), and writes its settings file when it starts. 1.0 cannot verify a v2
hash: after a rollback, users who logged in while 2.0 served cannot log in (HTTP 500). GET /flags shows the
flags file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

VERSION = os.environ.get("REHEARSE_VERSION", "1.0")
NEW = VERSION.startswith("2")
DSN = os.environ["DATABASE_URL"]
FLAGS = Path(os.environ["FLAGS_FILE"])
SETTINGS = Path(os.environ["SETTINGS_FILE"])
_local = threading.local()


def db() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(DSN, autocommit=True, application_name=f"login-{VERSION}")
    return conn


def sha256(password: str) -> str:
    return "sha256$" + hashlib.sha256(password.encode()).hexdigest()


def v2(password: str, salt: str) -> str:
    return f"v2${salt}$" + hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()


def verify(stored: str, password: str) -> bool:
    scheme = stored.split("$", 1)[0]
    if scheme == "sha256":
        return stored == sha256(password)
    if scheme == "v2" and NEW:
        return stored == v2(password, stored.split("$")[1])
    raise ValueError(f"unknown password scheme {scheme!r}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:  # noqa: N802
        try:
            if self.path == "/health":
                db().execute("SELECT 1")
                return self.answer(200, {"status": "ok", "version": VERSION})
            if self.path == "/flags":
                return self.answer(200, {"flags": json.loads(FLAGS.read_text())})
            found = re.fullmatch(r"/users/(\d+)", self.path)
            if found:
                row = db().execute("SELECT id, email FROM users WHERE id = %s", [int(found[1])]).fetchone()
                return self.answer(200, {"id": row[0], "email": row[1]}) if row else self.answer(404, {"error": "no"})
            self.answer(404, {"error": "not found"})
        except psycopg.Error as exc:
            self.answer(500, {"error": str(exc).strip(), "sqlstate": exc.sqlstate})

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = self.body()
            if self.path == "/users":
                pw = sha256(body["password"])
                if NEW:
                    row = db().execute("INSERT INTO users (email, pw, signup_source) VALUES (%s, %s, %s) RETURNING id",
                                       [body["email"], pw, body.get("source", "web")]).fetchone()
                else:
                    row = db().execute("INSERT INTO users (email, pw) VALUES (%s, %s) RETURNING id",
                                       [body["email"], pw]).fetchone()
                return self.answer(201, {"id": row[0]})
            if self.path == "/login":
                row = db().execute("SELECT id, pw FROM users WHERE email = %s", [body["email"]]).fetchone()
                if row is None or not verify(row[1], body["password"]):
                    return self.answer(401, {"error": "bad credentials"})
                if NEW and row[1].startswith("sha256$"):  # re-encode at login
                    db().execute("UPDATE users SET pw = %s WHERE id = %s", [v2(body["password"], secrets.token_hex(4)),
                                                                            row[0]])
                return self.answer(200, {"id": row[0], "token": secrets.token_hex(8)})
            self.answer(404, {"error": "not found"})
        except psycopg.Error as exc:
            self.answer(500, {"error": str(exc).strip(), "sqlstate": exc.sqlstate})
        except ValueError as exc:
            self.answer(500, {"error": str(exc), "password": body.get("password", "")})


def main() -> None:
    if NEW:
        SETTINGS.write_text(json.dumps({"hash_scheme": "v2"}) + "\n")
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
