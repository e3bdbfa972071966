"""Pick the environment a rehearsal runs in: local, docker, or auto (docker when an engine answers)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.environments.base import Environment
from harness.environments.local import LocalEnvironment
from harness.plan import Plan


def docker_engine_error() -> str | None:
    """None when a Docker engine answers at DOCKER_HOST (or the default socket), else why not."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine", and we say why
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        return f"no Docker engine answered at {where} ({reason})"


def open_environment(plan: Plan, kind: str, run_dir: Path, run_id: str) -> tuple[Environment, str]:
    """The environment for `kind` and a sentence saying which was picked and why."""
    if kind == "auto":
        error = docker_engine_error()
        if error is None and _docker_available():
            kind, why = "docker", "auto: a Docker engine answered"
        else:
            kind, why = "local", f"auto: {error or 'docker environment unavailable'}; using the embedded default"
    else:
        why = f"{kind}: as asked"
    if kind == "docker":
        from harness.environments.docker import DockerEnvironment

        return DockerEnvironment(plan, run_dir, run_id), why
    return LocalEnvironment(plan, run_dir, run_id), why


def _docker_available() -> bool:
    try:
        import harness.environments.docker  # noqa: F401
    except ImportError:
        return False
    return True
