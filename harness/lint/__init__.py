"""Static migration linter: predict each statement's locks and rewrites, and flag patterns unsafe under load."""

from harness.lint.predict import StatementPrediction, predict_sql
from harness.lint.runner import (
    RULES,
    Finding,
    LintInputError,
    format_findings,
    has_danger,
    lint_path,
    lint_sql,
)

__all__ = [
    "RULES",
    "Finding",
    "LintInputError",
    "StatementPrediction",
    "format_findings",
    "has_danger",
    "lint_path",
    "lint_sql",
    "predict_sql",
]
