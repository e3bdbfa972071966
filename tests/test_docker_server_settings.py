"""environment.server_settings in the docker environment: on the server's command line in its container,
restart-only ones included; a refused one is bad input naming its key. Needs the engine of test_docker_env."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from harness.core.errors import PlanError
from harness.plan import load_plan

from .conftest import REPO
from .test_docker_env import POSTGRES_IMAGE, _containers_of, docker_host  # noqa: F401 - the fixture

pytestmark = pytest.mark.docker


def _plan(settings: dict[str, str]):
    return load_plan(REPO / "scenarios" / "shop", {"environment.network": "host",
                                                   "environment.postgres_image": POSTGRES_IMAGE,
                                                   "environment.server_settings": settings})


def test_settings_reach_the_containers_server(docker_host: str, tmp_path: Path) -> None:  # noqa: F811
    import harness.environments.docker as docker_env

    run_id = f"test-{uuid.uuid4().hex[:8]}"
    env = docker_env.DockerEnvironment(_plan({"shared_buffers": "48MB", "work_mem": "7MB"}), tmp_path, run_id)
    try:
        database = env.start_database()
        with psycopg.connect(database.dsn(), autocommit=True) as conn:
            shown = [conn.execute(f"SHOW {name}").fetchone()[0] for name in ("shared_buffers", "work_mem",
                                                                              "log_lock_waits")]
    finally:
        env.close()
    assert shown == ["48MB", "7MB", "on"]
    assert _containers_of(run_id) == []


def test_a_refused_setting_is_bad_input(docker_host: str, tmp_path: Path) -> None:  # noqa: F811
    import harness.environments.docker as docker_env

    run_id = f"test-{uuid.uuid4().hex[:8]}"
    env = docker_env.DockerEnvironment(_plan({"shared_buffers": "lots"}), tmp_path, run_id)
    try:
        with pytest.raises(PlanError) as caught:
            env.start_database()
    finally:
        env.close()
    assert caught.value.key == "environment.server_settings.shared_buffers"
    assert _containers_of(run_id) == []
