"""Health probes: the service's health check asked every interval for the whole run, each answer streamed.

streams/health.jsonl holds one row per probe ({at, ok, status, latency_ms, error}); the outage figures
(seconds the service did not answer, whatever the cause: a swap, a crash) are computed from it and from the
refused requests (result.analysis). Probes go to the loopback service URL only.
"""

from __future__ import annotations

import http.client
import time
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import EnvironmentFailure
from harness.core.net import is_loopback_url
from harness.core.poller import Poller, Report
from harness.core.streams import JsonLines
from harness.events import Events
from harness.observe.base import ObserverContext

STREAM = "health.jsonl"


def probe(url: str, timeout: float) -> tuple[int, str | None]:
    """GET `url` once: (HTTP status, None) when it answered, (0, why) when it did not."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"User-Agent": "rehearse-health-probe"})
        response = conn.getresponse()
        response.read(4096)
        return response.status, None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except (OSError, http.client.HTTPException) as exc:
        return 0, f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
    finally:
        conn.close()


class HealthProbe(Poller):
    """Verbs: start() begins probing, stop() ends it; `last_ok` is the time of the last healthy answer."""

    name = "health-probe"

    def __init__(self, url: str, interval_s: float, out: JsonLines, report: Report) -> None:
        super().__init__(interval_s, report)
        if not is_loopback_url(url):
            raise EnvironmentFailure(f"refusing to probe {url}: only loopback (127.0.0.0/8) is allowed")
        self.url, self.out = url, out
        self.last_ok: float | None = None
        self.failing_since: float | None = None

    def poll(self) -> None:
        at = time.time()
        started = time.monotonic()
        status, error = probe(self.url, timeout=max(0.2, min(2.0, self.interval_s * 2)))
        row: dict[str, Any] = {"at": at, "ok": error is None, "status": status,
                               "latency_ms": (time.monotonic() - started) * 1000, "error": error}
        self.out.write(row)
        if error is None:
            self.last_ok, self.failing_since = at, None
        elif self.failing_since is None:
            self.failing_since = at


class HealthObserver:
    """Observer: probes the service's health check every observe.health_interval_ms for the whole run."""

    name = "health"

    def __init__(self, context: ObserverContext) -> None:
        self.out = JsonLines(context.run.stream(STREAM))
        self.probe = HealthProbe(context.service_url + context.plan.health_path,
                                 context.plan.health_interval_ms / 1000, self.out, context.reporter(self.name))

    def attach(self, events: Events) -> None:
        self.probe.start()

    def close(self) -> None:
        self.probe.stop()
        self.out.close()
