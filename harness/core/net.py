"""Is an address loopback? Parsed and resolved without sending a packet anywhere.

A host is loopback when it is an IP literal in 127.0.0.0/8 or ::1, `localhost` or a name under `.localhost`
(RFC 6761 reserves them for loopback), or a name /etc/hosts maps to loopback addresses only. Names are never
looked up in DNS: a name that only DNS knows is not provably loopback, so it is treated as not loopback (and no
query leaves the machine because of this check).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

HOSTS_FILE = Path("/etc/hosts")


def is_loopback_host(host: str, hosts_file: Path = HOSTS_FILE) -> bool:
    """Whether `host` (a name or an IP literal, brackets allowed) can only mean this machine's loopback."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if not host:
        return False
    address = _ip(host)
    if address is not None:
        return address.is_loopback
    if host == "localhost" or host.endswith(".localhost"):
        return True
    addresses = hosts_file_addresses(host, hosts_file)
    return bool(addresses) and all(a.is_loopback for a in addresses)


def url_host(url: str) -> str | None:
    """The host of `url` (None when it has none, or the URL cannot be parsed)."""
    try:
        parts = urlsplit(url.strip())
        return parts.hostname
    except ValueError:
        return None


def url_port(url: str) -> int | None:
    try:
        return urlsplit(url.strip()).port
    except ValueError:
        return None


def is_loopback_url(url: str) -> bool:
    """Whether `url` is http(s) to a loopback host (parsed, then resolved as is_loopback_host does)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.hostname is not None and is_loopback_host(parts.hostname)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def hosts_file_addresses(name: str, hosts_file: Path = HOSTS_FILE) -> list[Address]:
    """The addresses /etc/hosts gives `name` (empty when it does not name it)."""
    try:
        lines = hosts_file.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and name in (f.lower() for f in fields[1:]):
            address = _ip(fields[0].split("%", 1)[0])
            if address is not None:
                found.append(address)
    return found


def _ip(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
