"""Whether a Docker engine answers, and why not: asked before anything is started in containers."""

from __future__ import annotations

import os
import re


def docker_engine_error() -> str | None:
    """None when a Docker engine answers at DOCKER_HOST (or the default socket), else why not."""
    host = os.environ.get("DOCKER_HOST")
    where = f"{host} (DOCKER_HOST)" if host else "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)"
    try:
        import docker

        client = docker.from_env(timeout=3)
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
