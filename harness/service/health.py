"""Wait for the service under test to answer its health check (or, without one, to accept connections)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from harness.core.errors import EnvironmentFailure
from harness.environments.base import Environment


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    """True when GET `url` answers 2xx within `timeout` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def accepts_connections(url: str, timeout: float = 1.0) -> bool:
    """True when the host and port of `url` accept a TCP connection (a release without a health endpoint)."""
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def wait_healthy(env: Environment, url: str, timeout: float, interval: float = 0.02) -> float:
    """Poll `url` until healthy; returns seconds waited. Fails fast when the service exits."""
    return wait_ready(env.service_failure, url, "", timeout, interval)


def wait_ready(failure: Callable[[], str | None], base_url: str, health_path: str | None, timeout: float,
               interval: float = 0.02) -> float:
    """Poll `base_url` + `health_path` until it answers 2xx (None: until the port accepts connections);
    returns the seconds waited. Fails fast when `failure()` says the service is gone."""
    started = time.monotonic()
    ready = (lambda: accepts_connections(base_url, min(1.0, timeout))) if health_path is None else \
        (lambda: is_healthy(base_url + health_path, timeout=min(1.0, timeout)))
    while not ready():
        reason = failure()
        if reason is not None:
            raise EnvironmentFailure(f"service {reason}")
        if time.monotonic() - started > timeout:
            what = f"{base_url}{health_path}" if health_path is not None else f"{base_url} (accepting connections)"
            raise EnvironmentFailure(f"service not healthy at {what} after {timeout:g}s")
        time.sleep(interval)
    return time.monotonic() - started
