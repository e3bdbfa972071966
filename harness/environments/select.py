"""Pick the environment a rehearsal runs in: local, docker, or auto (docker when an engine answers)."""

from __future__ import annotations

from pathlib import Path

from harness.core import ownership
from harness.environments.base import Environment
from harness.environments.local import LocalEnvironment
from harness.plan import Plan


def open_environment(plan: Plan, kind: str, run_dir: Path, run_id: str) -> tuple[Environment, str]:
    """The environment for `kind` and a sentence saying which was picked and why."""
    if kind == "auto":
        from harness.environments.docker_engine import docker_engine_error  # docker-py loads only when asked

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

        ownership.note_docker()  # should the harness die, its watchdog removes the run's containers
        return DockerEnvironment(plan, run_dir, run_id), why
    return LocalEnvironment(plan, run_dir, run_id), why

