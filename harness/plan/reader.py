"""The plan's table reader: harness.core.tables (shared with package manifests), under its old name."""

from harness.core.tables import INT_MAX, MISSING, Table, did_you_mean

__all__ = ["INT_MAX", "MISSING", "Table", "did_you_mean"]
