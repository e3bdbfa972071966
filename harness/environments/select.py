"""Pick the environment a rehearsal runs in: local, docker, or auto (docker when an engine answers)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.environments.base import Environment
from harness.environments.local import LocalEnvironment
from harness.plan import Plan


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


def open_environment(plan: Plan, kind: str, run_dir: Path, run_id: str) -> tuple[Environment, str]:
    """The environment for `kind` and a sentence saying which was picked and why."""
    if kind == "auto":
        error = docker_engine_error()
        if error is None:
            from harness.environments.docker import unsupported

            error = unsupported(plan)  # a plan the engine cannot run falls back to local
        if error is None:
            kind, why = "docker", "auto: a Docker engine answered"
        else:
            kind, why = "local", f"auto: {error}; using the embedded default"
    else:
        why = f"{kind}: as asked"
    if kind == "docker":
        from harness.environments.docker import DockerEnvironment

        return DockerEnvironment(plan, run_dir, run_id), why
    return LocalEnvironment(plan, run_dir, run_id), why

