"""Static lint predictions checked against what each migration statement was observed to do."""

from __future__ import annotations

from pathlib import Path

from harness.core.errors import InputError
from harness.lint import StatementPrediction, predict_sql
from harness.lint.predict import lock_rank
from harness.plan import Plan, SqlMigrations
from harness.records.run import Lock
from harness.records.summary import LintCheck, StatementFigures

INDEX_MARK = " (index)"


def strongest(locks: list[Lock], indexes: bool = True) -> dict[str, str]:
    """Relation (as the lint names it) -> strongest mode taken on it; indexes keep their mark unless folded."""
    found: dict[str, str] = {}
    for lock in locks:
        relation = _bare(lock.relation) + (INDEX_MARK if lock.is_index and indexes else "")
        if relation not in found or lock_rank(lock.mode) > lock_rank(found[relation]):
            found[relation] = lock.mode
    return found


def _bare(relation: str) -> str:
    """Unqualified and lower-case, as the lint names relations."""
    return relation.split(".")[-1].strip('"').lower()


def verdict(prediction: StatementPrediction, taken: list[Lock], held: list[Lock], rewrites: list[str]) -> LintCheck:
    """confirmed / not confirmed / unexpected, with what differed. A predicted lock counts as observed when the
    statement took it, or when its transaction already held one at least as strong."""
    new, already = strongest(taken, indexes=False), strongest(held, indexes=False)
    missed = [f"{mode} {rel} predicted, {new.get(rel, already.get(rel, 'none'))} observed"
              for rel, mode in prediction.locks.items()
              if new.get(rel) != mode and (rel not in already or lock_rank(already[rel]) < lock_rank(mode))]
    extra = [f"{mode} {rel} not predicted" for rel, mode in strongest(taken).items()
             if not rel.endswith(INDEX_MARK) and rel not in prediction.locks
             and lock_rank(mode) > lock_rank("AccessShareLock")]
    seen_rewrites = {_bare(r.removesuffix(INDEX_MARK)) + (INDEX_MARK if r.endswith(INDEX_MARK) else "")
                     for r in rewrites}
    tables_rewritten = {r for r in seen_rewrites if not r.endswith(INDEX_MARK)}
    missed += [f"rewrite of {rel} predicted, not observed" for rel in prediction.rewrites
               if rel not in {r.removesuffix(INDEX_MARK) for r in seen_rewrites}]
    extra += [f"rewrite of {rel} not predicted" for rel in tables_rewritten - set(prediction.rewrites)]
    status = "unexpected" if extra else "not confirmed" if missed else "confirmed"
    return LintCheck(phase="", seq=0, sql="", observed_locks=[], held_locks=[], observed_rewrites=[], verdict=status,
                     predicted_locks=[f"{m} {r}" for r, m in prediction.locks.items()],
                     predicted_rewrites=sorted(prediction.rewrites), differences=missed + extra)


def shown(locks: list[Lock]) -> list[Lock]:
    """Locks worth showing people: all but the weak ones DML takes on every index of its table."""
    return [lock for lock in locks
            if not lock.is_index or lock_rank(lock.mode) >= lock_rank("ShareUpdateExclusiveLock")]


def check_statements(plan: Plan, statements: list[StatementFigures]) -> list[LintCheck]:
    """One row per traced SQL migration statement: its prediction and how the observation compares."""
    cache: dict[Path, list[StatementPrediction] | None] = {}
    rows = []
    for step in statements:
        if step.lock_records is None or step.statement_index is None:
            continue
        release = plan.releases.get(step.version)
        if release is None or not isinstance(release.migrations, SqlMigrations):
            continue
        path = release.migrations.dir / step.source
        if path not in cache:
            try:
                cache[path] = predict_sql(path.read_text(encoding="utf-8"))
            except (InputError, OSError, UnicodeDecodeError):
                cache[path] = None
        predictions = cache[path]
        if not predictions or step.statement_index >= len(predictions):
            continue
        held = step.held_lock_records or step.lock_records
        check = verdict(predictions[step.statement_index], step.lock_records, held, step.rewrites or [])
        check.phase, check.seq, check.sql = step.phase, step.seq, step.sql
        check.observed_locks = [str(lock) for lock in shown(step.lock_records)]
        check.held_locks = [str(lock) for lock in shown(held)]
        check.observed_rewrites = list(step.rewrites or [])
        rows.append(check)
    return rows
