"""The service under test in a container: one container per start, of the release's image with its own CMD.

On the host network the service listens on 127.0.0.1 at a port chosen here; on a bridge network it listens
inside its container and is published on 127.0.0.1 at that same port. Either way every release answers at the
same URL.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors
from docker.client import DockerClient
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.processes import free_loopback_port
from harness.environments.base import release_log, service_environment
from harness.environments.docker_engine import (
    ENGINE_ERRORS,
    created,
    engine_errors,
    ensure_image,
    log_tail,
    one_line,
    release_client,
    save_log,
)
from harness.plan import Plan, Release


class DockerService:
    """The service of one run, one release at a time. Verbs: start(release) -> URL, failure() -> why it is not
    running (None while it runs), stop() (saves its log, removes its container; idempotent).

    `database` is how containers reach PostgreSQL; `network` the run's bridge network, None for the host's."""

    def __init__(self, plan: Plan, database: Database, *, network: Network | None, client: DockerClient,
                 name: str, labels: dict[str, str], run_dir: Path, event: Callable[[str], None]) -> None:
        self.plan, self.database, self.network, self.client = plan, database, network, client
        self.name, self.labels, self.run_dir, self.event = name, labels, run_dir, event
        self.port = free_loopback_port()  # the service's host port, the same for every release
        self.starts = 0
        self.container: DockerContainer | None = None
        self.log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, release: Release) -> str:
        """Stop the running release, start `release`'s image; returns the URL (the caller waits for health)."""
        if release.image is None:
            raise EnvironmentFailure(f'release {release.version} has no image (releases."{release.version}".image)')
        self.stop()
        host = "127.0.0.1" if self.network is None else "0.0.0.0"  # noqa: S104 - published on 127.0.0.1 only
        env = service_environment(self.plan, release, self.port, host, self.database.dsn(), python="python3")
        self.starts += 1
        with engine_errors(f"starting the service {release.version}"):
            ensure_image(self.client, release.image, self.event)
            container = DockerContainer(release.image, env=env)
            container.with_name(f"{self.name}-{release.version}-{self.starts}")
            kwargs: dict[str, Any] = {"labels": {**self.labels, "rehearse.release": release.version}}
            if self.network is None:
                kwargs["network_mode"] = "host"
            else:
                container.with_network(self.network)
                # docker-py takes (host_ip, host_port); testcontainers hands `ports` to it as they are.
                ports: dict[str, Any] = container.ports
                ports[f"{self.port}/tcp"] = ("127.0.0.1", self.port)
            container.with_kwargs(**kwargs)
            self.container, self.log = container, release_log(self.run_dir, release, self.starts)
            started = time.monotonic()
            container.start()
            self.event(f"service {release.image} started as {container.get_wrapped_container().short_id} "
                       f"on 127.0.0.1:{self.port} in {time.monotonic() - started:.2f}s")
        return self.url

    def environ(self) -> dict[str, str] | None:
        """The running container's environment (its image's and ours), None when there is none."""
        wrapped = created(self.container) if self.container is not None else None
        if wrapped is None:
            return None
        try:
            wrapped.reload()
        except ENGINE_ERRORS:
            return None
        pairs = (item.split("=", 1) for item in wrapped.attrs.get("Config", {}).get("Env") or [] if "=" in item)
        return dict(pairs)

    def failure(self) -> str | None:
        """Why the service is not running (exit code, OOM kill, last log lines, its log saved), else None."""
        if self.container is None:
            return "not started"
        wrapped = created(self.container)
        if wrapped is None:
            return "container was not created"
        try:
            wrapped.reload()
        except docker.errors.NotFound:
            return "container disappeared"
        except ENGINE_ERRORS as exc:
            return f"cannot be inspected ({one_line(exc)})"
        if wrapped.status in ("created", "running", "restarting"):
            return None
        state = wrapped.attrs.get("State", {})
        if self.log is not None:
            save_log(wrapped, self.log, self.database.password)
        oom = " (killed: out of memory)" if state.get("OOMKilled") else ""
        return f"exited with code {state.get('ExitCode')}{oom}: {log_tail(wrapped, self.database.password)}"

    def stop(self) -> None:
        """Stop (SIGTERM, SIGKILL after service.stop_timeout_s), save its log, remove the container."""
        container, self.container = self.container, None
        if container is None:
            return
        wrapped = created(container)
        if wrapped is None:
            release_client(container)
            return
        started = time.monotonic()
        try:
            with contextlib.suppress(docker.errors.NotFound):
                wrapped.stop(timeout=math.ceil(self.plan.stop_timeout_s))
            stopped = time.monotonic()
            if self.log is not None:
                save_log(wrapped, self.log, self.database.password)
        finally:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                wrapped.remove(force=True, v=True)
            release_client(container)
        self.event(f"service {wrapped.short_id} stopped in {stopped - started:.2f}s, "
                   f"log saved and removed in {time.monotonic() - stopped:.2f}s")
