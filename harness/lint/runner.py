"""Lint SQL migrations: a text, a .sql file, a directory of them, or a scenario's releases; format findings."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.lint.context import NO_CONTEXT, LintContext
from harness.lint.duration import Estimate, estimate
from harness.lint.predict import LintInputError, SqlSyntaxError, analyze_sql, known_schema
from harness.lint.rules import (
    Hit,
    Rule,
    Severity,
    add_column_rewrite,
    alter_column_type,
    backfill_in_ddl_transaction,
    concurrently_in_transaction,
    constraint_without_not_valid,
    lock_queue_trap,
    missing_lock_timeout,
    non_concurrent_index,
    rename,
    set_not_null,
    statements_after_exclusive_lock,
    unique_without_index,
    vacuum_full_or_cluster,
    whole_table_dml,
)

RULES: tuple[Rule, ...] = (
    non_concurrent_index.RULE, constraint_without_not_valid.RULE, set_not_null.RULE, add_column_rewrite.RULE,
    alter_column_type.RULE, unique_without_index.RULE, statements_after_exclusive_lock.RULE,
    backfill_in_ddl_transaction.RULE, concurrently_in_transaction.RULE, vacuum_full_or_cluster.RULE,
    rename.RULE, whole_table_dml.RULE, lock_queue_trap.RULE, missing_lock_timeout.RULE,
)
SCENARIO_FILE = "rehearsal.toml"


@dataclass(frozen=True)
class Finding:
    """One dangerous statement: which rule, how bad, what goes wrong under load, and the safer way."""

    rule: str
    severity: Severity
    statement_index: int
    sql: str
    message: str
    safer: str
    file: str | None
    line: int | None
    estimate: str | None = None  # with table facts: how long its work holds the lock, and at what size


def severity_of(rule: Rule, hit: Hit, context: LintContext) -> tuple[Severity, Estimate | None]:
    """With table facts for every table the hit's work touches, a danger whose work is not long (lint.duration)
    is a warning: harmless at today's size. Without them, the rule's own severity."""
    severity: Severity = hit.severity or rule.severity
    found = estimate(hit.works, context.facts)
    if found is not None and severity == "danger" and not found.long:
        return "warning", found
    return severity, found


def lint_sql(sql: str, file: str | None = None, context: LintContext = NO_CONTEXT,
             schema: Any = None) -> list[Finding]:
    """Findings for one SQL text (a migration file's content), in statement order; `schema`
    (lint.predict.known_schema) carries what earlier files of the same migrations did."""
    try:
        statements = analyze_sql(sql, context.facts, schema)
    except SqlSyntaxError as error:
        raise SqlSyntaxError(error.message, error.line, error.column, file or "<sql>") from None
    findings = []
    for rule in RULES:
        for hit in rule.check(statements, context):
            severity, found = severity_of(rule, hit, context)
            findings.append(Finding(rule=rule.name, severity=severity, statement_index=hit.statement.index,
                                    sql=hit.statement.prediction.sql, message=hit.message, safer=hit.safer,
                                    file=file, line=hit.statement.line,
                                    estimate=found.describe() if found is not None else None))
    order = {rule.name: position for position, rule in enumerate(RULES)}
    return sorted(findings, key=lambda f: (f.statement_index, order[f.rule]))


def sql_files(path: Path) -> list[Path]:
    """The .sql files `lint_path` reads for `path`, in the order it reads them."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise LintInputError(path, "no such file or directory")
    root = path / "releases" if (path / SCENARIO_FILE).is_file() else path
    if not root.is_dir():
        return []
    return sorted((p for p in root.rglob("*.sql") if p.is_file()), key=lambda p: p.relative_to(root).parts)


def lint_path(path: Path, context_of: Callable[[Path], LintContext] | None = None) -> list[Finding]:
    """Findings for a .sql file, a directory of .sql files (recursive), or a scenario dir (its releases/);
    `context_of(file)` says what is known beyond each file's SQL (default: nothing). The up-migrations of one
    directory are read as the sequence they run in: an index an earlier one creates is known to a later one."""
    findings: list[Finding] = []
    carried: dict[Path, Any] = {}
    for file in sql_files(Path(path)):
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise LintInputError(file, f"not UTF-8 text (byte {error.start})") from None
        except OSError as error:
            raise LintInputError(file, error.strerror or str(error)) from None
        context = context_of(file) if context_of is not None else NO_CONTEXT
        schema = carried.setdefault(file.parent, known_schema(context.facts)) if file.name.endswith(".up.sql") \
            else None
        findings += lint_sql(text, str(file), context, schema)
    return findings


def has_danger(findings: Iterable[Finding]) -> bool:
    """Whether any finding is a danger (not just a warning)."""
    return any(finding.severity == "danger" for finding in findings)


def format_findings(findings: Iterable[Finding]) -> str:
    """Human text, one block per finding: `file:line  rule  message`, `    safer: ...`, and with table facts
    `    duration: ...`."""
    blocks = [f"{finding.file or '<sql>'}:{finding.line or '?'}  {finding.rule}  {finding.message}\n"
              f"    safer: {finding.safer}" + (f"\n    duration: {finding.estimate}" if finding.estimate else "")
              for finding in findings]
    return "\n".join(blocks)
