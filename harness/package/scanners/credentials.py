"""Hard-coded credentials: detect-secrets (as a library, every plugin but the public-IP one, no network
verification, no allowlist pragmas: a package cannot hide its own secrets), plus private key blocks, DSNs
with a password, and SQL `PASSWORD '...'` literals.

A hit's value is the secret (for the quarantine, which replaces it with a rehearsal credential); findings
show it masked. Templated values (`${VAR}`, `{password}`, `%(pw)s`, `***`) are not secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from harness.package.findings import Finding, Hit, Severity, excerpt, masked
from harness.package.scanners.files import PackageFile

PRIVATE_KEY = re.compile(r"-----BEGIN (?P<label>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY)-----"
                         r".*?-----END (?P=label)-----", re.S)
DSN = re.compile(r"\b(?P<scheme>[a-z][a-z0-9+.\-]{1,20})://(?P<user>[^\s:/@'\"]+):(?P<password>[^\s@'\"/]+)@", re.I)
SQL_PASSWORD = re.compile(r"\bPASSWORD\s+(?:E)?'(?P<password>(?:[^']|'')+)'", re.I)
TEMPLATED = re.compile(r"^(?:\$\{?\w+\}?|\{\w*\}|%\(\w+\)s|%s|\*+|<[^>]+>|x+|changeme|password)$", re.I)
SKIPPED_PLUGINS = ("IPPublicDetector", "PrivateKeyDetector")  # endpoints scanner; whole blocks found here
FILTERS = tuple(f"detect_secrets.filters.heuristic.{name}" for name in (
    "is_sequential_string", "is_potential_uuid", "is_likely_id_string", "is_templated_secret",
    "is_prefixed_with_dollar_sign", "is_indirect_reference", "is_lock_file", "is_not_alphanumeric_string",
    "is_swagger_file"))
GENERIC_TYPES = ("Secret Keyword", "Base64 High Entropy String", "Hex High Entropy String")


def scan(files: list[PackageFile]) -> list[Hit]:
    hits: dict[tuple[str, int, str], Hit] = {}
    texts = [file for file in files if file.text is not None]
    detected = _detect_secrets(texts)
    for file in texts:
        for hit in [*_private_keys(file), *_dsns(file), *_sql_passwords(file), *detected.get(file.name, [])]:
            key = (hit.finding.file, hit.finding.line or 0, hit.value)
            # the first finder of a secret names it; a specific detect-secrets type beats the generic ones
            if key not in hits or (hits[key].data.get("source") == "detect-secrets"
                                   and hits[key].data.get("type") in GENERIC_TYPES
                                   and hit.data.get("type") not in GENERIC_TYPES):
                hits[key] = hit
    return list(hits.values())


def _hit(file: PackageFile, number: int, line: str, value: str, what: str, severity: Severity = "high",
         **data: str) -> Hit:
    start = line.find(value)
    replaceable = start >= 0 or data.get("block") == "yes"
    finding = Finding(file.name, number, "credential", severity, excerpt(line, [value]),
                      f"{what} ({masked(value)}); replaced by a rehearsal credential for the rehearsal"
                      if replaceable else f"{what} ({masked(value)}); could not be located to be replaced",
                      quarantine="replace_credential" if replaceable else None)
    return Hit(finding, start, start + len(value) if start >= 0 else -1, value, data=dict(data))


def _private_keys(file: PackageFile) -> Iterator[Hit]:
    text = file.text or ""
    for match in PRIVATE_KEY.finditer(text):
        first = text.count("\n", 0, match.start()) + 1
        last = text.count("\n", 0, match.end()) + 1
        line = file.lines[first - 1]
        hit = _hit(file, first, line, match[0], f"private key ({match['label'].lower()})", "critical",
                   label=match["label"], block="yes", source="private key")
        yield Hit(hit.finding, -1, -1, match[0], end_line=last, data=hit.data)


def _dsns(file: PackageFile) -> Iterator[Hit]:
    for number, line in enumerate(file.lines, 1):
        for match in DSN.finditer(line):
            if not TEMPLATED.match(match["password"]):
                yield _hit(file, number, line, match["password"], f"password in a {match['scheme']} URL",
                           source="dsn")


def _sql_passwords(file: PackageFile) -> Iterator[Hit]:
    if file.role not in ("sql", "script", "code", "config"):
        return
    for number, line in enumerate(file.lines, 1):
        for match in SQL_PASSWORD.finditer(line):
            if not TEMPLATED.match(match["password"]):
                yield _hit(file, number, line, match["password"], "password literal of a database role",
                           source="sql")


def _detect_secrets(files: list[PackageFile]) -> dict[str, list[Hit]]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import transient_settings

    mapping: dict[str, Any] = dict(get_mapping_from_secret_type_to_class())
    names = [str(plugin.__name__) for plugin in mapping.values()]
    plugins = [{"name": name} for name in names if name not in SKIPPED_PLUGINS]
    found: dict[str, list[Hit]] = {}
    with transient_settings({"plugins_used": plugins, "filters_used": [{"path": f} for f in FILTERS]}) as settings:
        assert not any("verification" in path for path in settings.filters), "network verification stays off"
        for file in files:
            lines = file.lines
            for secret in scan_file(str(file.path)):
                value = secret.secret_value or ""
                if not value or TEMPLATED.match(value) or not 0 < secret.line_number <= len(lines):
                    continue
                found.setdefault(file.name, []).append(
                    _hit(file, secret.line_number, lines[secret.line_number - 1], value, secret.type.lower(),
                         source="detect-secrets", type=secret.type))
    return found
