"""Text helpers shared by every command the harness runs: placeholders and redaction."""

from __future__ import annotations

import re

from harness.core import redaction

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_SQL_PASSWORD = re.compile(r"(\bPASSWORD\s+E?)'(?:[^']|'')*'", re.I)


def expand(template: str, values: dict[str, str]) -> str:
    """Fill the {placeholders} that `values` knows; leave any other braces alone."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def placeholders_in(template: str) -> list[str]:
    """The {names} a template refers to."""
    return _PLACEHOLDER.findall(template)


def redact(text: str, *secrets: str) -> str:
    """`text` with every secret replaced (these, the remembered ones, anything that looks like one: see
    core.redaction), for logs and messages."""
    return redaction.redact(text, *secrets)


def redact_sql(sql: str) -> str:
    """SQL as it may be recorded and shown: password literals (CREATE / ALTER ROLE ... PASSWORD '...') masked."""
    return _SQL_PASSWORD.sub(r"\1'***'", sql)


def one_line(text: str, limit: int = 300) -> str:
    """The text folded to one line of at most `limit` characters."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"
