"""A profile from entries (mix, rates, think times, concurrency), profile.toml, the mix scheduler, value pools,
and the achieved mix against the profile."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from harness.core.errors import InputError, PlanError
from harness.core.tables import Table
from harness.profile.build import build_profile
from harness.profile.contract import decode_values, encode_values
from harness.profile.mix import Mix
from harness.profile.parse import Entry, ParsedLog
from harness.profile.store import read_profile, render, write_profile
from harness.profile.values import Filler, parse_values
from harness.result.profile_mix import compare

T0 = 1_780_000_000.0


def _log(entries: list[Entry]) -> ParsedLog:
    return ParsedLog(Path("access.log"), "combined", len(entries) + 1, entries, 1)


def _entry(at: float, target: str, client: str = "a", method: str = "GET", duration: float | None = None) -> Entry:
    return Entry(T0 + at, method, target, 200, duration, client)


def test_mix_and_rates_per_endpoint_template() -> None:
    entries = [_entry(i, f"/orders/{i}") for i in range(6)] + [_entry(i, "/products?o=1", "b") for i in range(3)] \
        + [_entry(10, "/orders", "c", "POST")]
    profile = build_profile([_log(entries)])
    assert profile.requests == 10 and profile.span_s == 10 and profile.rate_per_s == 1.0
    assert [(e.endpoint, e.requests, e.share, e.rate_per_s) for e in profile.endpoints] == [
        ("GET /orders/{id}", 6, 0.6, 0.6), ("GET /products", 3, 0.3, 0.3), ("POST /orders", 1, 0.1, 0.1)]
    assert profile.sources[0].unparsed == 1


def test_think_times_per_session_less_durations_split_by_long_gaps() -> None:
    entries = [_entry(0, "/a", "x", duration=0.5), _entry(2, "/a", "x", duration=0.5), _entry(3, "/a", "x"),
               _entry(5000, "/a", "x"),  # 4997 s later: a new session, not a think time
               _entry(0, "/a", "y"), _entry(4, "/a", "y")]
    think = build_profile([_log(entries)]).think_time
    assert (think.sessions, think.gaps) == (3, 3)  # x twice (split), y once
    assert (think.median_s, think.mean_s) == (1.5, pytest.approx((1.5 + 0.5 + 4) / 3, abs=1e-4))
    assert think.p90_s == pytest.approx(3.5)
    alone = build_profile([_log([_entry(0, "/a", "x"), _entry(1, "/a", "y")])]).think_time
    assert (alone.gaps, alone.median_s, alone.p90_s) == (0, None, None)


def test_concurrency_from_request_times_else_from_arrivals() -> None:
    busy = [_entry(0.1 * i, "/a", str(i % 2), duration=0.2) for i in range(10)] + [_entry(5, "/a", "0", duration=1)]
    timed = build_profile([_log(busy)]).concurrency
    assert timed.method == "request_time" and timed.peak_requests_per_s == 10
    assert timed.peak_in_flight == pytest.approx(2.0)  # ten requests of 0.2 s within one second
    think = build_profile([_log(busy)]).think_time
    assert timed.peak_users == pytest.approx(10 * (timed.mean_duration_s + think.mean_s), abs=0.01)
    bare = build_profile([_log([_entry(0.1 * i, "/a", str(i % 2)) for i in range(10)])]).concurrency
    assert (bare.method, bare.peak_in_flight, bare.mean_duration_s) == ("arrivals", None, None)
    assert bare.peak_users == pytest.approx(10 * 0.2)  # each client every 0.2 s


def test_profile_toml_round_trips(tmp_path: Path) -> None:
    entries = [_entry(i * 0.5, f"/orders/{i}", str(i % 3), duration=0.01) for i in range(20)] \
        + [_entry(3, '/q"uote\x7f', "z")]
    profile = build_profile([_log(entries)])
    path = tmp_path / "profile.toml"
    write_profile(profile, path)
    again = read_profile(path)
    assert render(again) == path.read_text()
    assert again.shares() == pytest.approx({e.endpoint: e.share for e in profile.endpoints}, abs=1e-6)
    assert again.endpoints[1].endpoint == 'GET /q"uote\x7f' and again.think_time == profile.think_time


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda t: t.replace("version = 1", "version = 9"), "profile.version: must be 1"),
    (lambda t: t.replace("[[endpoints]]\n", "[[endpoints]]\nsurprise = 1\n", 1), "endpoints[0].surprise: unknown key"),
    (lambda t: t.replace('endpoint = "GET /a"', 'endpoint = "GET a"'), 'endpoints[0].endpoint: must be "METHOD'),
    (lambda t: t.replace("share = 1.0", "share = 2.0"), "endpoints[0].share: must be <= 1"),
    (lambda t: t.split("[[endpoints]]")[0], "endpoints: missing"),
    (lambda t: t + "[oops", "not a TOML profile"),
])
def test_a_bad_profile_names_the_file_and_the_key(tmp_path: Path, edit, problem: str) -> None:
    path = tmp_path / "profile.toml"
    write_profile(build_profile([_log([_entry(0, "/a"), _entry(1, "/a")])]), path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(InputError) as caught:
        read_profile(path)
    assert str(caught.value).startswith(f"{path}: ") and problem in str(caught.value)


def test_the_mix_follows_the_shares_from_the_first_picks() -> None:
    shares = {"GET /a": 0.5, "GET /b": 0.3, "GET /c": 0.15, "GET /d": 0.05}
    mix = Mix(shares)
    sent = dict.fromkeys(shares, 0)
    for n in range(1, 2001):
        sent[mix.next()] += 1
        assert all(abs(sent[name] - n * share) <= 1 for name, share in shares.items()), (n, sent)
    assert Mix({"GET /a": 2, "GET /b": 0}).shares == {"GET /a": 1.0}


def test_value_pools_of_the_plan_and_defaults() -> None:
    raw = {"id": {"min": 5, "max": 5}, "GET /orders/{id}": {"id": [77]},
           "GET /search": {"query": ["q={term}"], "term": ["eco"]},
           "/orders": {"json": [{"customer_id": "{customer}", "note": "for {customer}"}], "customer": [3]}}
    values = parse_values(Table("plan.toml", "load.profile_values", decode_values(encode_values(raw))))
    rng = random.Random(1)
    assert Filler("GET /products/{id}", values, rng).path("/products/{id}") == "/products/5"
    assert Filler("GET /orders/{id}", values, rng).path("/orders/{id}") == "/orders/77"
    assert Filler("GET /search", values, rng).path("/search") == "/search?q=eco"
    assert Filler("POST /orders", values, rng).body() == {"customer_id": 3, "note": "for 3"}
    default = Filler("GET /x", parse_values(Table("p", "v", {})), rng)
    filled = default.path("/a/{id}/{uuid}/{hash}/{token}").split("/")
    assert 1 <= int(filled[2]) <= 1000 and len(filled[3]) == 36 and len(filled[4]) == 32 and len(filled[5]) == 24
    assert default.body() is None


@pytest.mark.parametrize(("raw", "problem"), [
    ({"id": []}, "load.profile_values.id: must be a non-empty list"),
    ({"id": {"min": 3, "max": 1}}, "load.profile_values.id.max: must be >= min (3)"),
    ({"id": {"min": 1}}, "load.profile_values.id.max: missing"),
    ({"GET /a": {"json": ["text"]}}, "load.profile_values.GET /a.json: must be a list of bodies"),
    ({"a-b": [1]}, "load.profile_values.a-b: must be a placeholder name"),
    ({"GET /a /b": {}}, 'an endpoint is "METHOD /template"'),
])
def test_bad_value_pools_name_the_key(raw: dict, problem: str) -> None:
    with pytest.raises(PlanError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_values(Table("plan.toml", "load.profile_values", raw))


def test_the_achieved_mix_against_the_profile() -> None:
    requests = pd.DataFrame({"method": ["GET"] * 6 + ["POST"] * 3 + ["GET"],
                             "name": ["/orders/{id}"] * 6 + ["/orders"] * 3 + ["/extra"]})
    mix = compare("profile.toml", {"GET /orders/{id}": 0.6, "POST /orders": 0.36, "GET /health": 0.04}, requests)
    rows = {r.endpoint: r for r in mix.endpoints}
    assert list(rows) == ["GET /orders/{id}", "POST /orders", "GET /health", "GET /extra"]
    assert (rows["GET /orders/{id}"].achieved_share, rows["GET /orders/{id}"].difference) == (0.6, 0.0)
    assert rows["POST /orders"].difference == pytest.approx(-0.06)
    assert rows["POST /orders"].relative_difference == pytest.approx(-1 / 6)
    assert rows["GET /extra"].relative_difference is None and rows["GET /health"].requests == 0
    assert mix.max_difference == pytest.approx(0.1)  # /extra: 10 points the profile does not have
    assert mix.max_relative_difference == pytest.approx(1 / 6)  # /health (4%) is under the 5% line
    empty = compare("p", {"GET /a": 1.0}, requests.iloc[0:0])
    assert (empty.requests, empty.max_relative_difference) == (0, None)


def test_the_report_shows_the_mix_against_the_profile() -> None:
    from harness.report.markdown import render_markdown

    from .builders import summary

    requests = pd.DataFrame({"method": ["GET"] * 7 + ["POST"] * 3, "name": ["/orders/{id}"] * 7 + ["/orders"] * 3})
    text = render_markdown(summary(profile_mix=compare("prod.toml", {"GET /orders/{id}": 0.75, "POST /orders": 0.25},
                                                       requests)))
    assert "## Traffic mix against the profile" in text
    assert "`prod.toml`: 10 requests sent; the largest difference 5.00 percentage points" in text
    assert "| GET /orders/{id} | 7 | 75.00% | 70.00% | -5.00 | -6.7% |" in text
    assert "## Traffic mix" not in render_markdown(summary())
