"""Read one TOML table (of a plan, of a package manifest) key by key: every key nobody asked for is an error
with a hint."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from harness.core.errors import InputError, PlanError

MISSING: Any = object()
INT_MAX = 2_147_483_647  # PostgreSQL's integer settings (lock_timeout, statement_timeout) stop here


def did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})" if known else ""


class Table:
    """Verbs: typed getters (string, integer, number, ...), table(name) for a sub-table, done() at the end."""

    def __init__(self, path: Path | str, key: str, raw: Any, overridden: set[str] | None = None,
                 error: type[InputError] = PlanError) -> None:
        self.path, self.key, self.error_class = path, key, error
        self.overridden = overridden if overridden is not None else set()
        if not isinstance(raw, dict):
            raise self.error("", f"must be a table, got {_shown(raw)}")
        self.raw: dict[str, Any] = raw
        self.read: set[str] = set()

    def where(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key and name else self.key or name

    def error(self, name: str, problem: str) -> InputError:
        key = self.where(name)
        return self.error_class(source_of(self.path, key, self.overridden), key, problem)

    def has(self, name: str) -> bool:
        return name in self.raw

    def value(self, name: str, kinds: tuple[type, ...], default: Any = MISSING) -> Any:
        self.read.add(name)
        if name not in self.raw:
            if default is MISSING:
                raise self.error(name, "missing")
            return default
        value = self.raw[name]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self.error(name, f"must be {_kinds(kinds)}, got {_shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(name, f"must be a finite number, got {value!r}")
        return value

    def string(self, name: str, default: Any = MISSING, choices: tuple[str, ...] = ()) -> Any:
        value = self.value(name, (str,), default)
        if isinstance(value, str):
            if choices and value not in choices:
                hint = did_you_mean(value, choices)
                raise self.error(name, f"must be one of {', '.join(choices)}, got {value!r}{hint}")
            if not choices and not value.strip():
                raise self.error(name, "must not be empty")
        return value

    def boolean(self, name: str, default: Any = MISSING) -> Any:
        return self.value(name, (bool,), default)

    def integer(self, name: str, default: Any = MISSING, minimum: int | None = 1, maximum: int = INT_MAX) -> Any:
        value = self.value(name, (int,), default)
        if isinstance(value, int):
            self._bounded(name, value, minimum, maximum)
        return value

    def number(self, name: str, default: Any = MISSING, minimum: float | None = None, positive: bool = True,
               maximum: float | None = None) -> Any:
        value = self.value(name, (int, float), default)
        if isinstance(value, int | float):
            if positive and value <= 0:
                raise self.error(name, f"must be > 0, got {value!r}")
            self._bounded(name, value, minimum, maximum)
            return float(value)
        return value

    def _bounded(self, name: str, value: float, minimum: float | None, maximum: float | None) -> None:
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be {'> 0' if minimum == 1 else f'>= {minimum:g}'}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"must be <= {maximum:g}, got {value!r}")

    def command(self, name: str, default: Any = MISSING) -> list[str] | None:
        """A command: a list of strings, or a string split on white space."""
        if name not in self.raw and default is not MISSING:
            self.read.add(name)
            return default
        value = self.value(name, (list, str))
        words = value.split() if isinstance(value, str) else value
        if not words or not all(isinstance(word, str) for word in words):
            raise self.error(name, f"must be a command (a non-empty list of strings), got {_shown(value)}")
        return list(words)

    def strings(self, name: str, default: Any = MISSING) -> Any:
        value = self.value(name, (list,), default)
        if isinstance(value, list) and not all(isinstance(item, str) and item.strip() for item in value):
            raise self.error(name, f"must be a list of non-empty strings, got {_shown(value)}")
        return value

    def str_map(self, name: str) -> dict[str, str]:
        mapping = self.value(name, (dict,), {})
        for entry, value in mapping.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise self.error(f"{name}.{entry}", f"must be a string or a number, got {_shown(value)}")
        return {entry: str(value) for entry, value in mapping.items()}

    def table(self, name: str, required: bool = False) -> Table:
        value = self.value(name, (dict,), MISSING if required else {})
        return Table(self.path, self.where(name), value, self.overridden, self.error_class)

    def tables(self, name: str) -> list[Table]:
        """An array of tables ([[name]]), each read on its own."""
        items = self.value(name, (list,), [])
        return [Table(self.path, f"{self.where(name)}[{index}]", item, self.overridden, self.error_class)
                for index, item in enumerate(items)]

    def done(self) -> None:
        """Reject every key that was not read."""
        for name in self.raw:
            if name not in self.read:
                raise self.error(name, f"unknown key{did_you_mean(name, self.read)}")


def _kinds(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table",
             bool: "true or false"}
    unique = [names.get(k, k.__name__) for k in kinds if not (k is int and float in kinds)]
    return " or ".join(unique)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def source_of(path: Path | str, key: str, overridden: set[str]) -> str:
    """The file a key comes from: the file, or its --set of the key (or of a table holding it)."""
    candidate = key
    while candidate:
        if candidate in overridden:
            return f"{path} (--set {candidate})"
        candidate = re.sub(r"(\[\d+\]|\.[^.\[]*|\.\"[^\"]*\")$", "", candidate) if re.search(
            r"(\[\d+\]|\.[^.\[]*)$", candidate) else ""
    return str(path)
