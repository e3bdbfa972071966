"""A Locust user driven by a production profile (`rehearse profile`, plan key load.profile).

Used two ways:
- as the locustfile itself: a plan with load.profile and no load.locustfile runs this file;
- as a helper: a locustfile imports ProfileUser and subclasses it (giving `handlers` for endpoints that need
  more than a filled template, e.g. {"POST /orders": "place_order"}, a method taking the endpoint's Filler).

Each user sends the endpoint that the process's Mix (harness.profile.mix) says is furthest behind its share, its
template filled from [load.profile_values] (harness.profile.values), named by the template ("/orders/{id}"), so
the report compares the achieved mix with the profile directly. Think times follow the profile's: drawn from a
piecewise-uniform distribution through 0, its median and its p90 (and 2 x p90 - median above). The profile's
mix is written to streams/profile.json for the report.

It runs under gevent (Locust monkey-patches the process): it imports only harness.core and harness.profile.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from locust import FastHttpUser, events, task

# Loaded by path into Locust: make `harness` resolve to this checkout, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness.core.tables import Table  # noqa: E402
from harness.load.contract import REQUESTS_FILE_ENV  # noqa: E402
from harness.profile.contract import PROFILE_ENV, PROFILE_STREAM, PROFILE_VALUES_ENV, decode_values  # noqa: E402
from harness.profile.mix import Mix  # noqa: E402
from harness.profile.model import Profile  # noqa: E402
from harness.profile.store import read_profile  # noqa: E402
from harness.profile.values import Filler, ProfileValues, parse_values  # noqa: E402

__all__ = ["ProfileLoad", "ProfileUser", "profile_load"]


class ProfileLoad:
    """One process's share of the profile: the mix, each endpoint's filler, the think time."""

    def __init__(self, profile_file: Path, raw_values: dict[str, Any], rng: random.Random | None = None) -> None:
        self.file = profile_file
        self.profile: Profile = read_profile(profile_file)
        self.values: ProfileValues = parse_values(Table(PROFILE_VALUES_ENV, "load.profile_values", raw_values))
        self.rng = rng or random.Random()
        self.mix = Mix(self.profile.shares())
        self.fillers = {e.endpoint: Filler(e.endpoint, self.values, self.rng) for e in self.profile.endpoints}

    def think_s(self) -> float:
        """A think time: piecewise uniform through (0, 0), (0.5, median), (0.9, p90), (1, 2 x p90 - median)."""
        think = self.profile.think_time
        median, p90 = think.median_s or 0.0, think.p90_s or think.median_s or 0.0
        u = self.rng.random()
        if u < 0.5:
            return median * u / 0.5
        if u < 0.9:
            return median + (p90 - median) * (u - 0.5) / 0.4
        return p90 + (p90 - median) * (u - 0.9) / 0.1

    def record(self) -> None:
        """The mix the load follows, next to the requests stream (nothing when the harness did not start it)."""
        requests = os.environ.get(REQUESTS_FILE_ENV)
        if not requests:
            return
        target = Path(requests).with_name(PROFILE_STREAM)
        body = {"profile": str(self.file), "requests": self.profile.requests,
                "endpoints": [{"endpoint": e.endpoint, "share": e.share} for e in self.profile.endpoints]}
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):  # the report then has no mix to compare; the load goes on
            temp.write_text(json.dumps(body), encoding="utf-8")
            temp.replace(target)


_loads: dict[str, ProfileLoad] = {}


def profile_load(profile_file: str | None = None) -> ProfileLoad:
    """The process's ProfileLoad of `profile_file` (default: $REHEARSE_PROFILE), made once."""
    path = profile_file or os.environ.get(PROFILE_ENV)
    if not path:
        raise RuntimeError(f"no profile: set load.profile in the plan (or {PROFILE_ENV})")
    if path not in _loads:
        _loads[path] = ProfileLoad(Path(path), decode_values(os.environ.get(PROFILE_VALUES_ENV, "")))
        _loads[path].record()
    return _loads[path]


class ProfileUser(FastHttpUser):
    """Sends the profile's endpoints in its mix, with its think times. Subclass it in a locustfile; set
    `profile_file` to use another profile than the plan's, `handlers` to send some endpoints yourself."""

    abstract = True
    profile_file: str | None = None
    handlers: dict[str, str] = {}  # endpoint -> name of a method (self, filler) that sends it

    def on_start(self) -> None:
        self.load = profile_load(self.profile_file)

    def wait_time(self) -> float:
        return self.load.think_s()

    @task
    def profile_request(self) -> None:
        endpoint = self.load.mix.next()
        filler = self.load.fillers[endpoint]
        handler = self.handlers.get(endpoint)
        if handler is not None:
            getattr(self, handler)(filler)
            return
        method, template = endpoint.split(" ", 1)
        body = filler.body()
        self.client.request(method, filler.path(template), name=template,
                            **({} if body is None else {"json": body}))


class ProductionProfileUser(ProfileUser):
    """The user of a plan whose load.profile has no locustfile (this module is then the locustfile)."""

    abstract = False


@events.init.add_listener
def _check_profile(environment: Any, **_kwargs: Any) -> None:
    """Read the profile as Locust starts, so that a bad one stops Locust at once (not in every user)."""
    if os.environ.get(PROFILE_ENV):
        profile_load()
