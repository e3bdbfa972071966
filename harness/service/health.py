"""Wait for the service under test to answer its health check."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from harness.core.errors import EnvironmentFailure
from harness.environments.base import Environment


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    """True when GET `url` answers 2xx within `timeout` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(env: Environment, url: str, timeout: float, interval: float = 0.02) -> float:
    """Poll `url` until healthy; returns seconds waited. Fails fast when the service exits."""
    started = time.monotonic()
    while not is_healthy(url, timeout=min(1.0, timeout)):
        failure = env.service_failure()
        if failure is not None:
            raise EnvironmentFailure(f"service {failure}")
        if time.monotonic() - started > timeout:
            raise EnvironmentFailure(f"service not healthy at {url} after {timeout:g}s")
        time.sleep(interval)
    return time.monotonic() - started
