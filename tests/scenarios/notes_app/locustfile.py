"""notes traffic: reading notes by slug and by id, editing and writing notes, logins, account pages."""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, between, task

NOTES = int(os.environ.get("NOTES", "1000"))
ACCOUNTS = 2000
# Logins come back to a few regular accounts (as real users do): the ones 2.0 rehashed get logged into again
# after the rollback, so 1.0's failure to read a bcrypt hash shows in every run, not only in some.
REGULARS = 50


class NotesUser(FastHttpUser):
    wait_time = between(0.05, 0.15)

    @task(5)
    def read_by_slug(self) -> None:
        self.client.get(f"/notes/by-slug/note-{random.randint(1, NOTES)}", name="/notes/by-slug/[slug]")

    @task(2)
    def read_by_id(self) -> None:
        with self.client.get(f"/notes/{random.randint(1, NOTES)}", name="/notes/[id]", catch_response=True) as r:
            if r.status_code == 404:  # 2.x knows notes by uuid only
                r.success()

    @task(3)  # 1.0's touches bind a number: on the uuid keys each fails with 42883, so a few land in any window
    def touch(self) -> None:
        with self.client.post(f"/notes/{random.randint(1, NOTES)}/touch", name="/notes/[id]/touch",
                              catch_response=True) as r:
            if r.status_code == 404:
                r.success()

    @task(3)
    def edit(self) -> None:
        self.client.post(f"/notes/by-slug/note-{random.randint(1, NOTES)}/edit", json={"body": "edited"},
                         name="/notes/by-slug/[slug]/edit")

    @task(1)
    def write(self) -> None:
        self.client.post("/notes", json={"account_id": random.randint(1, ACCOUNTS), "title": "T" * 150,
                                         "body": "new"}, name="/notes")

    @task(2)
    def log_in(self) -> None:
        n = random.randint(1, REGULARS)
        self.client.post("/login", json={"email": f"a{n}@example.test", "password": f"pw-{n}"}, name="/login")

    @task(2)
    def account_page(self) -> None:
        self.client.get(f"/accounts/{random.randint(1, ACCOUNTS)}", name="/accounts/[id]")
