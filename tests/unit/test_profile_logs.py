"""rehearse profile's parsing and normalisation: combined (nginx, Apache), JSON lines, odd lines."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.core.errors import InputError
from harness.profile.normalise import endpoint, template
from harness.profile.parse import parse_combined, parse_json, read_log, sniff

AT = datetime(2026, 5, 28, 20, 26, 40, tzinfo=UTC).timestamp()
NGINX = '10.0.0.1 - - [28/May/2026:20:26:40 +0000] "GET /orders/42?x=1 HTTP/1.1" 200 512 "-" "curl/8.0"'


@pytest.mark.parametrize(("target", "expected"), [
    ("/orders/42", "/orders/{id}"),
    ("/orders/42?include=items&x=1", "/orders/{id}"),
    ("/customers/7/orders/", "/customers/{id}/orders"),
    ("/users/3f2b8c1e-9d4a-4b6f-8e21-0c5d7a9b1e23/cart", "/users/{uuid}/cart"),
    ("/blobs/9e107d9d372bb6826bd81d3542a419d6", "/blobs/{hash}"),
    ("/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/commits/{hash}"),
    ("/reset/Zx9kQ2pL7vN4wR8tY1uB3mC6", "/reset/{token}"),
    ("/terms-and-conditions-of-service", "/terms-and-conditions-of-service"),  # a long word is no token
    ("/v2/products", "/v2/products"),
    ("/cafe", "/cafe"),  # short hex stays a word
    ("/", "/"),
    ("//double//slash", "/double/slash"),
    ("/page#section", "/page"),
    ("http://shop.example/orders/9?a=b", "/orders/{id}"),
])
def test_paths_become_templates(target: str, expected: str) -> None:
    assert template(target) == expected


def test_the_endpoint_is_method_and_template() -> None:
    assert endpoint("post", "/orders?dry=1") == "POST /orders"


def test_combined_lines_nginx_apache_and_common() -> None:
    entry = parse_combined(NGINX)
    assert entry is not None
    assert (entry.at, entry.method, entry.target, entry.status, entry.duration_s) == (AT, "GET", "/orders/42?x=1",
                                                                                    200, None)
    assert entry.client == "10.0.0.1 curl/8.0"
    timed = parse_combined(NGINX + " 0.015")
    assert timed is not None and timed.duration_s == 0.015
    keyed = parse_combined(NGINX + " rt=0.250 uct=0.001")
    assert keyed is not None and keyed.duration_s == 0.25
    apache = parse_combined('::1 - frank [28/May/2026:22:26:40 +0200] "POST /search HTTP/1.0" 302 - '
                            '"http://ref/?q=\\"x\\"" "Mozilla/5.0 (X11; \\"quoted\\")"')
    assert apache is not None and apache.method == "POST" and apache.at == AT and apache.status == 302
    common = parse_combined('10.0.0.2 - - [28/May/2026:20:26:40 +0000] "DELETE /carts/5 HTTP/1.1" 204 0')
    assert common is not None and common.method == "DELETE" and common.client == "10.0.0.2 "


@pytest.mark.parametrize("line", [
    "",
    "garbage that is no log line",
    '10.0.0.9 - - [28/May/2026:20:30:00 +0000] "-" 400 0 "-" "-"',  # no request (a probe that sent nothing)
    '10.0.0.9 - - [28/May/2026:20:30:01 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"',  # TLS sent to a plain port
    '10.0.0.9 - - [31/Foo/2026:20:30:02 +0000] "GET /products HTTP/1.1" 200 1 "-" "-"',  # no such month
    '10.0.0.9 - - [28/May/2026:20:30:03 +0000] "GET /products HTTP/1.1',  # torn line
    '10.0.0.9 - - [28/May/2026:20:30:03 +0000] "GET products HTTP/1.1" 200 1 "-" "-"',  # no path
    '10.0.0.9 - - [28/May/2026:20:30:03 +0000] "get /products HTTP/1.1" 200 1 "-" "-"',  # no method
])
def test_odd_combined_lines_are_not_entries(line: str) -> None:
    assert parse_combined(line) is None


def test_json_lines_with_each_documented_key() -> None:
    nginx = parse_json(json.dumps({"time_iso8601": "2026-05-28T20:26:40+00:00", "request_method": "GET",
                                   "request_uri": "/orders/42?x=1", "status": "200", "request_time": "0.015",
                                   "remote_addr": "10.0.0.1", "http_user_agent": "curl/8.0"}))
    assert nginx is not None
    assert (nginx.at, nginx.method, nginx.target, nginx.status, nginx.duration_s, nginx.client) == (
        AT, "GET", "/orders/42?x=1", 200, 0.015, "10.0.0.1 curl/8.0")
    app = parse_json(json.dumps({"timestamp": AT * 1000, "method": "post", "path": "/orders", "status_code": 201,
                                 "duration_ms": 40, "client_ip": "10.0.0.3"}))
    assert app is not None and (app.at, app.method, app.duration_s, app.client) == (AT, "POST", 0.04, "10.0.0.3 ")
    zulu = parse_json('{"@timestamp": "2026-05-28T20:26:40.500Z", "request": "GET /health HTTP/1.1", "status": 200}')
    assert zulu is not None and zulu.at == AT + 0.5 and zulu.target == "/health" and zulu.duration_s is None
    local = parse_json('{"time_local": "28/May/2026:20:26:40 +0000", "method": "GET", "uri": "/x", "duration": 1.5}')
    assert local is not None and local.at == AT and local.duration_s == 1.5
    naive = parse_json('{"time": "2026-05-28 20:26:40", "method": "GET", "url": "/x"}')
    assert naive is not None and naive.at == AT, "a time without zone is UTC"
    epoch = parse_json(f'{{"ts": {AT}, "method": "GET", "path": "/x", "status": null}}')
    assert epoch is not None and epoch.status == 0


@pytest.mark.parametrize("line", [
    "not json",
    "{torn",
    "[1, 2]",
    '{"method": "GET", "path": "/x"}',  # no time
    '{"time": "yesterday", "method": "GET", "path": "/x"}',
    '{"time": 1780000000, "path": "/x"}',  # no method
    '{"time": 1780000000, "method": "GET", "path": "x"}',  # not a path
    '{"time": 1780000000, "method": 7, "path": "/x"}',
])
def test_odd_json_lines_are_not_entries(line: str) -> None:
    assert parse_json(line) is None


def test_the_format_is_sniffed_from_the_first_lines() -> None:
    assert sniff([NGINX, "junk"]) == "combined"
    assert sniff(['{"time": 1780000000, "method": "GET", "path": "/x"}']) == "json"
    assert sniff(["# comment", "junk"]) is None


def test_unparsable_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "access.log.gz"
    with gzip.open(log, "wt") as file:
        file.write("\n".join([NGINX, "junk", "", NGINX.replace("/orders/42", "/health")]) + "\n")
    parsed = read_log(log)
    assert (parsed.format, parsed.lines, len(parsed.entries), parsed.unparsed) == ("combined", 3, 2, 1)


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot read it"),
    ("", "no parsable line (the file is empty)"),
    ("# just\n# comments\n", "unknown format"),
])
def test_bad_logs_name_the_file_and_the_problem(tmp_path: Path, content: str | None, problem: str) -> None:
    log = tmp_path / "access.log"
    if content is not None:
        log.write_text(content)
    with pytest.raises(InputError) as caught:
        read_log(log)
    assert str(caught.value).startswith(f"{log}: {problem}")


def test_a_forced_format_with_no_line_of_it_is_bad_input(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(NGINX + "\n")
    with pytest.raises(InputError, match="no parsable line: none of its 1 lines is a json log line"):
        read_log(log, "json")
