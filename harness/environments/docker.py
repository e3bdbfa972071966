"""The production-like environment: PostgreSQL and the service under test as containers (testcontainers).

Networking (plan `environment.network`, `--network`):
  host    every container shares the host's network; PostgreSQL and the service listen on free 127.0.0.1
          ports chosen here. All traffic stays on loopback.
  bridge  (default) a user-defined network per run; the service reaches PostgreSQL by its network alias,
          and both are published on 127.0.0.1 only (PostgreSQL on a port Docker picks, the service on a
          fixed port chosen here, so every release answers at the same URL).

Cleanup without Ryuk: every container and network carries rehearse.run_id / rehearse.owner_pid labels
(docker_cleanup); close() removes them, and constructing an environment removes those of dead runs.
The parts: docker_database (PostgreSQL), docker_service (the service), docker_engine (what both share).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import docker.errors
from docker.client import DockerClient
from testcontainers.core.network import Network

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.text import redact
from harness.environments.docker_cleanup import owner_labels, remove_run, remove_stale
from harness.environments.docker_database import DockerDatabase
from harness.environments.docker_engine import (
    ENGINE_ERRORS,
    ENGINE_FIX,
    NO_BRIDGE,
    disable_ryuk_unless_asked,
    docker_engine_error,
    engine_errors,
    ensure_image,
    has_bridge,
    one_line,
)
from harness.environments.docker_service import DockerInstance, DockerService
from harness.environments.server_settings import explain_start_failure
from harness.plan import Plan, Release


class DockerEnvironment:
    """Verbs: start_database, start_service, service_failure, stop_service, start_instance, close
    (environments.base)."""

    name = "docker"

    def __init__(self, plan: Plan, run_dir: Path, run_id: str) -> None:
        self.plan, self.run_dir, self.run_id = plan, run_dir, run_id
        self.host_network = plan.network == "host"
        self.labels = owner_labels(run_id)
        self.password = secrets.token_urlsafe(18)
        self.event = _EventLog(run_dir / "logs" / "docker.log", self.password)
        self.network: Network | None = None
        self.database: DockerDatabase | None = None
        self.service: DockerService | None = None
        self.client: DockerClient | None = None
        self.server_source = f"image {plan.postgres_image}"
        if (missing := _missing_image(plan)) is not None:
            raise EnvironmentFailure(f"{missing}: set it to an image whose CMD starts the service, "
                                     "or use --env local")
        if (reason := dependencies_unsupported(plan)) is not None:
            raise plan.error("dependencies", reason)
        disable_ryuk_unless_asked()
        error = docker_engine_error()
        if error is not None:
            raise EnvironmentFailure(f"{error}; {ENGINE_FIX}")
        with engine_errors("Docker engine"):
            try:
                client = DockerClient.from_env(timeout=60)
            except docker.errors.DockerException as exc:
                raise EnvironmentFailure(f"no Docker engine answered ({one_line(exc)}); {ENGINE_FIX}") from None
            if not self.host_network and not has_bridge(client):
                client.close()
                raise EnvironmentFailure(f"{NO_BRIDGE}: use --network host")
            self.client = client
            for removed in remove_stale(client):
                self.event(f"removed stale {removed}")

    def start_database(self) -> Database:
        """PostgreSQL from plan.postgres_image with the local environment's server settings; the plan's
        database is created by the image's entrypoint (POSTGRES_DB). Returns how to reach it from this host."""
        client = self._client()
        with engine_errors("starting PostgreSQL"):
            for image in self._images():
                ensure_image(client, image, self.event)
            if not self.host_network:
                network = Network(docker_network_kw={"labels": self.labels, "driver": "bridge"})
                network.name = f"rehearse-{self.run_id}-{secrets.token_hex(3)}"
                self.network = network.create()
                self.event(f"network {network.name} created")
            self.database = DockerDatabase(self.plan.postgres_image, self.plan.database, self.password,
                                           network=self.network, name=f"rehearse-{self.run_id}-postgres",
                                           labels=self.labels, log=self.run_dir / "logs" / "postgres.log",
                                           event=self.event, settings=self.plan.server_settings)
            try:
                database = self.database.start()
            except EnvironmentFailure as failure:  # a setting of the plan the server refused is bad input
                raise explain_start_failure(failure, "", self.plan) from None
        self.service = DockerService(self.plan, self.database.for_containers(), network=self.network, client=client,
                                     name=f"rehearse-{self.run_id}-service", labels=self.labels,
                                     run_dir=self.run_dir, event=self.event)
        return database

    def service_environ(self) -> dict[str, str] | None:
        return None if self.service is None else self.service.environ()

    def start_service(self, release: Release) -> str:
        """Start the release's image with its own CMD; returns the URL (the harness waits for health)."""
        if self.service is None:
            raise EnvironmentFailure("the database must be started before the service")
        return self.service.start(release)

    def service_failure(self) -> str | None:
        return "not started" if self.service is None else self.service.failure()

    def stop_service(self) -> None:
        """Stop (SIGTERM, SIGKILL after service.stop_timeout_s), save its log, remove the container."""
        if self.service is not None:
            self.service.stop()

    def start_instance(self, release: Release) -> DockerInstance:
        """Start `release`'s image beside the running one, published on a port of its own (blue_green swaps,
        mixed versions)."""
        if self.service is None:
            raise EnvironmentFailure("the database must be started before the service")
        return self.service.start_instance(release)

    def _stop_services(self) -> None:
        if self.service is not None:
            self.service.close()

    def close(self) -> None:
        """Remove everything this run created; idempotent, never raises (a half-started state included)."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("stop_service", self._stop_services), ("remove_postgres", self._remove_postgres),
            ("remove_network", self._remove_network), ("sweep", self._sweep)]
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - teardown goes on; what is left, the next start removes
                self.event(f"teardown step {name} failed: {one_line(exc)}")
        client, self.client = self.client, None
        if client is not None:
            client.close()

    def _remove_postgres(self) -> None:
        if self.database is not None:
            self.database.close()

    def _remove_network(self) -> None:
        network, self.network = self.network, None
        if network is not None:
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()

    def _sweep(self) -> None:
        """Whatever still carries this run's label (a container created just before an interrupt)."""
        if self.client is not None:
            for removed in remove_run(self.client, self.run_id):
                self.event(f"removed leftover {removed}")

    def _client(self) -> DockerClient:
        if self.client is None:
            raise EnvironmentFailure("the Docker environment is closed")
        return self.client

    def _images(self) -> list[str]:
        releases = (self.plan.releases[self.plan.from_version], self.plan.releases[self.plan.to_version])
        return [self.plan.postgres_image, *(r.image for r in releases if r.image)]


