"""Swap the running service from one release to another and measure how long it was unavailable."""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.environments.base import Environment
from harness.plan import Plan, Release
from harness.service.health import wait_healthy


@dataclass(frozen=True)
class Swap:
    from_version: str
    to_version: str
    stopped_at: float
    healthy_at: float

    @property
    def downtime_s(self) -> float:
        return self.healthy_at - self.stopped_at


def start(env: Environment, plan: Plan, release: Release) -> str:
    """Start `release` and wait for its health check; returns the service URL."""
    url = env.start_service(release)
    wait_healthy(env, url + plan.health_path, plan.start_timeout_s)
    return url


def swap(env: Environment, plan: Plan, old: Release, new: Release) -> Swap:
    """Stop `old`, start `new`, wait until healthy (stop-then-start: the gap is the downtime)."""
    stopped_at = time.time()
    env.stop_service()
    start(env, plan, new)
    return Swap(old.version, new.version, stopped_at, time.time())
