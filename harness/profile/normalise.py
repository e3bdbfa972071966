"""Paths to endpoint templates: ids, uuids, hex hashes and long tokens in path segments become placeholders,
query strings and fragments are dropped."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

PLACEHOLDERS = ("id", "uuid", "hash", "token")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ID = re.compile(r"\d+")
_HASH = re.compile(r"[0-9a-fA-F]{16,}")  # md5, sha1, sha256, object ids (24): hex, 16 characters or more
# A long opaque token (session ids, base64url keys): 20+ characters of letters, digits, '-' and '_', with both
# letters and digits, so that long words (/terms-and-conditions-of-service) stay what they are.
_TOKEN = re.compile(r"(?=[A-Za-z_-]*\d)(?=[\d_-]*[A-Za-z])[A-Za-z0-9_-]{20,}")


def template(target: str) -> str:
    """The endpoint template of a request target: `/orders/42?x=1` -> `/orders/{id}`."""
    path = urlsplit(target).path if "://" in target[:12] else target.split("?", 1)[0].split("#", 1)[0]
    segments = [segment_template(segment) for segment in path.split("/") if segment]
    shown = "/" + "/".join(segments)
    return shown


def segment_template(segment: str) -> str:
    """One path segment: a placeholder when it is an id, a uuid, a hash or a token, else itself."""
    if _ID.fullmatch(segment):
        return "{id}"
    if _UUID.fullmatch(segment):
        return "{uuid}"
    if _HASH.fullmatch(segment):
        return "{hash}"
    if _TOKEN.fullmatch(segment):
        return "{token}"
    return segment


def endpoint(method: str, target: str) -> str:
    """`METHOD /template`, the key of a profile's mix."""
    return f"{method.upper()} {template(target)}"
