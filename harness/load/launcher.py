"""Run Locust headless as a separate process for the whole timeline, recording every request."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from harness.core.errors import EnvironmentFailure
from harness.core.net import is_loopback_url
from harness.core.processes import OwnedProcess, run_env
from harness.core.text import expand
from harness.load.contract import (
    ACKNOWLEDGED_FILE_ENV,
    ACKNOWLEDGED_STREAM,
    ERROR_BODIES_FILE_ENV,
    ERROR_BODIES_STREAM,
    RECORDER_PATH,
    REQUESTS_FILE_ENV,
)
from harness.plan import Plan, placeholders


class Load:
    """Verbs: start(url) begins traffic, ramp_seconds() says how long spawning takes, stop() ends it."""

    def __init__(self, plan: Plan, requests_file: Path, log_path: Path, run_id: str) -> None:
        self.plan, self.requests_file, self.log_path, self.run_id = plan, requests_file, log_path, run_id
        self.process: OwnedProcess | None = None

    def start(self, url: str) -> None:
        """Launch Locust against `url` (loopback only) with the plan's users and spawn rate."""
        if not is_loopback_url(url):  # parsed and resolved (core.net), not a prefix: localhost.example.com is not
            raise EnvironmentFailure(f"refusing to send load to {url}: only loopback (127.0.0.0/8) is allowed")
        values = placeholders(self.plan)
        env = {**os.environ, **run_env(self.run_id), REQUESTS_FILE_ENV: str(self.requests_file),
               ACKNOWLEDGED_FILE_ENV: str(self.requests_file.with_name(ACKNOWLEDGED_STREAM)),
               ERROR_BODIES_FILE_ENV: str(self.requests_file.with_name(ERROR_BODIES_STREAM))}
        env |= {key: expand(value, values) for key, value in self.plan.load_env.items()}
        argv = [sys.executable, "-m", "locust", "-f", f"{RECORDER_PATH},{self.plan.locustfile}",
                "--headless", "--host", url, "--users", str(self.plan.users),
                "--spawn-rate", str(self.plan.spawn_rate), "--only-summary", "--loglevel", "WARNING",
                "--exit-code-on-error", "0", "--stop-timeout", "2"]
        self.process = OwnedProcess("locust", argv, self.log_path, cwd=self.plan.dir, env=env)

    def ramp_seconds(self) -> float:
        return self.plan.users / self.plan.spawn_rate

    def wait_for_traffic(self, timeout: float = 30) -> None:
        """Block until the first requests are on disk (Locust imports take a second or two)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and not self.process.running():
                raise EnvironmentFailure(f"locust exited with code {self.process.popen.returncode}: "
                                         f"{self.process.log_tail()}")
            if self.requests_file.exists() and self.requests_file.stat().st_size > 200:
                return
            time.sleep(0.1)
        raise EnvironmentFailure(f"no request recorded within {timeout:g}s of starting locust")

    def stop(self) -> None:
        """SIGTERM lets Locust stop its users and the recorder flush; kill after a grace period."""
        if self.process is not None:
            self.process.stop(signal.SIGTERM, timeout=15)
            self.process = None
