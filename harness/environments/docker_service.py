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


class DockerInstance:
    """One container of one release, answering on 127.0.0.1:`port`. Verbs: start(), failure(), stop()."""

    def __init__(self, service: DockerService, release: Release, port: int) -> None:
        self.service, self.release, self.port = service, release, port
        self.container: DockerContainer | None = None
        self.log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the release's image with its own CMD (the caller waits for health)."""
        service, release = self.service, self.release
        if release.image is None:
            raise EnvironmentFailure(f'release {release.version} has no image (releases."{release.version}".image)')
        host = "127.0.0.1" if service.network is None else "0.0.0.0"  # noqa: S104 - published on 127.0.0.1 only
        env = service_environment(service.plan, release, self.port, host, service.database, python="python3")
        service.starts += 1
        with engine_errors(f"starting the service {release.version}"):
            ensure_image(service.client, release.image, service.event)
            container = DockerContainer(release.image, env=env)
            container.with_name(f"{service.name}-{release.version}-{service.starts}")
            kwargs: dict[str, Any] = {"labels": {**service.labels, "rehearse.release": release.version}}
            if service.network is None:
                kwargs["network_mode"] = "host"
            else:
                container.with_network(service.network)
                # docker-py takes (host_ip, host_port); testcontainers hands `ports` to it as they are.
                ports: dict[str, Any] = container.ports
                ports[f"{self.port}/tcp"] = ("127.0.0.1", self.port)
            container.with_kwargs(**kwargs)
            self.container, self.log = container, release_log(service.run_dir, release, service.starts)
            started = time.monotonic()
            container.start()
            service.event(f"service {release.image} started as {container.get_wrapped_container().short_id} "
                          f"on 127.0.0.1:{self.port} in {time.monotonic() - started:.2f}s")

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
        password = self.service.database.password
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
            save_log(wrapped, self.log, password)
        oom = " (killed: out of memory)" if state.get("OOMKilled") else ""
        return f"exited with code {state.get('ExitCode')}{oom}: {log_tail(wrapped, password)}"

    def stop(self) -> None:
        """Stop (SIGTERM, SIGKILL after service.stop_timeout_s), save its log, remove the container; idempotent."""
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
                wrapped.stop(timeout=math.ceil(self.service.plan.stop_timeout_s))
            stopped = time.monotonic()
            if self.log is not None:
                save_log(wrapped, self.log, self.service.database.password)
        finally:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                wrapped.remove(force=True, v=True)
            release_client(container)
        self.service.event(f"service {wrapped.short_id} stopped in {stopped - started:.2f}s, "
                           f"log saved and removed in {time.monotonic() - stopped:.2f}s")


class DockerService:
    """The service of one run. Verbs: start(release) -> URL (one release at a time, same URL), failure() -> why
    it is not running (None while it runs), stop() (saves its log, removes its container; idempotent),
    start_instance(release) (another release beside it, on a port of its own: blue_green, mixed versions), close().

    `database` is how containers reach PostgreSQL; `network` the run's bridge network, None for the host's."""

    def __init__(self, plan: Plan, database: Database, *, network: Network | None, client: DockerClient,
                 name: str, labels: dict[str, str], run_dir: Path, event: Callable[[str], None]) -> None:
        self.plan, self.database, self.network, self.client = plan, database, network, client
        self.name, self.labels, self.run_dir, self.event = name, labels, run_dir, event
        self.port = free_loopback_port()  # the service's host port, the same for every release
        self.starts = 0
        self.current: DockerInstance | None = None
        self.instances: list[DockerInstance] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, release: Release) -> str:
        """Stop the running release, start `release`'s image; returns the URL (the caller waits for health)."""
        self.stop()
        self.current = self.start_instance(release, self.port)
        return self.url

    def start_instance(self, release: Release, port: int | None = None) -> DockerInstance:
        instance = DockerInstance(self, release, port or free_loopback_port())
        self.instances.append(instance)
        instance.start()
        return instance

    def failure(self) -> str | None:
        return "not started" if self.current is None else self.current.failure()

    def environ(self) -> dict[str, str] | None:
        return None if self.current is None else self.current.environ()

    def stop(self) -> None:
        current, self.current = self.current, None
        if current is not None:
            current.stop()

    def close(self) -> None:
        """Stop every container this service started."""
        self.stop()
        for instance in self.instances:
            instance.stop()
