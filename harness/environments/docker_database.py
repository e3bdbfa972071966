"""PostgreSQL of one run in a container, started from an image with the local environment's server settings
(and the plan's environment.server_settings over them).

On the host network the server listens on a free 127.0.0.1 port chosen here; another server may take that port
before PostgreSQL binds it, so a start whose server exits for that reason is retried on another port. On a
bridge network the server is published on 127.0.0.1 only, on a port Docker picks, and containers of the run
reach it by its network alias.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors
import psycopg
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.processes import free_loopback_port
from harness.environments.docker_engine import ENGINE_ERRORS, created, log_tail, release_client, save_log
from harness.environments.local_postgres import SERVER_SETTINGS
from harness.environments.server_settings import command_line

SUPERUSER = "rehearse"
ALIAS = "rehearse-postgres"  # the database's name on the run's bridge network
BRIDGE_PORT = 5432  # the server's port inside its container on a bridge network
READY_TIMEOUT_S = 90.0
POLL_INTERVAL_S = 0.1
PORT_ATTEMPTS = 3


class DockerDatabase:
    """PostgreSQL in a container. Verbs: start() -> how this host reaches it, for_containers() -> how the run's
    containers reach it, close() (saves the server's log, removes the container; idempotent).

    `network` is the run's bridge network, None for the host's network."""

    def __init__(self, image: str, dbname: str, password: str, *, network: Network | None, name: str,
                 labels: dict[str, str], log: Path, event: Callable[[str], None],
                 settings: dict[str, str] | None = None) -> None:
        self.image, self.dbname, self.password = image, dbname, password
        self.settings = settings or {}  # the plan's environment.server_settings, over the harness's
        self.network, self.name, self.labels, self.log, self.event = network, name, labels, log, event
        self.container: DockerContainer | None = None
        self.port = BRIDGE_PORT  # the server's port: on the host network, the one of the latest attempt
        self.database: Database | None = None

    def start(self) -> Database:
        """Start the server and wait until it accepts this run's credentials from this host; the database
        `dbname` is created by the image's entrypoint (POSTGRES_DB). Raises EnvironmentFailure (one line)."""
        started = time.monotonic()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if self.network is None:
                self.port = free_loopback_port()
            self.container = container = self._configured()
            try:
                container.start()
                break
            except _ContainerExited as exited:
                if not (self.network is None and exited.port_taken and attempt < PORT_ATTEMPTS):
                    raise EnvironmentFailure(f"PostgreSQL container {exited}") from None
                self.event(f"port {self.port} was taken before PostgreSQL could bind it; trying another")
                self.close()
            except TimeoutError:
                tail = log_tail(created(container), self.password)
                raise EnvironmentFailure(f"PostgreSQL in {self.image} was not ready after "
                                         f"{READY_TIMEOUT_S:g}s: {tail}") from None
        host_port = self._host_port(container.get_wrapped_container())
        if host_port is None:  # cannot be: the probe connected through it
            raise EnvironmentFailure(f"PostgreSQL container {self.name} has no port published on 127.0.0.1")
        self.database = Database("127.0.0.1", host_port, SUPERUSER, self.password, self.dbname)
        self.event(f"postgres {self.image} ready on 127.0.0.1:{host_port} in {time.monotonic() - started:.2f}s "
                   f"({'host' if self.network is None else 'bridge'} network)")
        return self.database

    def for_containers(self) -> Database:
        """How the run's containers reach the server: as this host does on the host network, else by its alias."""
        if self.database is None:
            raise EnvironmentFailure("the database must be started before the service")
        if self.network is None:
            return self.database
        return Database(ALIAS, BRIDGE_PORT, SUPERUSER, self.password, self.dbname)

    def close(self) -> None:
        """Save the server's log, remove its container; idempotent, also after a failed start."""
        container, self.container = self.container, None
        self.database = None
        if container is None:
            return
        try:
            if (wrapped := created(container)) is not None:
                save_log(wrapped, self.log, self.password)
                with contextlib.suppress(docker.errors.NotFound):
                    wrapped.remove(force=True, v=True)
        finally:
            release_client(container)

    def _configured(self) -> DockerContainer:
        """The container to start, its server listening on self.port (inside the container on a bridge network)."""
        settings = {key: value for key, value in SERVER_SETTINGS.items() if key != "listen_addresses"}
        if self.network is None:  # the host's interfaces are the container's: listen on loopback only
            settings["listen_addresses"] = "127.0.0.1"
        command = ["postgres", *command_line(settings, self.settings)]
        env = {"POSTGRES_USER": SUPERUSER, "POSTGRES_PASSWORD": self.password, "POSTGRES_DB": self.dbname,
               "POSTGRES_INITDB_ARGS": "--no-sync"}  # a throwaway cluster, as in the local environment
        container = DockerContainer(self.image, env=env)
        container.with_command(command).with_name(f"{self.name}-{secrets.token_hex(2)}")
        kwargs: dict[str, Any] = {"labels": self.labels, "shm_size": "256m"}  # /dev/shm for parallel query
        if self.network is None:
            kwargs["network_mode"] = "host"
            container.with_env("PGPORT", str(self.port))  # the server's port (and psql's, inside the container)
        else:
            container.with_network(self.network).with_network_aliases(ALIAS)
            # docker-py takes (host_ip,): published on loopback, on a port Docker picks. testcontainers hands
            # `ports` to docker-py as they are, though it annotates them as host ports only.
            ports: dict[str, Any] = container.ports
            ports[f"{self.port}/tcp"] = ("127.0.0.1",)
        container.with_kwargs(**kwargs)
        return container.waiting_for(_AcceptsConnections(self._accepts, self.password))

    def _host_port(self, container: Container) -> int | None:
        """Where this host reaches the server of `container` (as last reloaded): its own port on the host
        network, else the one Docker published (None until it is)."""
        if self.network is None:
            return self.port
        bindings = (container.ports or {}).get(f"{BRIDGE_PORT}/tcp") or []
        return int(bindings[0]["HostPort"]) if bindings else None

    def _accepts(self, container: Container) -> bool:
        """The server accepts this run's credentials over TCP, from this host (where the harness connects)."""
        host_port = self._host_port(container)
        if host_port is None:
            return False
        try:
            database = Database("127.0.0.1", host_port, SUPERUSER, self.password, self.dbname)
            with psycopg.connect(database.dsn(), connect_timeout=2):
                return True
        except (psycopg.OperationalError, *ENGINE_ERRORS):
            return False


class _ContainerExited(Exception):
    """The server's container exited while starting; `port_taken` when it could not bind its port."""

    def __init__(self, code: Any, tail: str) -> None:
        self.port_taken = "already in use" in tail or "could not bind" in tail or "could not create any" in tail
        super().__init__(f"exited with code {code}: {tail}")


class _AcceptsConnections(WaitStrategy):
    """Ready when `probe(container)` succeeds while the container runs (timeout and poll interval are this
    module's); raises _ContainerExited at once when it exits: on the host network another server may own the
    port, so the container's server cannot bind it and exits, while a probe of the port reaches the other
    server, which refuses this run's random password."""

    def __init__(self, probe: Callable[[Container], bool], password: str) -> None:
        super().__init__()
        self.probe, self.password = probe, password

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        wrapped: Container = container.get_wrapped_container()
        while True:
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                raise _ContainerExited(wrapped.attrs["State"].get("ExitCode"), log_tail(wrapped, self.password))
            if self.probe(wrapped):
                wrapped.reload()  # still ours and still running after the probe?
                if wrapped.status == "running":
                    return
                continue
            if time.monotonic() > deadline:
                raise TimeoutError("not ready")
            time.sleep(POLL_INTERVAL_S)
