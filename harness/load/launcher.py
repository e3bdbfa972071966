"""Run Locust headless for the whole timeline, recording every request: one process, or (load.workers) a master
and local workers in Locust's distributed mode, the master bound to loopback unless the plan opts in."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from harness.core.errors import EnvironmentFailure
from harness.core.net import is_loopback_url
from harness.core.processes import OwnedProcess, free_loopback_port, run_env
from harness.core.text import expand
from harness.load.contract import (
    ACKNOWLEDGED_FILE_ENV,
    ACKNOWLEDGED_STREAM,
    DROPPED_FILE_ENV,
    DROPPED_STREAM,
    ERROR_BODIES_FILE_ENV,
    ERROR_BODIES_STREAM,
    LOAD_MODEL_ENV,
    OPEN_USER_CLASS,
    RECORDER_PATH,
    REQUESTS_FILE_ENV,
    request_streams,
)
from harness.plan import Plan, placeholders


class Load:
    """Verbs: start(url) begins traffic, ramp_seconds() says how long spawning takes, stop() ends it."""

    def __init__(self, plan: Plan, requests_file: Path, log_path: Path, run_id: str) -> None:
        self.plan, self.requests_file, self.log_path, self.run_id = plan, requests_file, log_path, run_id
        self.process: OwnedProcess | None = None  # the one Locust process, or the master
        self.workers: list[OwnedProcess] = []

    def start(self, url: str) -> None:
        """Launch Locust against `url` (loopback only) with the plan's users and spawn rate."""
        if not is_loopback_url(url):  # parsed and resolved (core.net), not a prefix: localhost.example.com is not
            raise EnvironmentFailure(f"refusing to send load to {url}: only loopback (127.0.0.0/8) is allowed")
        values = placeholders(self.plan)
        env = {**os.environ, **run_env(self.run_id), REQUESTS_FILE_ENV: str(self.requests_file),
               ACKNOWLEDGED_FILE_ENV: str(self.requests_file.with_name(ACKNOWLEDGED_STREAM)),
               ERROR_BODIES_FILE_ENV: str(self.requests_file.with_name(ERROR_BODIES_STREAM))}
        env |= {key: expand(value, values) for key, value in self.plan.load_env.items()}
        options = self.plan.load_options
        files = f"{RECORDER_PATH},{self.plan.locustfile}"
        users, spawn_rate, classes = self.plan.users, self.plan.spawn_rate, []
        if options.open:  # one scheduling user per process that runs users (harness.load.open_model)
            env[DROPPED_FILE_ENV] = str(self.requests_file.with_name(DROPPED_STREAM))
            env[LOAD_MODEL_ENV] = json.dumps({"rate": options.rate, "rates": options.rates, "ramp_s": options.ramp_s,
                                              "max_concurrency": options.max_concurrency,
                                              "workers": options.processes})
            users, spawn_rate, classes = options.processes, float(options.processes), [OPEN_USER_CLASS]
        common = ["--loglevel", "WARNING", "--exit-code-on-error", "0", "--stop-timeout", "2"]
        argv = [sys.executable, "-m", "locust", "-f", files, "--headless", "--host", url, "--users", str(users),
                "--spawn-rate", str(spawn_rate), "--only-summary", *common]
        if not options.workers and not options.remote_workers:
            self.process = OwnedProcess("locust", [*argv, *classes], self.log_path, cwd=self.plan.dir, env=env)
            return
        port = options.master_port or free_loopback_port()
        expected = options.workers + options.remote_workers
        self.process = OwnedProcess("locust master", [
            *argv, "--master", "--master-bind-host", options.master_bind_host, "--master-bind-port", str(port),
            "--expect-workers", str(expected), "--expect-workers-max-wait", "60", *classes],
            self.log_path, cwd=self.plan.dir, env=env)
        for index in range(options.workers):
            self.workers.append(OwnedProcess(
                f"locust worker {index}", [sys.executable, "-m", "locust", "-f", files, "--worker",
                                           "--master-host", "127.0.0.1", "--master-port", str(port), *common],
                self.log_path.with_name(f"locust-worker-{index}.log"), cwd=self.plan.dir, env=env))

    def describe(self) -> str:
        """What load runs: "40 users", or "open model, 200 arrivals/s", and its Locust workers."""
        options = self.plan.load_options
        what = f"open model, {options.total_rate:g} arrivals/s" if options.open else f"{self.plan.users} users"
        workers = options.workers + options.remote_workers
        return what + (f" on {workers} Locust workers" if workers else "")

    def ramp_seconds(self) -> float:
        if self.plan.load_options.open:
            return self.plan.load_options.ramp_s
        return self.plan.users / self.plan.spawn_rate

    def wait_for_traffic(self, timeout: float = 30) -> None:
        """Block until the first requests are on disk (Locust imports take a second or two)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and not self.process.running():
                raise EnvironmentFailure(f"locust exited with code {self.process.popen.returncode}: "
                                         f"{self.process.log_tail()}")
            if any(path.stat().st_size > 200 for path in request_streams(self.requests_file.parent)):
                return
            time.sleep(0.1)
        raise EnvironmentFailure(f"no request recorded within {timeout:g}s of starting locust")

    def stop(self) -> None:
        """SIGTERM lets Locust stop its users and the recorder flush; kill after a grace period."""
        if self.process is not None:
            self.process.stop(signal.SIGTERM, timeout=15)  # a master tells its workers to quit
            self.process = None
        for worker in self.workers:
            worker.stop(signal.SIGTERM, timeout=10)
        self.workers = []
