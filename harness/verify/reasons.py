"""The rollback verdict's reasons: one per failed check, with its figures and samples. None means safe."""

from __future__ import annotations

from harness.records.run import (
    AcknowledgedCheck,
    DestroyedData,
    EndpointRegression,
    MigrationState,
    ReupgradeResult,
    RollbackReason,
    TableChange,
)

SAMPLES = 10
# Every check of the rollback verdict, in the order they are judged: a failed one is a RollbackReason's `check`.
CHECKS = ("schema_not_back", "data_destroyed", "rows_lost", "acknowledged_writes_lost", "old_version_fails",
          "config_not_back", "flags_not_back", "down_migration_failed", "reupgrade_failed")


def schema_reason(lines: list[str]) -> list[RollbackReason]:
    if not lines:
        return []
    return [RollbackReason("schema_not_back", f"the schema is not back to the baseline: {len(lines)} "
                           f"difference{'s' if len(lines) != 1 else ''}", {"differences": float(len(lines))},
                           lines[:SAMPLES])]


def destroyed_reason(destroyed: list[DestroyedData]) -> list[RollbackReason]:
    if not destroyed:
        return []
    lost = sum(d.lost for d in destroyed)
    return [RollbackReason("data_destroyed", "the rollback destroyed data the upgrade wrote: "
                           + "; ".join(d.message for d in destroyed),
                           {"values_lost": float(lost), **{d.name: float(d.lost) for d in destroyed}},
                           [s for d in destroyed for s in ([f"{d.name}: {v} x{n:,}" for v, n in d.values.items()]
                                                            + d.samples)][:SAMPLES])]


def rows_reason(changes: list[TableChange]) -> list[RollbackReason]:
    bad = [c for c in changes if c.lost or c.changed or c.missing_columns]
    if not bad:
        return []
    parts = []
    for c in bad:
        bits = [f"{c.lost:,} rows lost" + (f" ({c.lost_written_during_upgrade:,} written during the upgrade)"
                                          if c.lost_written_during_upgrade else "") if c.lost else "",
                f"{c.changed:,} changed" + (" (" + ", ".join(f"{column} {n:,}" for column, n in sorted(
                    c.changed_columns.items(), key=lambda item: (-item[1], item[0]))) + ")"
                    if c.changed_columns else "") if c.changed else "",
                f"columns missing: {', '.join(c.missing_columns)}" if c.missing_columns else ""]
        parts.append(f"{c.table} vs {c.compared_with.replace('_', ' ')}: " + ", ".join(b for b in bits if b))
    samples = [f"{c.table} {kind} {key}" for c in bad for kind in ("lost", "changed")
               for key in c.examples.get(kind, [])]
    return [RollbackReason("rows_lost", "rows of the checked tables are not back: " + "; ".join(parts),
                           {"lost": float(sum(c.lost for c in bad)), "changed": float(sum(c.changed for c in bad))},
                           samples[:SAMPLES])]


def acknowledged_reason(checks: list[AcknowledgedCheck]) -> list[RollbackReason]:
    bad = [a for a in checks if a.lost_in_database or a.lost_through_api]
    if not bad:
        return []
    parts = [f"{a.table}: {a.lost_in_database:,} of {a.checked_in_database:,} acknowledged writes missing in the "
             f"database" + (f", {a.lost_through_api:,} of {a.checked_through_api:,} not found through {a.url}"
                            if a.url else "")
             + (" (acknowledged in " + ", ".join(f"{p}: {n:,}" for p, n in a.lost_by_phase.items()) + ")"
                if a.lost_by_phase else "") for a in bad]
    return [RollbackReason("acknowledged_writes_lost", "writes the service acknowledged are gone: " + "; ".join(parts),
                           {"lost_in_database": float(sum(a.lost_in_database for a in bad)),
                            "lost_through_api": float(sum(a.lost_through_api for a in bad)),
                            "checked": float(sum(a.checked_in_database for a in bad))},
                           [f"{a.table} {a.key}={k}" for a in bad for k in a.samples][:SAMPLES])]


def config_reason(lines: list[str]) -> list[RollbackReason]:
    heads = [line for line in lines if not line.startswith("  ")]
    if not heads:
        return []
    return [RollbackReason("config_not_back", "the service's configuration is not back: " + "; ".join(heads),
                           {"differences": float(len(heads))}, lines[:SAMPLES])]


def flags_reason(lines: list[str]) -> list[RollbackReason]:
    if not lines:
        return []
    return [RollbackReason("flags_not_back", "feature flags are not back: " + "; ".join(lines),
                           {"differences": float(len(lines))}, lines[:SAMPLES])]


def down_reason(state: MigrationState | None) -> list[RollbackReason]:
    if state is None or state.down_failed is None:
        return []
    return [RollbackReason("down_migration_failed", f"the rollback cannot run: a down-migration failed "
                           f"({state.down_failed})", {"undone": float(len(state.undone))},
                           [state.down_failed])]


def reupgrade_reason(result: ReupgradeResult | None) -> list[RollbackReason]:
    if result is None or result.clean:
        return []
    what = []
    if result.errors:
        what.append(f"{len(result.errors)} failed step{'s' if len(result.errors) != 1 else ''}")
    if result.schema_differences:
        what.append(f"{len(result.schema_differences)} schema differences from the first upgrade")
    return [RollbackReason("reupgrade_failed", f"the upgrade does not apply cleanly again after the rollback "
                           f"({', '.join(what)}, phase {result.phase})",
                           {"errors": float(len(result.errors)), "differences": float(len(result.schema_differences))},
                           (result.errors + result.schema_differences)[:SAMPLES])]


def regression_reason(regressions: list[EndpointRegression]) -> list[RollbackReason]:
    if not regressions:
        return []
    parts = [f"{r.name} in {r.phase}: {r.errors:,} of {r.requests:,} failed ({r.error_rate:.1%}, baseline "
             f"{r.baseline_error_rate:.1%})" for r in regressions]
    return [RollbackReason("old_version_fails", "after the rollback the old version fails on data the new one "
                           "wrote: " + "; ".join(parts), {"endpoints": float(len(regressions)),
                                                           "errors": float(sum(r.errors for r in regressions))},
                           [f"{r.name}: {body}" for r in regressions for body in r.bodies][:SAMPLES])]
