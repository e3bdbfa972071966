"""External endpoints: URLs, host names and IP addresses in scripts, code, configuration, units and SQL.

Set aside (they never leave the machine, or name nobody): loopback (127.0.0.0/8, ::1, localhost), the
unspecified address (0.0.0.0, ::), the documentation ranges (RFC 5737 192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24; RFC 3849 2001:db8::/32), the reserved names (RFC 2606 / 6761: example.com, .net, .org,
.example, .test, .invalid, .localhost) and XML/JSON namespace identifiers. Everything else is reported: public
hosts, private networks (a staging host must not reach them either), internal names, the cloud metadata
address. Bare host names count in code only as a whole string literal (`request.app` is no host).

`rewrite(line, stub_port)` is what the quarantine uses to point every external endpoint of a line at the
local stub; it uses the same detection, so what is found is what is redirected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

from harness.package.findings import Finding, Hit, Severity, excerpt
from harness.package.scanners.files import PackageFile

_URL = re.compile(r"\b(?P<scheme>[a-z][a-z0-9+.\-]{1,20})://(?P<authority>\[[0-9a-f:.]+\](?::\d{1,5})?|"
                  r"[^\s/'\"<>`(){}\[\]\\,;|?#]+)(?P<rest>[^\s'\"<>`(){}\\,;|]*)", re.I)
_IPV4 = re.compile(r"(?<![\w.])(?P<host>(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3})"
                   r"(?::(?P<port>\d{1,5}))?(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?P<host>(?:[0-9a-f]{1,4}:){1,7}:?(?:[0-9a-f]{1,4})?(?::[0-9a-f]{1,4}){0,6})"
                   r"(?![\w:.])", re.I)
# Generic and common country TLDs; those that are also file extensions people name in code (py, sh, pl, rs,
# md, so, ps, ...) are left out, as are private-use suffixes, handled below.
TLDS = frozenset({
    "com", "net", "org", "io", "co", "dev", "cloud", "biz", "info", "app", "ai", "me", "tv", "us", "uk", "de", "fr",
    "eu", "nl", "ch", "at", "be", "it", "es", "se", "no", "dk", "fi", "ie", "pt", "cz", "sk", "hu", "ro", "bg",
    "gr", "tr", "ru", "ua", "by", "kz", "cn", "jp", "kr", "tw", "hk", "sg", "my", "th", "vn", "id", "ph", "au",
    "nz", "ca", "mx", "br", "ar", "cl", "za", "ng", "ke", "eg", "il", "sa", "ae", "ir", "lu", "li", "is", "ee",
    "lv", "lt", "hr", "si", "rs", "ba", "mk", "al", "mt", "cy", "xyz", "online", "site", "tech", "store", "shop",
    "global", "services", "systems", "network", "cc", "asia",
})
INTERNAL_SUFFIXES = ("internal", "local", "lan", "corp", "intranet", "home.arpa", "intra", "private", "svc",
                     "cluster.local")
_HOST = re.compile(r"(?<![\w.@/\-:$%{])(?P<host>(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,24}))"
                   r"(?::(?P<port>\d{1,5}))?(?![\w\-]|\.[a-z0-9])", re.I)
RESERVED_NAMES = ("example.com", "example.net", "example.org", "localhost", "localhost.localdomain")
RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".example.com", ".example.net", ".example.org")
NAMESPACE_HOSTS = ("www.w3.org", "json-schema.org", "schemas.xmlsoap.org", "purl.org", "xmlns.com",
                   "schemas.microsoft.com", "maven.apache.org")
DOCUMENTATION_NETS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                                              "2001:db8::/32"))
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
SKIP_SCHEMES = ("file", "data", "mailto", "urn", "jar")
STUB_HOST = "127.0.0.1"


@dataclass(frozen=True)
class Endpoint:
    start: int
    end: int
    text: str
    host: str
    scope: str  # public host, private network, internal name, cloud metadata
    scheme: str | None = None
    userinfo: str = ""
    port: str | None = None
    rest: str = ""


def scope_of(host: str) -> str | None:
    """Where `host` is: None when it never leaves the machine or names nobody; else its kind of place."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if name in RESERVED_NAMES or name.endswith(RESERVED_SUFFIXES) or name in NAMESPACE_HOSTS:
            return None
        if any(name == s or name.endswith("." + s) for s in INTERNAL_SUFFIXES):
            return "internal name"
        return "public host"
    if address.is_loopback or address.is_unspecified or any(address in net for net in DOCUMENTATION_NETS):
        return None
    if address in METADATA:
        return "cloud metadata"
    return "public host" if address.is_global else "private network"


