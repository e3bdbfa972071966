"""Start the service at a release, and swap it from one release to another, measuring the gap."""

from __future__ import annotations

import time

from harness.environments.base import Environment
from harness.plan import Plan, Release
from harness.records.run import Swap
from harness.service.health import wait_healthy


def start(env: Environment, plan: Plan, release: Release) -> str:
    """Start `release` and wait for its health check; returns the service URL."""
    url = env.start_service(release)
    wait_healthy(env, url + plan.health_path, plan.start_timeout_s)
    return url


def swap(env: Environment, plan: Plan, old: Release, new: Release, phase: str) -> Swap:
    """Stop `old`, start `new`, wait until healthy (stop-then-start: the gap is the downtime)."""
    stopped_at = time.time()
    env.stop_service()
    start(env, plan, new)
    return Swap(phase, old.version, new.version, stopped_at, time.time())
