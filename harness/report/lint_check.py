"""Static lint predictions checked against what each migration statement was observed to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.lint import LintInputError, StatementPrediction, predict_sql
from harness.lint.predict import lock_rank
from harness.plan import Plan

INDEX_MARK = " (index)"


def observed_locks(locks: list[str]) -> dict[str, str]:
    """'Mode relation' entries -> strongest mode per relation (indexes keep their mark)."""
    strongest: dict[str, str] = {}
    for entry in locks:
        mode, _, relation = entry.partition(" ")
        relation = _bare(relation)
        if relation not in strongest or lock_rank(mode) > lock_rank(strongest[relation]):
            strongest[relation] = mode
    return strongest


def _bare(relation: str) -> str:
    """Unqualified, lower-case, as the lint names relations (index mark kept)."""
    mark = INDEX_MARK if relation.endswith(INDEX_MARK) else ""
    name = relation.removesuffix(INDEX_MARK).split(".")[-1].strip('"').lower()
    return name + mark


def verdict(prediction: StatementPrediction, taken: list[str], held: list[str], rewrites: list[str]) -> dict[str, Any]:
    """confirmed / not confirmed / unexpected, with what differed. A predicted lock counts as observed when the
    statement took it, or when its transaction already held one at least as strong."""
    new, already = _plain(observed_locks(taken)), _plain(observed_locks(held))
    missed = [f"{mode} {rel} predicted, {new.get(rel, already.get(rel, 'none'))} observed"
              for rel, mode in prediction.locks.items()
              if new.get(rel) != mode and (rel not in already or lock_rank(already[rel]) < lock_rank(mode))]
    extra = [f"{mode} {rel} not predicted" for rel, mode in observed_locks(taken).items()
             if not rel.endswith(INDEX_MARK) and rel not in prediction.locks
             and lock_rank(mode) > lock_rank("AccessShareLock")]
    seen_rewrites = {_bare(r) for r in rewrites}
    tables_rewritten = {r for r in seen_rewrites if not r.endswith(INDEX_MARK)}
    missed += [f"rewrite of {rel} predicted, not observed" for rel in prediction.rewrites
               if rel not in {r.removesuffix(INDEX_MARK) for r in seen_rewrites}]
    extra += [f"rewrite of {rel} not predicted" for rel in tables_rewritten - set(prediction.rewrites)]
    status = "unexpected" if extra else "not confirmed" if missed else "confirmed"
    return {"verdict": status, "predicted_locks": [f"{m} {r}" for r, m in prediction.locks.items()],
            "predicted_rewrites": sorted(prediction.rewrites), "differences": missed + extra}


def _plain(locks: dict[str, str]) -> dict[str, str]:
    return {rel.removesuffix(INDEX_MARK): mode for rel, mode in locks.items()}


def shown(locks: list[str]) -> list[str]:
    """Locks worth showing people: all but the weak ones DML takes on every index of its table."""
    return [entry for entry in locks if not entry.endswith(INDEX_MARK)
            or lock_rank(entry.partition(" ")[0]) >= lock_rank("ShareUpdateExclusiveLock")]


def check_statements(plan: Plan, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per traced SQL migration statement: its prediction and how the observation compares."""
    cache: dict[Path, list[StatementPrediction] | None] = {}
    rows = []
    for step in statements:
        if step.get("locks") is None or step.get("statement_index") is None:
            continue
        release = plan.releases.get(step["version"])
        if release is None or release.migrations.sql_dir is None:
            continue
        path = release.migrations.sql_dir / step["source"]
        if path not in cache:
            try:
                cache[path] = predict_sql(path.read_text())
            except (LintInputError, OSError):
                cache[path] = None
        predictions = cache[path]
        if not predictions or step["statement_index"] >= len(predictions):
            continue
        held = step.get("locks_held") or step["locks"]
        rows.append({"phase": step["phase"], "seq": step["seq"], "sql": step["sql"],
                     "observed_locks": shown(step["locks"]), "held_locks": shown(held),
                     "observed_rewrites": step["rewrites"],
                     **verdict(predictions[step["statement_index"]], step["locks"], held, step["rewrites"])})
    return rows
