"""Entries of access logs to a Profile: the mix per endpoint template, rates, peak concurrency, think times."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from harness.profile.model import Concurrency, EndpointProfile, Profile, Source, ThinkTime
from harness.profile.normalise import endpoint
from harness.profile.parse import Entry, ParsedLog

SESSION_GAP_S = 1800.0  # a client silent this long has left: its next request starts a new session


def build_profile(logs: Sequence[ParsedLog], session_gap_s: float = SESSION_GAP_S) -> Profile:
    """The profile of every entry of `logs` (at least one entry in all)."""
    entries = sorted((e for log in logs for e in log.entries), key=lambda e: e.at)
    start, end = entries[0].at, entries[-1].at
    span = max(end - start, 1.0)  # a log within one second still has a rate
    counts = Counter(endpoint(e.method, e.target) for e in entries)
    endpoints = [EndpointProfile(name, count, count / len(entries), count / span)
                 for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    think = think_time(entries, session_gap_s)
    sources = [Source(str(log.path), log.format, log.lines, log.unparsed) for log in logs]
    return Profile(len(entries), start, end, span, len(entries) / span, endpoints, think,
                   concurrency(entries, think), sources)


def think_time(entries: Sequence[Entry], session_gap_s: float = SESSION_GAP_S) -> ThinkTime:
    """Per session (client address + user agent), the gaps between consecutive requests, less the earlier
    request's duration when the log has it; gaps longer than `session_gap_s` separate sessions."""
    by_client: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_client[entry.client].append(entry)
    gaps: list[float] = []
    sessions = 0
    for requests in by_client.values():
        requests.sort(key=lambda e: e.at)
        sessions += 1
        for earlier, later in zip(requests, requests[1:], strict=False):
            gap = later.at - earlier.at
            if gap > session_gap_s:
                sessions += 1
                continue
            gaps.append(max(0.0, gap - (earlier.duration_s or 0.0)))
    if not gaps:
        return ThinkTime(sessions, 0, None, None, session_gap_s)
    median, p90 = np.percentile(gaps, [50, 90])
    return ThinkTime(sessions, len(gaps), round(float(median), 4), round(float(p90), 4), session_gap_s,
                     round(float(np.mean(gaps)), 4))


def concurrency(entries: Sequence[Entry], think: ThinkTime) -> Concurrency:
    """Peak concurrency at the busiest second. With durations logged (for most requests): requests in flight
    there, sum of durations / 1 s (Little's law per second). Either way, the users a closed-loop load needs for
    that arrival rate: X x (R + Z) (the interactive response-time law), R the mean duration (0 when not
    logged: then a lower bound), Z the mean think time."""
    seconds = np.floor(np.array([e.at for e in entries]))
    durations = [e.duration_s for e in entries]
    timed = sum(d is not None for d in durations) * 2 >= len(durations)
    buckets, arrivals = np.unique(seconds, return_counts=True)
    busiest = int(arrivals.max())
    mean_duration = float(np.mean([d for d in durations if d is not None])) if timed else None
    in_flight = None
    if timed:
        load = np.zeros(len(buckets))
        np.add.at(load, np.searchsorted(buckets, seconds), [d or 0.0 for d in durations])
        in_flight = round(float(load.max()), 3)
    think_s = think.mean_s or 0.0
    users = busiest * ((mean_duration or 0.0) + think_s)
    return Concurrency("request_time" if timed else "arrivals", busiest, in_flight, round(users, 2),
                       None if mean_duration is None else round(mean_duration, 6))
