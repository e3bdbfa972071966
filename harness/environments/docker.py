"""The production-like environment: PostgreSQL and the service under test as containers (testcontainers).

Networking (plan `environment.network`, `--network`):
  host    every container shares the host's network; PostgreSQL and the service listen on free 127.0.0.1
          ports chosen here. All traffic stays on loopback.
  bridge  (default) a user-defined network per run; the service reaches PostgreSQL by its network alias,
          and both are published on 127.0.0.1 only (PostgreSQL on a port Docker picks, the service on a
          fixed port chosen here, so every release answers at the same URL).

Cleanup without Ryuk: every container and network carries rehearse.run_id / rehearse.owner_pid labels
(docker_cleanup); close() removes them, and constructing an environment removes those of dead runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker.errors  # binds `docker` too
import psycopg
import requests
from docker.utils import parse_repository_tag
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.waiting_utils import WaitStrategy

try:
    from testcontainers.community.postgres import PostgresContainer
except ImportError:  # testcontainers < 4.15
    from testcontainers.postgres import PostgresContainer

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.processes import free_loopback_port
from harness.core.text import redact
from harness.environments.base import release_log, service_environment
from harness.environments.docker_cleanup import owner_labels, remove_run, remove_stale
from harness.environments.docker_engine import docker_engine_error
from harness.environments.local_postgres import SERVER_SETTINGS
from harness.plan import Plan, Release

SUPERUSER = "rehearse"
POSTGRES_ALIAS = "rehearse-postgres"  # the database's name on the run's bridge network
POSTGRES_READY_TIMEOUT_S = 90.0
POLL_INTERVAL_S = 0.1
PORT_ATTEMPTS = 3  # host networking: another server may grab the chosen port before PostgreSQL binds it
ENGINE_FIX = "start Docker, set DOCKER_HOST to the socket of a running engine, or use --env local"
IMAGE_FIX = "build it with docker/build-offline-images, or name another image (--postgres-image, releases.<v>.image)"
NO_BRIDGE = "the Docker engine has no bridge network (dockerd --bridge=none?), so bridge networking is unavailable"
ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


class DockerEnvironment:
    """Verbs: start_database, start_service, service_failure, stop_service, close (environments.base)."""

    name = "docker"

    def __init__(self, plan: Plan, run_dir: Path, run_id: str) -> None:
        self.plan, self.run_dir, self.run_id = plan, run_dir, run_id
        self.host_network = plan.network == "host"
        self.labels = owner_labels(run_id)
        self.password = secrets.token_urlsafe(18)
        self.network: Network | None = None
        self.postgres: _Postgres | None = None
        self.database: Database | None = None
        self.service: DockerContainer | None = None
        self.service_log: Path | None = None
        self.starts = 0
        self.events = run_dir / "logs" / "docker.log"
        if (missing := _missing_image(plan)) is not None:
            raise EnvironmentFailure(f"{missing}: set it to an image whose CMD starts the service, "
                                     "or use --env local")
        _disable_ryuk_unless_asked()
        error = docker_engine_error()
        if error is not None:
            raise EnvironmentFailure(f"{error}; {ENGINE_FIX}")
        with _engine_errors("Docker engine"):
            try:
                self.client = docker.from_env(timeout=60)
            except docker.errors.DockerException as exc:
                raise EnvironmentFailure(f"no Docker engine answered ({_one_line(exc)}); {ENGINE_FIX}") from None
            if not self.host_network and not _has_bridge(self.client):
                self.client.close()
                raise EnvironmentFailure(f"{NO_BRIDGE}: use --network host")
            for removed in remove_stale(self.client):
                self._event(f"removed stale {removed}")
        self.port = free_loopback_port()  # the service's host port, the same for every release

    # -- database ---------------------------------------------------------------------------------------

    def start_database(self) -> Database:
        """PostgreSQL from plan.postgres_image with the local environment's server settings; the plan's
        database is created by the image's entrypoint (POSTGRES_DB). Returns how to reach it from this host."""
        with _engine_errors("starting PostgreSQL"):
            for image in self._images():
                self._ensure_image(image)
            if not self.host_network:
                self.network = Network(docker_network_kw={"labels": self.labels, "driver": "bridge"})
                self.network.name = f"rehearse-{self.run_id}-{secrets.token_hex(3)}"
                self.network.create()
                self._event(f"network {self.network.name} created")
            started = time.monotonic()
            for attempt in range(1, PORT_ATTEMPTS + 1):
                port = free_loopback_port() if self.host_network else 5432
                self.postgres = self._postgres_container(port)
                try:
                    self.postgres.start()
                    break
                except _ContainerExited as exited:
                    if not (self.host_network and exited.port_taken and attempt < PORT_ATTEMPTS):
                        raise EnvironmentFailure(f"PostgreSQL container {exited}") from None
                    self._event(f"port {port} was taken before PostgreSQL could bind it; trying another")
                    self._remove_postgres()
                except TimeoutError:
                    raise EnvironmentFailure(f"PostgreSQL in {self.plan.postgres_image} was not ready after "
                                             f"{POSTGRES_READY_TIMEOUT_S:g}s: {self._postgres_tail()}") from None
            host_port = self.postgres.host_port()
            self.database = Database("127.0.0.1", host_port, SUPERUSER, self.password, self.plan.database)
            self._event(f"postgres {self.plan.postgres_image} ready on 127.0.0.1:{host_port} "
                        f"in {time.monotonic() - started:.2f}s ({'host' if self.host_network else 'bridge'} network)")
        return self.database

    def _postgres_container(self, port: int) -> _Postgres:
        settings = {key: value for key, value in SERVER_SETTINGS.items() if key != "listen_addresses"}
        if self.host_network:  # the host's interfaces are the container's: listen on loopback only
            settings["listen_addresses"] = "127.0.0.1"
        command = ["postgres"] + [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        pg = _Postgres(self.plan.postgres_image, port, self.host_network, username=SUPERUSER,
                       password=self.password, dbname=self.plan.database)
        pg.with_command(command).with_name(f"rehearse-{self.run_id}-postgres-{secrets.token_hex(2)}")
        kwargs: dict[str, Any] = {"labels": self.labels, "shm_size": "256m"}  # /dev/shm for parallel query
        if self.host_network:
            kwargs["network_mode"] = "host"
        else:
            pg.with_network(self.network).with_network_aliases(POSTGRES_ALIAS)
        pg.with_kwargs(**kwargs)
        pg.waiting_for(_AcceptsConnections(self._accepts).with_startup_timeout(POSTGRES_READY_TIMEOUT_S)
                       .with_poll_interval(POLL_INTERVAL_S))
        return pg

    def _accepts(self, pg: _Postgres) -> bool:
        """The server accepts this run's credentials over TCP, from this host (where the harness connects)."""
        try:
            database = Database("127.0.0.1", pg.host_port(), SUPERUSER, self.password, self.plan.database)
            with psycopg.connect(database.dsn(), connect_timeout=2):
                return True
        except (psycopg.OperationalError, ConnectionError, *ENGINE_ERRORS):  # ConnectionError: not published yet
            return False

    def _postgres_tail(self) -> str:
        return _log_tail(self.postgres.get_wrapped_container() if self.postgres else None, self.password)

    # -- service ----------------------------------------------------------------------------------------

    def start_service(self, release: Release) -> str:
        """Start the release's image with its own CMD; returns the URL (the harness waits for health)."""
        if self.database is None:
            raise EnvironmentFailure("the database must be started before the service")
        if release.image is None:
            raise EnvironmentFailure(f'release {release.version} has no image (releases."{release.version}".image)')
        self.stop_service()
        if self.host_network:
            dsn, host = self.database.dsn(), "127.0.0.1"
        else:
            dsn = Database(POSTGRES_ALIAS, 5432, SUPERUSER, self.password, self.plan.database).dsn()
            host = "0.0.0.0"  # noqa: S104 - inside the container; published on 127.0.0.1 only
        env = service_environment(self.plan, release, self.port, host, dsn, python="python3")
        self.starts += 1
        with _engine_errors(f"starting the service {release.version}"):
            self._ensure_image(release.image)
            container = DockerContainer(release.image, env=env)
            container.with_name(f"rehearse-{self.run_id}-service-{release.version}-{self.starts}")
            kwargs: dict[str, Any] = {"labels": {**self.labels, "rehearse.release": release.version}}
            if self.host_network:
                kwargs["network_mode"] = "host"
            else:
                container.with_network(self.network)
                container.ports[f"{self.port}/tcp"] = ("127.0.0.1", self.port)  # type: ignore[assignment]
            container.with_kwargs(**kwargs)
            self.service, self.service_log = container, release_log(self.run_dir, release, self.starts)
            started = time.monotonic()
            container.start()
            self._event(f"service {release.image} started as {container.get_wrapped_container().short_id} "
                        f"on 127.0.0.1:{self.port} in {time.monotonic() - started:.2f}s")
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def service_failure(self) -> str | None:
        if self.service is None:
            return "not started"
        container = self.service._container
        if container is None:
            return "container was not created"
        try:
            container.reload()
        except docker.errors.NotFound:
            return "container disappeared"
        except ENGINE_ERRORS as exc:
            return f"cannot be inspected ({_one_line(exc)})"
        if container.status in ("created", "running", "restarting"):
            return None
        state = container.attrs.get("State", {})
        self._save_service_log()
        oom = " (killed: out of memory)" if state.get("OOMKilled") else ""
        return f"exited with code {state.get('ExitCode')}{oom}: {_log_tail(container, self.password)}"

    def stop_service(self) -> None:
        """Stop (SIGTERM, SIGKILL after service.stop_timeout_s), save its log, remove the container."""
        service, self.service = self.service, None
        if service is None or service._container is None:
            return
        container = service._container
        started = time.monotonic()
        try:
            with contextlib.suppress(docker.errors.NotFound):
                container.stop(timeout=math.ceil(self.plan.stop_timeout_s))
            stopped = time.monotonic()
            self._save_service_log(container)
        finally:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                container.remove(force=True, v=True)
            service.get_docker_client().client.close()
        self._event(f"service {container.short_id} stopped in {stopped - started:.2f}s, "
                    f"log saved and removed in {time.monotonic() - stopped:.2f}s")

    def _save_service_log(self, container: Any = None) -> None:
        container = container or (self.service._container if self.service else None)
        if container is not None and self.service_log is not None:
            _save_log(container, self.service_log, self.password)

    # -- teardown ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove everything this run created; idempotent, never raises (a half-started state included)."""
        for step in (self.stop_service, self._remove_postgres, self._remove_network, self._sweep):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - teardown goes on; what is left, the next start removes
                self._event(f"teardown step {step.__name__} failed: {_one_line(exc)}")
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def _remove_postgres(self) -> None:
        postgres, self.postgres = self.postgres, None
        if postgres is None or postgres._container is None:
            return
        try:
            _save_log(postgres._container, self.run_dir / "logs" / "postgres.log", self.password)
            with contextlib.suppress(docker.errors.NotFound):
                postgres._container.remove(force=True, v=True)
        finally:
            postgres.get_docker_client().client.close()

    def _remove_network(self) -> None:
        network, self.network = self.network, None
        if network is not None and network._network is not None:
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()

    def _sweep(self) -> None:
        """Whatever still carries this run's label (a container created just before an interrupt)."""
        client = getattr(self, "client", None)
        if client is not None:
            for removed in remove_run(client, self.run_id):
                self._event(f"removed leftover {removed}")

    # -- helpers ----------------------------------------------------------------------------------------

    def _images(self) -> list[str]:
        releases = (self.plan.releases[self.plan.from_version], self.plan.releases[self.plan.to_version])
        return [self.plan.postgres_image, *(r.image for r in releases if r.image)]

    def _ensure_image(self, image: str) -> None:
        """Use the local image; pull only when it is missing (a registry may have it)."""
        name = testcontainers_config.hub_image_name_prefix + image
        try:
            self.client.images.get(name)
            return
        except docker.errors.ImageNotFound:
            pass
        repository, tag = parse_repository_tag(name)
        self._event(f"image {name} is not present locally: pulling it")
        try:
            self.client.images.pull(repository, tag=tag or "latest")
        except ENGINE_ERRORS as exc:
            raise EnvironmentFailure(f"image {name} is not present locally and could not be pulled "
                                     f"({_one_line(exc)}); {IMAGE_FIX}") from None

    def _event(self, line: str) -> None:
        with contextlib.suppress(OSError):
            self.events.parent.mkdir(parents=True, exist_ok=True)
            with open(self.events, "a", encoding="utf-8") as log:
                log.write(f"{time.strftime('%H:%M:%S')} {redact(line, self.password)}\n")


class _Postgres(PostgresContainer):
    """PostgresContainer published on 127.0.0.1 only (bridge), or on the host network at `port` (host)."""

    def __init__(self, image: str, port: int, host_network: bool, **kwargs: Any) -> None:
        super().__init__(image=image, port=port, driver=None, **kwargs)
        self.host_network = host_network
        if host_network:
            self.ports.clear()  # nothing to publish on the host network (docker-py refuses it)
            self.with_env("PGPORT", str(port))  # the server's port (and psql's, inside the container)
        else:
            self.ports[str(port)] = ("127.0.0.1",)  # type: ignore[assignment] - loopback, port picked by Docker
        self.with_env("POSTGRES_INITDB_ARGS", "--no-sync")  # a throwaway cluster, as in the local environment

    def host_port(self) -> int:
        """Where this host reaches the server: the port itself, or the one Docker published."""
        if self.host_network:
            return self.port
        return int(self.get_docker_client().port(self.get_container_id(), self.port))

    def _get_exposed_port(self, port: int) -> int:
        return self.host_port() if port == self.port else super()._get_exposed_port(port)

    def get_container_host_ip(self) -> str:
        return "127.0.0.1"

    def _connect(self) -> None:
        """Readiness is the wait strategy given to waiting_for(), run by start()."""


class _ContainerExited(Exception):
    def __init__(self, code: Any, tail: str) -> None:
        self.port_taken = "already in use" in tail or "could not bind" in tail or "could not create any" in tail
        super().__init__(f"exited with code {code}: {tail}")


class _AcceptsConnections(WaitStrategy):
    """Ready when `probe(container)` succeeds while the container runs; fails at once when it exits (on the
    host network another server may own the port: the container's server cannot bind it and exits, while a
    probe of the port reaches the other server, which refuses this run's random password)."""

    def __init__(self, probe: Callable[[Any], bool]) -> None:
        super().__init__()
        self.probe = probe

    def wait_until_ready(self, container: Any) -> None:
        deadline = time.monotonic() + self._startup_timeout
        wrapped = container.get_wrapped_container()
        while True:
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                raise _ContainerExited(wrapped.attrs["State"].get("ExitCode"),
                                       _log_tail(wrapped, getattr(container, "password", "")))
            if self.probe(container):
                wrapped.reload()  # still ours and still running after the probe?
                if wrapped.status == "running":
                    return
                continue
            if time.monotonic() > deadline:
                raise TimeoutError("not ready")
            time.sleep(self._poll_interval)


def unsupported(plan: Plan) -> str | None:
    """Why the engine that answers cannot run `plan` (for --env auto, which then picks local), else None."""
    if (missing := _missing_image(plan)) is not None:
        return missing
    if plan.network == "bridge":
        try:
            client = docker.from_env(timeout=10)
            try:
                return None if _has_bridge(client) else f"{NO_BRIDGE} (environment.network = bridge)"
            finally:
                client.close()
        except ENGINE_ERRORS as exc:
            return f"the Docker engine failed ({_one_line(exc)})"
    return None


def _missing_image(plan: Plan) -> str | None:
    for version in (plan.from_version, plan.to_version):
        if plan.releases[version].image is None:
            return f'release {version} has no image (releases."{version}".image)'
    return None


def _has_bridge(client: Any) -> bool:
    """Engines started with --bridge=none (as on machines that must keep the host network untouched) have no
    default bridge network: bridge networking is not meant to be used there."""
    return any(network.get("Name") == "bridge" for network in client.api.networks())


def _disable_ryuk_unless_asked() -> None:
    """Ryuk's image cannot be pulled everywhere: the labels do its job. A user's explicit choice wins."""
    if "TESTCONTAINERS_RYUK_DISABLED" in os.environ or "ryuk.disabled" in testcontainers_config.tc_properties:
        return
    os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    testcontainers_config.ryuk_disabled = True


@contextlib.contextmanager
def _engine_errors(what: str) -> Iterator[None]:
    """Docker SDK / HTTP errors as one-line EnvironmentFailures."""
    try:
        yield
    except ENGINE_ERRORS as exc:
        raise EnvironmentFailure(f"{what}: {_one_line(exc)}") from None


def _log_tail(container: Any, password: str, lines: int = 5) -> str:
    if container is None:
        return ""
    try:
        text = container.logs(tail=50).decode(errors="replace")
    except ENGINE_ERRORS:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return redact(" | ".join(kept), password)


def _save_log(container: Any, path: Path, password: str) -> None:
    try:
        text = container.logs().decode(errors="replace")
    except ENGINE_ERRORS:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(text, password))


def _one_line(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)  # docker.errors.APIError: the engine's own message
    text = str(explanation or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
