"""Start the service at a release, and swap it from one release to another, measuring the gap.

Two strategies (plan `service.swap`):
  restart     stop the old version, then start the new one on the same port: the gap is the downtime.
  blue_green  a loopback proxy (service.proxy) holds the URL for the whole run; the new version starts on a
              port of its own beside the old one, the proxy switches to it once it is healthy, the old one is
              drained (no request in flight) and stopped. No request meets a closed port.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from harness.core.errors import EnvironmentFailure
from harness.core.processes import free_loopback_port
from harness.environments.base import Environment
from harness.plan import Plan, Release
from harness.records.run import Swap
from harness.service.health import wait_ready
from harness.service.proxy import Proxy, ProxyError


class Instance(Protocol):
    """A running service of one release, at its own URL (environments' start_instance)."""

    release: Release
    url: str

    def failure(self) -> str | None: ...

    def stop(self) -> None: ...


def start(env: Environment, plan: Plan, release: Release) -> str:
    """Start `release` and wait for its health check; returns the service URL."""
    url = env.start_service(release)
    wait_ready(env.service_failure, url, release.health_path, plan.start_timeout_s)
    return url


def swap(env: Environment, plan: Plan, old: Release, new: Release, phase: str) -> Swap:
    """Stop `old`, start `new`, wait until healthy (stop-then-start: the gap is the downtime)."""
    stopped_at = time.time()
    env.stop_service()
    start(env, plan, new)
    healthy_at = time.time()
    return Swap(phase, old.version, new.version, stopped_at, healthy_at, started_at=stopped_at, ended_at=healthy_at)


class ServiceControl:
    """The service of a run, by the plan's swap strategy. Verbs: start(release) -> the URL the load uses,
    swap(old, new, phase) -> Swap, close() (the proxy and what it fronted; the environment stops the rest)."""

    def __init__(self, env: Environment, plan: Plan, proxy: Proxy | None = None) -> None:
        self.env, self.plan, self.proxy = env, plan, proxy
        self.current: Instance | None = None

    @property
    def blue_green(self) -> bool:
        return self.proxy is not None

    def start(self, release: Release) -> str:
        if self.proxy is None:
            return start(self.env, self.plan, release)
        try:
            url = self.proxy.start()
        except ProxyError as exc:
            raise EnvironmentFailure(f"the blue_green proxy did not start: {exc}") from None
        self.current = self._healthy(release)
        self._route(self.current)
        return url

    def swap(self, old: Release, new: Release, phase: str) -> Swap:
        if self.proxy is None or self.current is None:
            return swap(self.env, self.plan, old, new, phase)
        started_at = time.time()
        fresh = self._healthy(new)
        switched_at = time.time()
        self._route(fresh)
        previous, self.current = self.current, fresh
        try:
            left = self.proxy.drain(previous.url, self.plan.stop_timeout_s)
        except ProxyError as exc:
            raise EnvironmentFailure(f"the blue_green proxy failed while draining {old.version}: {exc}") from None
        previous.stop()
        return Swap(phase, old.version, new.version, switched_at, switched_at, strategy="blue_green",
                    started_at=started_at, ended_at=time.time(), in_flight_at_stop=left)

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()

    def _healthy(self, release: Release) -> Instance:
        start_instance = getattr(self.env, "start_instance", None)
        if start_instance is None:
            raise EnvironmentFailure(f"the {self.env.name} environment cannot run two versions at once "
                                     "(service.swap = blue_green)")
        instance: Instance = start_instance(release)
        try:
            wait_ready(instance.failure, instance.url, release.health_path, self.plan.start_timeout_s)
        except BaseException:
            instance.stop()
            raise
        return instance

    def _route(self, instance: Instance) -> None:
        assert self.proxy is not None
        try:
            self.proxy.route(instance.url)
        except ProxyError as exc:
            raise EnvironmentFailure(f"the blue_green proxy did not switch to {instance.release.version}: "
                                     f"{exc}") from None


def service_control(env: Environment, plan: Plan, proxy_log: Path, child_env: dict[str, str]) -> ServiceControl:
    """The ServiceControl of `plan.swap`; a blue_green one runs its proxy with `child_env`, logging to `proxy_log`."""
    proxy = Proxy(free_loopback_port(), proxy_log, child_env) if plan.swap == "blue_green" else None
    return ServiceControl(env, plan, proxy)
