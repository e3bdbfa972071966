"""notes 2.x: notes keyed by uuid, passwords rehashed with bcrypt (the database's pgcrypto) on login.

Configured by separate variables like 1.0 (NOTES_DB_HOST, NOTES_DB_PORT, NOTES_DB_USER, NOTES_DB_PASSWORD,
NOTES_DB_NAME, NOTES_LISTEN, NOTES_LOCK_TIMEOUT_MS) and NOTES_TITLE_MAX (2.1: 150). Needs notes-compat 2 (its
own virtualenv). Health endpoint: /healthz. Database errors are answered with a bare 500.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import notes_compat
from sqlalchemy import URL, create_engine, text
from sqlalchemy.exc import DBAPIError

if notes_compat.MAJOR != 2:
    sys.exit(f"notes 2.x needs notes-compat 2.x, found {notes_compat.MAJOR} ({notes_compat.__file__})")

VERSION = os.environ.get("REHEARSE_VERSION", "2.0")
LOCK_TIMEOUT_MS = int(os.environ.get("NOTES_LOCK_TIMEOUT_MS", "0"))
TITLE_MAX = int(os.environ.get("NOTES_TITLE_MAX", "100"))
ENGINE = create_engine(URL.create(
    "postgresql+psycopg", username=os.environ["NOTES_DB_USER"], password=os.environ["NOTES_DB_PASSWORD"],
    host=os.environ["NOTES_DB_HOST"], port=int(os.environ["NOTES_DB_PORT"]), database=os.environ["NOTES_DB_NAME"]),
    pool_size=12, max_overflow=4, pool_timeout=5)


def uuid_or_none(text_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text_id)
    except ValueError:
        return None


def note_by_slug(slug: str) -> tuple[int, object]:
    with ENGINE.connect() as conn:
        row = conn.execute(text("SELECT id, slug, title FROM notes WHERE slug = :slug"), {"slug": slug}).first()
    return (200, {"id": str(row.id), "slug": row.slug, "title": row.title}) if row else (404, {"error": "no such note"})


def note_by_id(note_id: str) -> tuple[int, object]:
    key = uuid_or_none(note_id)
    if key is None:
        return 404, {"error": "notes are known by their uuid"}
    with ENGINE.connect() as conn:
        row = conn.execute(text("SELECT id, slug FROM notes WHERE id = :id"), {"id": key}).first()
    return (200, {"id": str(row.id), "slug": row.slug}) if row else (404, {"error": "no such note"})


def edit_note(slug: str, body: str) -> tuple[int, object]:
    with ENGINE.begin() as conn:
        if LOCK_TIMEOUT_MS:
            conn.execute(text(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}"))
        row = conn.execute(text("UPDATE notes SET body = :body, updated_at = now() WHERE slug = :slug "
                                "RETURNING account_id"), {"body": body, "slug": slug}).first()
        if row is None:
            return 404, {"error": "no such note"}
        time.sleep(0.01)
        conn.execute(text("UPDATE accounts SET updated_at = now() WHERE id = :id"), {"id": row.account_id})
        time.sleep(0.01)
    return 200, {"edited": slug}


def create_note(account_id: int, title: str, body: str) -> tuple[int, object]:
    slug = f"n-{uuid.uuid4().hex}"
    with ENGINE.begin() as conn:
        if LOCK_TIMEOUT_MS:
            conn.execute(text(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}"))
        conn.execute(text("INSERT INTO notes (slug, account_id, title, body) VALUES (:slug, :account, :title, :body)"),
                     {"slug": slug, "account": account_id, "title": title[:TITLE_MAX], "body": body})
        conn.execute(text("UPDATE accounts SET notes_count = notes_count + 1 WHERE id = :id"), {"id": account_id})
    return 201, {"slug": slug}


def login(email: str, password: str) -> tuple[int, object]:
    with ENGINE.begin() as conn:
        row = conn.execute(text("SELECT id, password_hash, password_algo FROM accounts WHERE email = :email"),
                           {"email": email}).first()
        if row is None:
            return 401, {"error": "wrong email or password"}
        if row.password_algo == "sha256":
            if not notes_compat.verify_sha256(password, row.password_hash):
                return 401, {"error": "wrong email or password"}
            conn.execute(text("UPDATE accounts SET password_hash = crypt(:pw, gen_salt('bf', 4)), "
                              "password_algo = :algo, last_login = now() WHERE id = :id"),
                         {"pw": password, "algo": notes_compat.REHASH_TO, "id": row.id})
        else:
            ok = conn.execute(text("SELECT password_hash = crypt(:pw, password_hash) AS ok FROM accounts "
                                   "WHERE id = :id"), {"pw": password, "id": row.id}).scalar()
            if not ok:
                return 401, {"error": "wrong email or password"}
            conn.execute(text("UPDATE accounts SET last_login = now() WHERE id = :id"), {"id": row.id})
    return 200, {"account": row.id}


def account(account_id: int) -> tuple[int, object]:
    with ENGINE.connect() as conn:
        row = conn.execute(text("SELECT id, email, notes_count FROM accounts WHERE id = :id"),
                           {"id": account_id}).first()
    return (200, {"id": row.id, "email": row.email, "notes": row.notes_count}) if row else (404, {"error": "none"})


ROUTES = [
    ("GET", re.compile(r"/healthz"), lambda m, b: (200, {"version": VERSION})),
    ("GET", re.compile(r"/notes/by-slug/([\w-]+)"), lambda m, b: note_by_slug(m[1])),
    ("GET", re.compile(r"/notes/([^/]+)"), lambda m, b: note_by_id(m[1])),
    ("POST", re.compile(r"/notes/([^/]+)/touch"), lambda m, b: (404, {"error": "notes are known by their uuid"})),
    ("POST", re.compile(r"/notes/by-slug/([\w-]+)/edit"), lambda m, b: edit_note(m[1], str(b.get("body", "")))),
    ("POST", re.compile(r"/notes"), lambda m, b: create_note(int(b["account_id"]), str(b["title"]),
                                                              str(b.get("body", "")))),
    ("POST", re.compile(r"/login"), lambda m, b: login(str(b["email"]), str(b["password"]))),
    ("GET", re.compile(r"/accounts/(\d+)"), lambda m, b: account(int(m[1]))),
]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        for verb, pattern, handler in ROUTES:
            match = pattern.fullmatch(self.path)
            if verb == method and match:
                try:
                    status, payload = handler(match, body)
                except DBAPIError:
                    status, payload = 500, "Internal Server Error"
                return self._send(status, payload)
        self._send(404, {"error": "not found"})

    def _send(self, status: int, payload: object) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


if __name__ == "__main__":
    host, _, port = os.environ["NOTES_LISTEN"].rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    print(f"notes {VERSION} on {host}:{port} (notes-compat {notes_compat.MAJOR} from {notes_compat.__file__}, "
          f"python {sys.executable})", flush=True)
    server.serve_forever()
