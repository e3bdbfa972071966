"""What fills an endpoint template's placeholders when the load sends it: pools of values the plan gives in
[load.profile_values], defaults otherwise.

    [load.profile_values]
    id = { min = 1, max = 1000 }                     # every {id} of every template: an integer range
    "GET /orders/{id}" = { id = { min = 1, max = 5000 } }          # one endpoint ("METHOD /template")
    "GET /search" = { query = ["q=eco", "q={term}"], term = ["gold", "mini"] }
    "POST /orders" = { json = [{ customer_id = "{customer}", quantity = 1 }], customer = { min = 1, max = 100 } }

A pool is a list of values or an integer range {min, max}. An endpoint's table gives pools for its own
placeholders, `query` (query strings, sent after "?") and `json` (bodies). In query strings and bodies a
"{name}" is filled from the endpoint's pool `name` (or the global one); a body string that is exactly "{name}"
takes the drawn value as it is (an integer stays one). Without a pool: {id} 1..1000, {uuid} a random uuid4,
{hash} 32 random hex digits, {token} 24 random URL-safe characters.
"""

from __future__ import annotations

import random
import re
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

from harness.core.tables import Table

ENDPOINT_KEYS = ("query", "json")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"
Scalar = str | int | float


@dataclass(frozen=True)
class Pool:
    """A list of values to choose from, or an integer range (both ends included)."""

    values: tuple[Scalar, ...] = ()
    low: int = 0
    high: int = 0

    def draw(self, rng: random.Random) -> Scalar:
        return rng.choice(self.values) if self.values else rng.randint(self.low, self.high)


@dataclass(frozen=True)
class EndpointValues:
    pools: dict[str, Pool] = field(default_factory=dict)
    query: tuple[str, ...] = ()
    json: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ProfileValues:
    pools: dict[str, Pool] = field(default_factory=dict)  # for every template
    endpoints: dict[str, EndpointValues] = field(default_factory=dict)  # "METHOD /template" or "/template"

    def of(self, endpoint: str) -> EndpointValues:
        """What the plan gives for `endpoint` ("METHOD /template"): its own table, else its template's."""
        return self.endpoints.get(endpoint) or self.endpoints.get(endpoint.split(" ", 1)[-1]) or EndpointValues()


def parse_values(table: Table) -> ProfileValues:
    """[load.profile_values] read and checked (PlanError naming the key)."""
    pools: dict[str, Pool] = {}
    endpoints: dict[str, EndpointValues] = {}
    for key in list(table.raw):
        if " " in key or key.startswith("/"):
            endpoints[key] = _endpoint_values(table, key)
        elif re.fullmatch(r"\w+", key):
            pools[key] = _pool(table, key)
        else:
            raise table.error(key, "must be a placeholder name (id, uuid, ...) or an endpoint (\"METHOD /template\")")
    table.done()
    return ProfileValues(pools, endpoints)


def _endpoint_values(parent: Table, key: str) -> EndpointValues:
    words = key.split(" ")
    if not words[-1].startswith("/") or len(words) > 2:
        raise parent.error(key, "an endpoint is \"METHOD /template\" or \"/template\", as in the profile")
    table = parent.table(key)
    query = tuple(table.strings("query", []))
    bodies = table.value("json", (list,), [])
    if not all(isinstance(body, dict | list) for body in bodies):
        raise table.error("json", "must be a list of bodies (tables or arrays)")
    pools = {name: _pool(table, name) for name in list(table.raw) if name not in ENDPOINT_KEYS}
    table.done()
    return EndpointValues(pools, query, tuple(bodies))


def _pool(table: Table, name: str) -> Pool:
    raw = table.value(name, (list, dict))
    if isinstance(raw, list):
        if not raw or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in raw):
            raise table.error(name, "must be a non-empty list of strings or numbers, or a range { min = 1, max = N }")
        return Pool(values=tuple(raw))
    bounds = table.table(name)
    low, high = bounds.integer("min", minimum=None), bounds.integer("max", minimum=None)
    bounds.done()
    if low > high:
        raise bounds.error("max", f"must be >= min ({low}), got {high}")
    return Pool(low=low, high=high)


class Filler:
    """Draws the values of one endpoint's placeholders, query string and body."""

    def __init__(self, endpoint: str, values: ProfileValues, rng: random.Random) -> None:
        self.rng = rng
        own = values.of(endpoint)
        self.pools = values.pools | own.pools
        self.query, self.bodies = own.query, own.json

    def value(self, name: str) -> Scalar:
        pool = self.pools.get(name)
        if pool is not None:
            return pool.draw(self.rng)
        if name == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if name == "hash":
            return f"{self.rng.getrandbits(128):032x}"
        if name == "token":
            return "".join(self.rng.choice(_TOKEN_ALPHABET) for _ in range(24))
        return self.rng.randint(1, 1000)

    def text(self, template: str) -> str:
        return _PLACEHOLDER.sub(lambda m: str(self.value(m.group(1))), template)

    def path(self, template: str) -> str:
        """The template with its placeholders filled, and a query string when the plan gives some."""
        path = self.text(template)
        return f"{path}?{self.text(self.rng.choice(self.query))}" if self.query else path

    def body(self) -> Any:
        """A body for the request (None: the plan gives none)."""
        return self._filled(self.rng.choice(self.bodies)) if self.bodies else None

    def _filled(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._filled(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._filled(item) for item in value]
        if isinstance(value, str):
            whole = _PLACEHOLDER.fullmatch(value)
            return self.value(whole.group(1)) if whole else self.text(value)
        return value
