"""The profile of production traffic, as `rehearse profile` writes it and the profile-driven load reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

CONCURRENCY_METHODS = ("request_time", "arrivals")


@dataclass(frozen=True)
class EndpointProfile:
    """One endpoint template's share of the traffic."""

    endpoint: str  # "METHOD /template"
    requests: int
    share: float  # of all requests, 0..1
    rate_per_s: float  # requests per second over the log's span

    @property
    def method(self) -> str:
        return self.endpoint.split(" ", 1)[0]

    @property
    def template(self) -> str:
        return self.endpoint.split(" ", 1)[1]


@dataclass(frozen=True)
class ThinkTime:
    """Gaps between a session's consecutive requests (less the earlier one's duration when logged)."""

    sessions: int  # client address + user agent
    gaps: int
    median_s: float | None  # None: no session made two requests
    p90_s: float | None
    session_gap_s: float
    mean_s: float | None = None  # a longer gap starts a new session and is not a think time


@dataclass(frozen=True)
class Concurrency:
    """How much traffic was in flight at the busiest second."""

    method: str  # request_time: from the logged durations; arrivals: from arrivals alone (no durations logged)
    peak_requests_per_s: int  # arrivals in the busiest second
    peak_in_flight: float | None  # requests in flight then (sum of durations / 1 s, Little's law); request_time only
    peak_users: float  # users a closed-loop load needs for that rate: arrival rate x (mean duration + mean think time)
    mean_duration_s: float | None


@dataclass(frozen=True)
class Source:
    """One log file the profile was built from."""

    file: str
    format: str
    lines: int
    unparsed: int


@dataclass(frozen=True)
class Profile:
    requests: int
    start: float  # epoch seconds of the first request
    end: float
    span_s: float
    rate_per_s: float
    endpoints: list[EndpointProfile]
    think_time: ThinkTime
    concurrency: Concurrency
    sources: list[Source] = field(default_factory=list)

    def shares(self) -> dict[str, float]:
        return {e.endpoint: e.share for e in self.endpoints}
