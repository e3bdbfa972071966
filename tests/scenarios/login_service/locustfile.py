"""Login service traffic: log in as the seeded identities, sign new users up, read them back."""

from __future__ import annotations

import random
import uuid

from locust import FastHttpUser, constant, task

from harness.load.acknowledge import acknowledge


class Person(FastHttpUser):
    wait_time = constant(0.02)

    @task(3)
    def login(self) -> None:
        n = random.randint(1, 50)
        with self.client.post("/login", json={"email": f"user{n}@example.test", "password": f"pw-{n}"},
                              name="/login", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"login failed: {response.status_code}")

    @task(2)
    def sign_up(self) -> None:
        body = {"email": f"{uuid.uuid4().hex}@example.test", "password": "secret-pw", "source": random.choice(
            ["web", "mobile"])}
        with self.client.post("/users", json=body, name="/users", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"sign-up failed: {response.status_code}")
                return
            user = response.json()["id"]
            acknowledge("users", user)
        self.client.get(f"/users/{user}", name="/users/[id]")
