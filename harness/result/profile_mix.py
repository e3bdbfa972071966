"""The mix a profile-driven load achieved (streams/requests.csv), against the profile it was given
(streams/profile.json, written by harness/load/profile_user.py)."""

from __future__ import annotations

import json

import pandas as pd

from harness.profile.contract import PROFILE_STREAM
from harness.records.summary import MixEndpoint, ProfileMix
from harness.rundir import RunDir

MAJOR_SHARE = 0.05  # endpoints with at least this share of the profile are held to its relative difference


def profile_mix(run: RunDir, requests: pd.DataFrame) -> ProfileMix | None:
    """None when the load followed no profile (no streams/profile.json)."""
    try:
        given = json.loads(run.stream(PROFILE_STREAM).read_text(encoding="utf-8"))
        shares = {str(e["endpoint"]): float(e["share"]) for e in given["endpoints"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return compare(str(given.get("profile", "")), shares, requests)


def compare(profile: str, shares: dict[str, float], requests: pd.DataFrame) -> ProfileMix:
    """Per endpoint ("METHOD name"), the profile's share against the achieved share of `requests`."""
    sent = (requests["method"].astype(str) + " " + requests["name"].astype(str)).value_counts() \
        if len(requests) else pd.Series(dtype="int64")
    total = int(sent.sum())
    names = list(shares) + sorted(set(sent.index) - set(shares))
    rows = []
    for name in names:
        count = int(sent.get(name, 0))
        achieved = count / total if total else 0.0
        expected = shares.get(name, 0.0)
        difference = achieved - expected
        rows.append(MixEndpoint(name, count, expected, achieved, difference,
                                difference / expected if expected > 0 else None))
    major = [abs(r.relative_difference) for r in rows
             if r.relative_difference is not None and r.profile_share >= MAJOR_SHARE]
    return ProfileMix(profile, total, rows, max((abs(r.difference) for r in rows), default=0.0),
                      max(major) if major and total else None)