def endpoints_in(line: str, role: str) -> Iterator[Endpoint]:
    """External endpoints of one line, left to right; URLs first, then bare addresses outside them."""
    taken: list[tuple[int, int]] = []
    for match in _URL.finditer(line):
        scheme, authority, rest = match["scheme"].lower(), match["authority"], match["rest"].rstrip(".:")
        end = match.start("rest") + len(rest)
        taken.append((match.start(), end))
        if scheme in SKIP_SCHEMES or any(c in authority for c in "{$%<*"):
            continue
        userinfo, _, hostport = authority.rpartition("@")
        if hostport.startswith("["):
            host, _, port = hostport[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = hostport.partition(":")
        scope = scope_of(host) if host else None
        if scope is not None:
            yield Endpoint(match.start(), end, line[match.start():end], host.lower(), scope, scheme,
                           userinfo + "@" if userinfo else "", port or None, rest)
    for pattern in (_IPV4, _IPV6, _HOST):
        for match in pattern.finditer(line):
            start, end = match.span()
            if any(a < end and start < b for a, b in taken):
                continue
            host = match["host"]
            if pattern is _IPV6 and (len([g for g in host.split(":") if g]) < 3 or not _is_ip(host)):
                continue  # `x[1::2]` is a slice, not an address: at least three groups
            if pattern is _HOST:
                if match["tld"].lower() not in TLDS and not _internal(host):
                    continue
                if role == "code" and not _whole_string(line, start, end):
                    continue
            scope = scope_of(host)
            if scope is not None:
                taken.append((start, end))
                yield Endpoint(start, end, match[0], host.lower(), scope, port=match.groupdict().get("port"))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _internal(host: str) -> bool:
    name = host.lower()
    return any(name.endswith("." + s) for s in INTERNAL_SUFFIXES)


def _whole_string(line: str, start: int, end: int) -> bool:
    return start > 0 and end < len(line) and line[start - 1] in "'\"" and line[end] == line[start - 1]


def stub_form(endpoint: Endpoint, port: int) -> str:
    """The endpoint pointed at the local stub: HTTP(S) and WebSocket URLs keep their host as the first path
    segment (the stub reports it); other URLs keep scheme and path; bare addresses become the loopback."""
    if endpoint.scheme in ("http", "https", "ws", "wss"):
        scheme = "ws" if endpoint.scheme.startswith("ws") else "http"
        return f"{scheme}://{STUB_HOST}:{port}/{endpoint.host}{endpoint.rest}"
    if endpoint.scheme is not None:
        return f"{endpoint.scheme}://{endpoint.userinfo}{STUB_HOST}:{port}{endpoint.rest}"
    return f"{STUB_HOST}:{port}" if endpoint.port else STUB_HOST


def rewrite(line: str, port: int, role: str = "config") -> tuple[str, list[Endpoint]]:
    """`line` with every external endpoint pointed at the stub on `port`, and the endpoints it rewrote."""
    found = sorted(endpoints_in(line, role), key=lambda e: e.start)
    out, last = [], 0
    for endpoint in found:
        out += [line[last:endpoint.start], stub_form(endpoint, port)]
        last = endpoint.end
    return "".join(out) + line[last:], found


SEVERITY: dict[str, Severity] = {"public host": "high", "private network": "high", "internal name": "medium",
                                 "cloud metadata": "critical"}


def scan(files: list[PackageFile]) -> list[Hit]:
    hits: list[Hit] = []
    for file in files:
        binary = file.text is None
        lines = file.strings() if binary else file.lines
        in_file: set[str] = set()  # a binary's strings have no lines: each host once per file
        for number, line in enumerate(lines, 1):
            seen: set[str] = in_file if binary else set()
            for endpoint in endpoints_in(line, file.role):
                if endpoint.host in seen:
                    continue
                seen.add(endpoint.host)
                hits.append(Hit(_finding(file, number, line, endpoint, binary), endpoint.start, endpoint.end,
                                endpoint.text, data={"host": endpoint.host, "scope": endpoint.scope}))
    return hits


def _finding(file: PackageFile, number: int, line: str, endpoint: Endpoint, binary: bool) -> Finding:
    what = f"{'URL of a' if endpoint.scheme else 'address of a'} {endpoint.scope} ({endpoint.host})"
    if binary:
        return Finding(file.name, None, "external endpoint", SEVERITY[endpoint.scope], excerpt(line),
                       f"{what} in a binary file: it cannot be redirected for the rehearsal", blocking=True)
    if file.role == "doc":
        return Finding(file.name, number, "external endpoint", "info", excerpt(line),
                       f"{what} in documentation (not contacted)")
    return Finding(file.name, number, "external endpoint", SEVERITY[endpoint.scope], excerpt(line),
                   f"{what} in {file.role}; pointed at the local stub for the rehearsal",
                   quarantine="redirect_endpoint")
