"""The scanners on a crafted package: a cron entry, a systemd timer, a renamed unit, a script naming the old
unit, an external URL, an AWS-style key, a DSN with a password, a private key; loopback and documentation
endpoints set aside; no secret in any excerpt or message."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from harness.package.findings import Finding, excerpt
from harness.package.scanners import scan
from harness.package.scanners.endpoints import endpoints_in, rewrite, scope_of
from harness.package.source import open_package

from . import crafted


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    base = tmp_path_factory.mktemp("crafted")
    now, before = crafted.current(base / "2.0"), crafted.previous(base / "1.0")
    return [hit.finding for hit in scan(now, open_package(now).manifest, before)]


def _of(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def test_cron_entries_and_timers_are_found_and_disabled(findings: list[Finding]) -> None:
    (cron,) = _of(findings, "cron entry")
    assert (cron.file, cron.line, cron.quarantine, cron.severity) == ("cron.d/vendor-report", 3, "disable_cron",
                                                                      "medium")
    assert "*/15 * * * *" in cron.message
    (timer,) = _of(findings, "systemd timer")
    assert (timer.file, timer.quarantine, timer.severity) == ("systemd/vendor-purge.timer", "disable_timer", "high")
    assert "not declared in the manifest" in timer.message and "OnCalendar=hourly" in timer.message


def test_a_renamed_unit_and_the_script_still_naming_it(findings: list[Finding]) -> None:
    renamed = {f.message for f in _of(findings, "renamed unit")}
    assert renamed == {"vendor-cleanup.service of the previous package is now vendor-purge.service",
                       "vendor-cleanup.timer of the previous package is now vendor-purge.timer"}
    (stale,) = _of(findings, "stale unit name")
    assert (stale.file, stale.line, stale.blocking) == ("bin/restart.sh", 2, True)
    assert "renamed to vendor-purge.timer" in stale.message


def test_external_endpoints_are_found_and_the_harmless_ones_set_aside(findings: list[Finding]) -> None:
    endpoints = {(f.file, f.message.split("(")[1].split(")")[0]): f for f in _of(findings, "external endpoint")}
    assert set(endpoints) == {("bin/report.sh", "api.partner-payments.com"), ("config/vendor.ini", "db.prod.internal"),
                              ("config/vendor.ini", "10.20.30.40"), ("README.md", "vendor-portal.com")}
    assert endpoints[("bin/report.sh", "api.partner-payments.com")].quarantine == "redirect_endpoint"
    assert endpoints[("config/vendor.ini", "10.20.30.40")].message.startswith("address of a private network")
    assert endpoints[("README.md", "vendor-portal.com")].severity == "info", "documentation is not contacted"
    assert "token=abc" not in endpoints[("bin/report.sh", "api.partner-payments.com")].excerpt


def test_credentials_are_found_by_detect_secrets_and_the_own_detectors(findings: list[Finding]) -> None:
    credentials = {(f.file, f.line): f.message for f in _of(findings, "credential")}
    assert credentials[("config/vendor.ini", 2)].startswith("aws access key (AKIA…")
    assert ("config/vendor.ini", 3) in credentials
    assert credentials[("config/vendor.ini", 5)].startswith("password in a postgresql URL")
    assert credentials[("keys/deploy.pem", 1)].startswith("private key (ec private key)")
    assert all(f.quarantine == "replace_credential" for f in _of(findings, "credential"))


def test_no_secret_appears_in_any_finding(findings: list[Finding]) -> None:
    text = json.dumps([asdict(f) for f in findings], ensure_ascii=False)
    for secret in (crafted.AWS_KEY_ID, crafted.AWS_SECRET, crafted.DSN_PASSWORD, "PRIVATE KEY-----\nM"):
        assert secret not in text
    assert "AKIA…[redacted, 20 chars]" in text


@pytest.mark.parametrize(("host", "scope"), [
    ("127.0.0.1", None), ("localhost", None), ("::1", None), ("0.0.0.0", None), ("192.0.2.10", None),
    ("198.51.100.7", None), ("203.0.113.1", None), ("2001:db8::5", None), ("example.com", None),
    ("api.example.org", None), ("svc.test", None), ("x.invalid", None), ("www.w3.org", None),
    ("10.1.2.3", "private network"), ("192.168.1.1", "private network"), ("169.254.169.254", "cloud metadata"),
    ("db.prod.internal", "internal name"), ("8.8.8.8", "public host"), ("hooks.partner-payments.com", "public host"),
])
def test_scope_of_hosts(host: str, scope: str | None) -> None:
    assert scope_of(host) == scope


def test_code_is_not_read_as_host_names() -> None:
    code = "state = request.app[STATE]; rows = lines[1::2]; web.json_response(x); os.path.join(a)"
    assert list(endpoints_in(code, "code")) == []
    assert [e.host for e in endpoints_in("HOST = 'api.vendor-cloud.io'", "code")] == ["api.vendor-cloud.io"]


def test_rewrite_points_every_endpoint_at_the_stub() -> None:
    line = "url=https://u:p@api.vendor.com:8443/v1?x=1 fallback=10.0.0.5:9000 local=http://127.0.0.1:1/x"
    rewritten, found = rewrite(line, 4242)
    assert [e.host for e in found] == ["api.vendor.com", "10.0.0.5"]
    assert rewritten == ("url=http://127.0.0.1:4242/api.vendor.com/v1?x=1 fallback=127.0.0.1:4242 "
                         "local=http://127.0.0.1:1/x")
    assert rewrite("postgresql://app:pw@db.prod.internal:5432/shop", 9)[0] == "postgresql://app:pw@127.0.0.1:9/shop"


def test_excerpts_mask_secrets_user_info_and_query_strings() -> None:
    line = "curl https://bob:s3cret@api.vendor.com/x?token=abcd KEY=verysecretvalue123"
    shown = excerpt(line, ["verysecretvalue123"])
    assert "s3cret" not in shown and "abcd" not in shown and "verysecretvalue123" not in shown
    assert "very…[redacted, 18 chars]" in shown
