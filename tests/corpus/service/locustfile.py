"""Load for the lint corpus: reads and writes of the big and the small table, all the time."""

from __future__ import annotations

from locust import FastHttpUser, between, task


class CorpusUser(FastHttpUser):
    wait_time = between(0.02, 0.06)

    @task(3)
    def read_big(self) -> None:
        self.client.get("/big")

    @task(2)
    def write_big(self) -> None:
        self.client.post("/big")

    @task(2)
    def read_small(self) -> None:
        self.client.get("/small")

    @task(1)
    def write_small(self) -> None:
        self.client.post("/small")
