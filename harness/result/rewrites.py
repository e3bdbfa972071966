"""Which statement of a migration command rewrote which relation.

The tracer reads every relation's file (relfilenode) before and after a command (observe.migration_backends:
another session cannot see a rewrite before it commits, so not around each statement). Each rewritten table
goes to the statement the lint predicts rewrites it (the statements in order, so that the predictor knows the
tables the command created or altered before), else to the first statement that took an ACCESS EXCLUSIVE lock
on it; an index goes with its table, else to the statement that locked the index itself.
"""

from __future__ import annotations

from typing import Any

from harness.core.errors import InputError
from harness.lint import predict_sql
from harness.lint.predict import StatementPrediction


def predictions(sqls: list[str]) -> list[StatementPrediction | None]:
    """The lint's prediction for each statement, read in order (one by one where the whole does not parse)."""
    try:
        predicted = predict_sql(";\n".join(sqls))
        if len(predicted) == len(sqls):
            return list(predicted)
    except (InputError, ValueError):
        pass
    found: list[StatementPrediction | None] = []
    for sql in sqls:
        try:
            one = predict_sql(sql)
            found.append(one[0] if len(one) == 1 else None)
        except (InputError, ValueError):
            found.append(None)
    return found


def attribute(statements: list[dict[str, Any]], rewritten: list[dict[str, Any]]) -> list[str]:
    """Set each statement's `rewrites` (relation names, indexes marked "(index)") from `rewritten` (rows of
    command_rewrites.jsonl's `rewrites`); returns the rewrites no statement could be given."""
    for statement in statements:
        statement["rewrites"] = []
    predicted = predictions([s["sql"] for s in statements])
    left: list[str] = []
    owner: dict[str, int] = {}
    for row in sorted(rewritten, key=lambda r: bool(r.get("is_index"))):  # tables first: indexes follow them
        relation = str(row["relation"])
        if row.get("is_index"):
            index = owner.get(str(row.get("table"))) if row.get("table") else None
            if index is None:
                index = _locker(statements, relation)
            label = f"{relation} (index)"
        else:
            index = next((i for i, p in enumerate(predicted) if p is not None and _bare(relation) in p.rewrites),
                         None)
            if index is None:
                index = _locker(statements, relation)
            label = relation
        if index is None:
            left.append(label)
            continue
        owner.setdefault(relation, index)
        statements[index]["rewrites"].append(label)
    for statement in statements:
        statement["rewrites"] = sorted(statement["rewrites"]) if statement["rewrites"] else None
    return left


def _locker(statements: list[dict[str, Any]], relation: str) -> int | None:
    for index, statement in enumerate(statements):
        for lock in statement.get("locks") or []:
            if lock.get("relation") == relation and lock.get("mode") == "AccessExclusiveLock":
                return index
    return None


def _bare(relation: str) -> str:
    return relation.split(".")[-1].strip('"').lower()
