"""The Docker engine as the docker environment's parts share it: whether one answers, its errors as one-line
EnvironmentFailures, container logs (redacted), images present locally, and Ryuk kept out of the way."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import docker.errors
import requests
from docker.client import DockerClient
from docker.models.containers import Container
from docker.utils import parse_repository_tag
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.exceptions import ContainerStartException

from harness.core.errors import EnvironmentFailure
from harness.core.text import redact

ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
ENGINE_FIX = "start Docker, set DOCKER_HOST to the socket of a running engine, or use --env local"
IMAGE_FIX = "build it with docker/build-offline-images, or name another image (--postgres-image, releases.<v>.image)"
NO_BRIDGE = "the Docker engine has no bridge network (dockerd --bridge=none?), so bridge networking is unavailable"


def docker_engine_error() -> str | None:
    """None when a Docker engine answers at DOCKER_HOST (or the default socket), else why not."""
    host = os.environ.get("DOCKER_HOST")
    where = f"{host} (DOCKER_HOST)" if host else "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)"
    try:
        client = DockerClient.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine", and we say why
        # docker-py nests the socket error in a long repr: keep its message ("Connection refused").
        nested = re.search(r"\w+Error\(\d+, '([^']+)'\)", str(exc))
        reason = nested.group(1) if nested else str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        return f"no Docker engine answered at {where} ({reason})"


@contextlib.contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Docker SDK / HTTP errors as one-line EnvironmentFailures."""
    try:
        yield
    except ENGINE_ERRORS as exc:
        raise EnvironmentFailure(f"{what}: {one_line(exc)}") from None


def one_line(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)  # docker.errors.APIError: the engine's own message
    text = str(explanation or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def has_bridge(client: DockerClient) -> bool:
    """Engines started with --bridge=none (as on machines that must keep the host network untouched) have no
    default bridge network: bridge networking is not meant to be used there."""
    return any(network.get("Name") == "bridge" for network in client.api.networks())


def disable_ryuk_unless_asked() -> None:
    """Ryuk's image cannot be pulled everywhere: the labels do its job. A user's explicit choice wins."""
    if "TESTCONTAINERS_RYUK_DISABLED" in os.environ or "ryuk.disabled" in testcontainers_config.tc_properties:
        return
    os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    testcontainers_config.ryuk_disabled = True


def ensure_image(client: DockerClient, image: str, event: Callable[[str], None]) -> None:
    """Use the local image; pull only when it is missing (a registry may have it)."""
    name = testcontainers_config.hub_image_name_prefix + image  # the name DockerContainer will run
    try:
        client.images.get(name)
        return
    except docker.errors.ImageNotFound:
        pass
    repository, tag = parse_repository_tag(name)
    event(f"image {name} is not present locally: pulling it")
    try:
        client.images.pull(repository, tag=tag or "latest")
    except ENGINE_ERRORS as exc:
        raise EnvironmentFailure(f"image {name} is not present locally and could not be pulled "
                                 f"({one_line(exc)}); {IMAGE_FIX}") from None


def created(container: DockerContainer) -> Container | None:
    """The engine's container behind `container`, None when it was never created."""
    try:
        return container.get_wrapped_container()
    except ContainerStartException:
        return None


def release_client(container: DockerContainer) -> None:
    """Close the engine connection each DockerContainer opens for itself (its pool would outlive the run)."""
    container.get_docker_client().client.close()


def log_tail(container: Container | None, password: str, lines: int = 5) -> str:
    """The last non-blank lines of the container's log on one line, `password` redacted ("" when unreadable)."""
    if container is None:
        return ""
    try:
        text = container.logs(tail=50).decode(errors="replace")
    except ENGINE_ERRORS:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return redact(" | ".join(kept), password)


def save_log(container: Container, path: Path, password: str) -> None:
    """The container's whole log to `path`, `password` redacted; nothing when the engine cannot give it."""
    try:
        text = container.logs().decode(errors="replace")
    except ENGINE_ERRORS:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(text, password))
