"""Start the service at a release, swap it from one release to another (measuring the gap), and run another
version beside it.

Two swap strategies (plan `service.swap`):
  restart     stop the old version, then start the new one on the same port: the gap is the downtime.
  blue_green  the new version starts on a port of its own beside the old one, the proxy switches to it once it
              is healthy, the old one is drained (no request in flight) and stopped. No request meets a
              closed port.
The run's one loopback proxy (service.proxy) runs when the strategy is blue_green or the timeline runs another
version beside the service (start_other: mixed versions); the load then goes through it.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.core.errors import EnvironmentFailure
from harness.core.processes import free_loopback_port
from harness.environments.base import Environment, Instance
from harness.plan import Plan, Release
from harness.records.run import Swap
from harness.service.health import wait_ready
from harness.service.proxy import Proxy, ProxyError


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
    """The service of a run. Verbs: start(release) -> the URL the load uses, swap(old, new, phase) -> Swap,
    start_other(release, share) -> seconds until healthy, stop_other() -> its version, service_failure(),
    service_environ(), close() (the proxy and the instances it started; the environment stops the rest).

    `service_url` is the service's stable URL for probes and its API: the environment's (restart), or the
    proxy's (blue_green: the versions behind it change)."""

    def __init__(self, env: Environment, plan: Plan, proxy: Proxy | None = None) -> None:
        self.env, self.plan, self.proxy = env, plan, proxy
        self.current: Instance | None = None  # blue_green: the instance serving now
        self.beside: Instance | None = None  # start_other: the instance the proxy splits requests to
        self.service_url = ""

    @property
    def blue_green(self) -> bool:
        return self.plan.swap == "blue_green"

    def start(self, release: Release) -> str:
        if self.blue_green:
            self._start_proxy()
            self.current = self._healthy(release)
            self._route(self.current.url, release)
            self.service_url = self._proxy().url
            return self.service_url
        self.service_url = start(self.env, self.plan, release)
        if self.proxy is None:
            return self.service_url
        self._start_proxy()
        self._route(self.service_url, release)
        return self._proxy().url

    def swap(self, old: Release, new: Release, phase: str) -> Swap:
        if not self.blue_green or self.current is None:
            if self.proxy is not None:  # stop-then-start: from the stop on, whatever answers is the new version
                self._route(self.service_url, new)
            return swap(self.env, self.plan, old, new, phase)
        started_at = time.time()
        fresh = self._healthy(new)
        switched_at = time.time()
        self._route(fresh.url, new)
        previous, self.current = self.current, fresh
        left = self._drain(previous, old)
        previous.stop()
        return Swap(phase, old.version, new.version, switched_at, switched_at, strategy="blue_green",
                    started_at=started_at, ended_at=time.time(), in_flight_at_stop=left)

    def start_other(self, release: Release, share: float) -> float:
        """Start `release` beside the service and send `share` of the requests to it; returns the seconds it
        took to become healthy."""
        if self.proxy is None:
            raise EnvironmentFailure("no proxy runs to split the load between versions")
        started = time.monotonic()
        self.beside = self._healthy(release)
        try:
            self._proxy().split(self.beside.url, release.version, share)
        except ProxyError as exc:
            self.beside.stop()
            self.beside = None
            raise EnvironmentFailure(f"the proxy did not split the load to {release.version}: {exc}") from None
        return time.monotonic() - started

    def stop_other(self) -> str | None:
        """Send every request to the service again, drain the instance beside it and stop it; its version."""
        beside, self.beside = self.beside, None
        if beside is None:
            return None
        try:
            self._proxy().unsplit()
        except ProxyError as exc:
            raise EnvironmentFailure(f"the proxy did not stop splitting the load: {exc}") from None
        self._drain(beside, beside.release)
        beside.stop()
        return beside.release.version

    def service_failure(self) -> str | None:
        """Why the serving service is not running, or None while it runs."""
        if self.blue_green:
            return "not started" if self.current is None else self.current.failure()
        return self.env.service_failure()

    def service_environ(self) -> dict[str, str] | None:
        """The serving process's environment. blue_green: each instance has a port of its own, which is no
        configuration of the service: PORT and the env entries the plan fills with {port} read as their template
        (the rollback check compares the environment before the upgrade and after the rollback)."""
        if not self.blue_green:
            return self.env.service_environ()
        environ = None if self.current is None else self.current.environ()
        if environ is None or self.current is None:
            return environ
        release = self.current.release
        templates = {"PORT": "{port}"} | {name: value for name, value in (self.plan.service_env | release.env).items()
                                          if "{port}" in value}
        return {name: templates.get(name, value) for name, value in environ.items()}

    def close(self) -> None:
        try:
            for instance in (self.beside, self.current):
                if instance is not None:
                    instance.stop()
        finally:
            if self.proxy is not None:
                self.proxy.stop()

    def _start_proxy(self) -> None:
        try:
            self._proxy().start()
        except ProxyError as exc:
            raise EnvironmentFailure(f"the loopback proxy did not start: {exc}") from None

    def _proxy(self) -> Proxy:
        if self.proxy is None:
            raise EnvironmentFailure("no loopback proxy runs")
        return self.proxy

    def _healthy(self, release: Release) -> Instance:
        instance = self.env.start_instance(release)
        try:
            wait_ready(instance.failure, instance.url, release.health_path, self.plan.start_timeout_s)
        except BaseException:
            instance.stop()
            raise
        return instance

    def _route(self, url: str, release: Release) -> None:
        try:
            self._proxy().route(url, release.version)
        except ProxyError as exc:
            raise EnvironmentFailure(f"the proxy did not switch to {release.version}: {exc}") from None

    def _drain(self, instance: Instance, release: Release) -> int:
        try:
            return self._proxy().drain(instance.url, self.plan.stop_timeout_s)
        except ProxyError as exc:
            raise EnvironmentFailure(f"the proxy failed while draining {release.version}: {exc}") from None


def service_control(env: Environment, plan: Plan, proxy_log: Path, child_env: dict[str, str],
                    mixed: bool = False) -> ServiceControl:
    """The ServiceControl of `plan.swap`; with a proxy (blue_green, or `mixed`: the timeline runs another
    version beside the service) that runs with `child_env`, logging to `proxy_log`."""
    needed = plan.swap == "blue_green" or mixed
    proxy = Proxy(free_loopback_port(), proxy_log, child_env) if needed else None
    return ServiceControl(env, plan, proxy)