class _EventLog:
    """logs/docker.log: what the environment did, one timestamped line each, the run's password redacted."""

    def __init__(self, path: Path, password: str) -> None:
        self.path, self.password = path, password

    def __call__(self, line: str) -> None:
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as log:
                log.write(f"{time.strftime('%H:%M:%S')} {redact(line, self.password)}\n")


def unsupported(plan: Plan) -> str | None:
    """Why the engine that answers cannot run `plan` (for --env auto, which then picks local), else None."""
    if (missing := _missing_image(plan)) is not None:
        return missing
    if (reason := dependencies_unsupported(plan)) is not None:
        return reason
    if plan.network == "bridge":
        try:
            client = DockerClient.from_env(timeout=10)
            try:
                return None if has_bridge(client) else f"{NO_BRIDGE} (environment.network = bridge)"
            finally:
                client.close()
        except ENGINE_ERRORS as exc:
            return f"the Docker engine failed ({one_line(exc)})"
    return None


def dependencies_unsupported(plan: Plan) -> str | None:
    """Why the plan's dependency stubs cannot serve its containers, else None: they listen on the host's 127.0.0.1,
    which only containers on the host network share."""
    if plan.dependencies and plan.network != "host":
        return ("the dependency stubs listen on 127.0.0.1 only, which a container on a bridge network cannot reach: "
                "use environment.network = \"host\" (--network host) with [[dependencies]]")
    return None


def _missing_image(plan: Plan) -> str | None:
    for version in (plan.from_version, plan.to_version):
        if plan.releases[version].image is None:
            return f'release {version} has no image (releases."{version}".image)'
    return None
