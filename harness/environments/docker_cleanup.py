"""Cleanup without Ryuk: every container and network of a run carries labels naming the run and the process
that owns it; the owner removes them on close, and any later run removes those whose owner is dead."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

RUN_LABEL = "rehearse.run_id"
OWNER_PID_LABEL = "rehearse.owner_pid"
OWNER_HOST_LABEL = "rehearse.owner_host"
OWNER_BOOT_LABEL = "rehearse.owner_boot"
OWNER_START_LABEL = "rehearse.owner_started"


def owner_labels(run_id: str) -> dict[str, str]:
    """Labels for everything this process creates for run `run_id`."""
    pid = os.getpid()
    labels = {RUN_LABEL: run_id, OWNER_PID_LABEL: str(pid), OWNER_HOST_LABEL: socket.gethostname()}
    if boot := _boot_id():
        labels[OWNER_BOOT_LABEL] = boot
    if started := _start_ticks(pid):
        labels[OWNER_START_LABEL] = started
    return labels


def owner_alive(labels: dict[str, str]) -> bool | None:
    """Whether the process named by `labels` still runs: None when it is not ours to judge (another host,
    no pid label), False when it is gone (also after a reboot, or when its pid now belongs to another process)."""
    host = labels.get(OWNER_HOST_LABEL)
    if host is not None and host != socket.gethostname():
        return None
    try:
        pid = int(labels.get(OWNER_PID_LABEL, ""))
    except ValueError:
        return None
    boot = labels.get(OWNER_BOOT_LABEL)
    if boot and _boot_id() and boot != _boot_id():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    started = labels.get(OWNER_START_LABEL)
    return not (started and _start_ticks(pid) not in (None, started))


def remove_stale(client: Any) -> list[str]:
    """Remove containers, then networks, labelled by a rehearsal whose owner process is dead.
    Returns what was removed ("container <name> (run <id>)", ...); never raises for a single object."""
    removed = []
    for info in _containers(client, {"label": OWNER_PID_LABEL}):
        labels = info.get("Labels") or {}
        if owner_alive(labels) is False and _remove_container(client, info["Id"]):
            removed.append(f"container {_name(info)} (run {labels.get(RUN_LABEL, '?')})")
    for info in _networks(client, {"label": OWNER_PID_LABEL}):
        labels = info.get("Labels") or {}
        if owner_alive(labels) is False and _remove_network(client, info["Id"]):
            removed.append(f"network {info.get('Name', info['Id'][:12])} (run {labels.get(RUN_LABEL, '?')})")
    return removed


def remove_run(client: Any, run_id: str) -> list[str]:
    """Remove every container and network labelled with `run_id`, whatever state it is in."""
    removed = []
    for info in _containers(client, {"label": f"{RUN_LABEL}={run_id}"}):
        if _remove_container(client, info["Id"]):
            removed.append(f"container {_name(info)}")
    for info in _networks(client, {"label": f"{RUN_LABEL}={run_id}"}):
        if _remove_network(client, info["Id"]):
            removed.append(f"network {info.get('Name', info['Id'][:12])}")
    return removed


def _containers(client: Any, filters: dict[str, str]) -> list[dict[str, Any]]:
    return client.api.containers(all=True, filters=filters)


def _networks(client: Any, filters: dict[str, str]) -> list[dict[str, Any]]:
    return client.api.networks(filters=filters)


def _remove_container(client: Any, container_id: str) -> bool:
    import docker.errors

    try:
        client.api.remove_container(container_id, force=True, v=True)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # removal already in progress (another cleaner)
            return False
        raise


def _remove_network(client: Any, network_id: str) -> bool:
    import docker.errors

    try:
        client.api.remove_network(network_id)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code in (403, 409):  # still has endpoints (a container being removed) / in use
            return False
        raise


def _name(info: dict[str, Any]) -> str:
    names = info.get("Names") or []
    return names[0].lstrip("/") if names else info["Id"][:12]


def _boot_id() -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return None


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat): tells a pid's
    original owner from a later process that reuses the number."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(") ", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None
