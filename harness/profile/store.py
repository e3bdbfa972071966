"""profile.toml: write a Profile, read one back (every key checked, bad input names the file and the key)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.core.errors import InputError
from harness.core.tables import Table
from harness.profile.model import CONCURRENCY_METHODS, Concurrency, EndpointProfile, Profile, Source, ThinkTime

VERSION = 1


def render(profile: Profile) -> str:
    """The profile as TOML text (keys with no value left out)."""
    think, peak = profile.think_time, profile.concurrency
    lines = ["# A production profile written by `rehearse profile` (docs: README.md, \"Other ways to run it\").",
             "# Rehearse it with load.profile = \"<this file>\" in a plan.", "",
             "[profile]", f"version = {VERSION}", f"requests = {profile.requests}",
             f"start = {profile.start!r}  # {_iso(profile.start)}", f"end = {profile.end!r}  # {_iso(profile.end)}",
             f"span_s = {profile.span_s!r}", f"rate_per_s = {round(profile.rate_per_s, 4)!r}", "",
             "[think_time]  # per session (client address + user agent): gaps between consecutive requests",
             *_pairs({"sessions": think.sessions, "gaps": think.gaps, "median_s": think.median_s, "p90_s": think.p90_s,
                      "mean_s": think.mean_s,
                      "session_gap_s": think.session_gap_s}), "",
             f"[concurrency]  # the busiest second; method: {_METHOD_NOTE[peak.method]}",
             *_pairs({"method": peak.method, "peak_requests_per_s": peak.peak_requests_per_s,
                      "peak_in_flight": peak.peak_in_flight, "peak_users": peak.peak_users,
                      "mean_duration_s": peak.mean_duration_s})]
    for item in profile.endpoints:
        lines += ["", "[[endpoints]]", *_pairs({"endpoint": item.endpoint, "requests": item.requests,
                                               "share": round(item.share, 6), "rate_per_s": round(item.rate_per_s, 4)})]
    for source in profile.sources:
        lines += ["", "[[sources]]", *_pairs({"file": source.file, "format": source.format, "lines": source.lines,
                                             "unparsed": source.unparsed})]
    return "\n".join(lines) + "\n"


_METHOD_NOTE = {"request_time": "from the logged request durations (Little's law per second)",
                "arrivals": "from arrivals alone (the log has no durations): peak_users is a lower bound"}


def write_profile(profile: Profile, path: Path) -> None:
    """Write `path` whole or not at all."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_text(render(profile), encoding="utf-8")
        temp.replace(path)
    except OSError as exc:
        raise InputError(path, "", f"cannot write it: {exc.strerror or exc}") from None


def read_profile(path: Path) -> Profile:
    """The Profile in `path`. Bad input: InputError naming the file and the key."""
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise InputError(path, "", f"cannot read it: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(path, "", f"not a TOML profile: {exc}") from None
    root = Table(path, "", raw, error=InputError)
    head = root.table("profile", required=True)
    if head.integer("version") != VERSION:
        raise head.error("version", f"must be {VERSION} (written by this rehearse)")
    requests = head.integer("requests")
    start, end = head.number("start", positive=False), head.number("end", positive=False)
    span_s, rate = head.number("span_s"), head.number("rate_per_s")
    head.done()
    think = root.table("think_time", required=True)
    think_time = ThinkTime(think.integer("sessions", minimum=0), think.integer("gaps", minimum=0),
                           think.number("median_s", None, positive=False, minimum=0),
                           think.number("p90_s", None, positive=False, minimum=0), think.number("session_gap_s"),
                           think.number("mean_s", None, positive=False, minimum=0))
    think.done()
    peak = root.table("concurrency", required=True)
    concurrency = Concurrency(peak.string("method", choices=CONCURRENCY_METHODS),
                              peak.integer("peak_requests_per_s", minimum=0),
                              peak.number("peak_in_flight", None, positive=False, minimum=0),
                              peak.number("peak_users", positive=False, minimum=0),
                              peak.number("mean_duration_s", None, positive=False, minimum=0))
    peak.done()
    endpoints = []
    for table in root.tables("endpoints"):
        name = table.string("endpoint")
        if len(name.split(" ")) != 2 or not name.split(" ")[1].startswith("/"):
            raise table.error("endpoint", f"must be \"METHOD /template\", got {name!r}")
        endpoints.append(EndpointProfile(name, table.integer("requests", minimum=0),
                                         table.number("share", positive=False, minimum=0, maximum=1),
                                         table.number("rate_per_s", positive=False, minimum=0)))
        table.done()
    if not endpoints:
        raise root.error("endpoints", "missing: the profile has no endpoint")
    if sum(e.share for e in endpoints) <= 0:
        raise root.error("endpoints", "every share is 0")
    sources = []
    for table in root.tables("sources"):
        sources.append(Source(table.string("file"), table.string("format"), table.integer("lines", minimum=0),
                              table.integer("unparsed", minimum=0)))
        table.done()
    root.done()
    return Profile(requests, start, end, span_s, rate, endpoints, think_time, concurrency, sources)


def _pairs(values: dict[str, Any]) -> list[str]:
    return [f"{key} = {_toml(value)}" for key, value in values.items() if value is not None]


def _toml(value: Any) -> str:
    if isinstance(value, str):  # JSON's escapes are TOML's (control characters as \uXXXX, no surrogates)
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    return repr(value) if isinstance(value, float) else str(value)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
