"""report.markdown.render_markdown: snapshots (syrupy) of three hand-built runs, and the number formatting."""

from __future__ import annotations

import pytest

from harness.records.run import ActionRecord, ContentionRecord, Lock, RollbackResult, Stop, TableChange
from harness.records.summary import (
    ChainLink,
    ErrorGroup,
    FailedRevert,
    GateResult,
    LintCheck,
    LockOrderRisk,
    LockWaits,
    Offender,
    ServerFacts,
    Summary,
    SwapFigures,
    UpgradeFigures,
)
from harness.report.markdown import _num, render_markdown
from tests.unit.builders import endpoint_figures, phase_figures, statement_figures, summary

T0 = 1_700_000_000.0
ORDERS_LOCK = [Lock("AccessExclusiveLock", "orders")]


def timeline_phases(post_rollback_p99: float | None = 22.0, upgrade_p99: float = 35.5,
                    upgrade_errors: int = 0) -> list:
    return [phase_figures("baseline", p99_ms=20.0, started=T0, duration_s=30.0),
            phase_figures("upgrade", p99_ms=upgrade_p99, started=T0 + 30, duration_s=4.25, rps=47.5,
                          to_version="2.0", errors=upgrade_errors, error_rate=upgrade_errors / 201),
            phase_figures("post_upgrade", p99_ms=21.0, started=T0 + 34.25, duration_s=30.0, from_version="2.0",
                          to_version="2.0"),
            phase_figures("rollback", p99_ms=30.0, started=T0 + 64.25, duration_s=2.0, from_version="2.0"),
            phase_figures("post_rollback", p99_ms=post_rollback_p99, started=T0 + 66.25, duration_s=30.0,
                          rps=50.0 if post_rollback_p99 is not None else 0.0)]


def actions() -> list[ActionRecord]:
    return [ActionRecord("upgrade", "migrate", "apply 2.0's migrations", T0 + 30, T0 + 32),
            ActionRecord("upgrade", "swap", "swap the service to 2.0", T0 + 32, T0 + 34.25),
            ActionRecord("rollback", "revert", "revert the migrations", T0 + 64.25, T0 + 65),
            ActionRecord("rollback", "swap_back", "swap the service back to 1.0", T0 + 65, T0 + 66.25)]


def passing_run() -> Summary:
    statements = [
        statement_figures(1, "SET lock_timeout = '2s'", duration_ms=0.4, locks=[], lock_records=[]),
        statement_figures(2, "ALTER TABLE orders ADD COLUMN note text", duration_ms=3.2,
                          locks=["AccessExclusiveLock orders"], lock_records=ORDERS_LOCK, held_ms=3.2),
        statement_figures(3, "CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note)", duration_ms=1234.5,
                          locks=["ShareUpdateExclusiveLock orders", "AccessExclusiveLock orders_note_idx (index)"],
                          lock_records=[Lock("ShareUpdateExclusiveLock", "orders"),
                                        Lock("AccessExclusiveLock", "orders_note_idx", True)]),
        statement_figures(4, "DROP INDEX CONCURRENTLY orders_note_idx", phase="rollback", direction="down",
                          source="001_orders.down.sql", duration_ms=12.0),
        statement_figures(5, "ALTER TABLE orders DROP COLUMN note", phase="rollback", direction="down",
                          source="001_orders.down.sql", duration_ms=2.0, lock_records=ORDERS_LOCK),
    ]
    return summary(
        phases=timeline_phases(),
        endpoints=[endpoint_figures(p, e, p99_ms=v) for p, e, v in (
            ("baseline", "/orders", 18.0), ("baseline", "/health", 1.5), ("upgrade", "/orders", 33.0),
            ("post_rollback", "/orders", 19.0))],
        statements=statements, actions=actions(),
        swaps=[SwapFigures("1.0", "2.0", 0.35, "upgrade", T0 + 32, T0 + 32.35),
               SwapFigures("2.0", "1.0", 0.3, "rollback", T0 + 65, T0 + 65.3)],
        downtime_s=0.65,
        upgrades=[UpgradeFigures("upgrade", "up", 3, 0, 1238.1, 0.0, 0, 0, 35.5, 0),
                  UpgradeFigures("rollback", "down", 2, 0, 14.0, 0.0, 0, 0, 30.0, 0)],
        lint_check=[LintCheck("upgrade", 2, "ALTER TABLE orders ADD COLUMN note text",
                              ["AccessExclusiveLock orders"], ["AccessExclusiveLock orders"], [], "confirmed",
                              ["AccessExclusiveLock orders"], [], [])],
        gates=[GateResult("p99_ms <= 500", "p99_ms", None, None, "max", 500.0, 35.5, True),
               GateResult("error_rate <= 0.01", "error_rate", None, None, "max", 0.01, 0.0, True),
               GateResult("rollback_safe >= 1", "rollback_safe", None, None, "min", 1.0, 1.0, True)],
        timings={"database_start_s": 1.2, "seed_s": 4.0},
    )


def failing_run() -> Summary:
    backfill = statement_figures(
        2, "UPDATE orders SET note = '' WHERE note IS NULL", duration_ms=4200.0,
        locks=["RowExclusiveLock orders"], lock_records=[Lock("RowExclusiveLock", "orders")],
        locks_held=["AccessExclusiveLock orders"], held_lock_records=ORDERS_LOCK, held_ms=4300.0,
        blocked_backends=37, max_wait_ms=4180.0, blocked_requests=412, failed_requests=3, p99_during_ms=4150.0,
        added_p99_ms=4130.0, errors_by_sqlstate={"57014": 3}, errors_by_endpoint={"/orders": 3})
    statements = [
        statement_figures(1, "ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT ''", duration_ms=5.0,
                          locks=["AccessExclusiveLock orders"], lock_records=ORDERS_LOCK, held_ms=4305.0,
                          rewrites=[]),
        backfill,
        statement_figures(3, "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)", duration_ms=2000.5,
                          sqlstate="55P03", error="canceling statement due to lock timeout | retry",
                          locks=["AccessExclusiveLock orders"], lock_records=ORDERS_LOCK,
                          rewrites=["public.orders", "public.orders_pkey (index)"], waited_ms=2000.0),
        statement_figures(4, "select version_num from alembic_version", origin="traced", duration_ms=0.2,
                          lock_records=[]),
        statement_figures(5, "ALTER TABLE orders DROP COLUMN note", phase="rollback", direction="down",
                          duration_ms=1.0, lock_records=ORDERS_LOCK),
    ]
    return summary(
        verdict="fail", exit_code=1, duration_s=151.4,
        phases=timeline_phases(upgrade_p99=4150.0, upgrade_errors=5),
        endpoints=[endpoint_figures("baseline", "/orders", 18.0),
                   endpoint_figures("upgrade", "/cart", None, requests=0),
                   endpoint_figures("upgrade", "/orders", 4150.0, error_rate=0.03, requests=100)],
        statements=statements,
        actions=[ActionRecord("upgrade", "migrate", "apply 2.0's migrations", T0 + 30, T0 + 36.5, "failed",
                              "001_orders.up.sql: canceling statement due to lock timeout"),
                 ActionRecord("upgrade", "swap", "swap the service to 2.0", T0 + 36.5, None, "skipped",
                              "the migrations failed"),
                 *actions()[2:]],
        top_offenders=[Offender("upgrade", 2, backfill.sql, 412, 4180.0, 4130.0, 3)],
        errors=[ErrorGroup("upgrade", "/orders", "57014", "statement timeout (or cancel)", 3, 500),
                ErrorGroup("upgrade", "/cart", "http", "", 2, 0)],
        lint_check=[LintCheck("upgrade", 3, statements[2].sql, ["AccessExclusiveLock orders"],
                              ["AccessExclusiveLock orders", "RowExclusiveLock customers"], ["public.orders"],
                              "not confirmed", ["AccessExclusiveLock orders"], [],
                              ["rewrite of orders not predicted"])],
        lock_waits=LockWaits(count=38, max_ms=4180.4, total_ms=61234.5, longest_chain=[
            ChainLink(700, "root blocker", "rehearse-contention", "idle in transaction", None, None, None,
                      "SELECT * FROM orders FOR UPDATE"),
            ChainLink(500, "waiting", "rehearse-migrate", "active", "AccessExclusiveLock", "orders", 2000.0,
                      "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)"),
            ChainLink(601, "waiting", "shop", "active", "AccessShareLock", "orders", 0.001,
                      "SELECT id, total FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20 "
                      "OFFSET 0 -- a long query that the report has to cut short somewhere"),
        ]),
        contention=[ContentionRecord("idle_in_transaction", "orders", "upgrade", 5.0, T0 + 30, T0 + 35)],
        downtime_s=1.25, swaps=[SwapFigures("1.0", "2.0", 1.25, "upgrade", T0 + 33, T0 + 34.25)],
        rollback=RollbackResult(
            safe=False, checked=True, phase="rollback",
            schema_diff=["- orders.note text", "+ orders.total numeric(12,2)"],
            data_changes=[TableChange("orders", "before_rollback", 1000, 990, lost=10, changed=2,
                                      lost_written_during_upgrade=10, missing_columns=["note"],
                                      examples={"lost": ["id=1001"], "changed": ["id=7"]})]),
        upgrades=[UpgradeFigures("upgrade", "up", 3, 1, 6205.5, 4180.0, 412, 3, 4150.0, 5),
                  UpgradeFigures("rollback", "down", 1, 0, 1.0, 0.0, 0, 0, 30.0, 0)],
        invalid_indexes=["public.orders_note_idx"],
        observer_errors=["lock-sampler: connection reset"],
        gates=[GateResult("p99_ms[upgrade,/orders] <= 500", "p99_ms", "upgrade", "/orders", "max", 500.0, 4150.0,
                          False),
               GateResult("lock_wait_max_ms <= 1000", "lock_wait_max_ms", None, None, "max", 1000.0, 4180.4, False),
               GateResult("migration_errors <= 0", "migration_errors", None, None, "max", 0.0, 1.0, False),
               GateResult("rollback_safe >= 1", "rollback_safe", None, None, "min", 1.0, 0.0, False),
               GateResult("p99_ms[/gone] <= 5", "p99_ms", None, "/gone", "max", 5.0, None, False)],
    )


def command_run() -> Summary:
    """A migration tool's upgrade (one command, its statements traced in one transaction) and a down-migration
    that failed, with a blue_green swap, errors by cause from the server log, and a lock-order risk."""
    traced = dict(origin="traced", source="alembic upgrade r4 (traced)", statement_index=None)
    statements = [
        statement_figures(2, "alembic upgrade r4", origin="command", source="alembic upgrade r4", duration_ms=4654.0,
                          statement_index=None, rewrites=["notes", "notes_slug_key (index)"], blocked_backends=16,
                          max_wait_ms=1165.0, blocked_requests=131, failed_requests=91),
        statement_figures(2, "select pg_catalog.version()", duration_ms=0.1, chatter=True, **traced),
        statement_figures(2, "ALTER TABLE accounts ADD COLUMN password_algo text NOT NULL DEFAULT 'sha256'",
                          duration_ms=5.4, lock_records=[Lock("AccessExclusiveLock", "accounts")],
                          locks=["AccessExclusiveLock accounts"], held_ms=1214.0, blocked_backends=4,
                          max_wait_ms=1165.0, blamed_waits=4, blocked_requests=1, failed_requests=1, **traced),
        statement_figures(2, "UPDATE alembic_version SET version_num='r2' WHERE alembic_version.version_num = 'r1'",
                          duration_ms=0.3, chatter=True, **traced),
        statement_figures(2, "ALTER TABLE notes ADD COLUMN uid uuid NOT NULL DEFAULT uuid_generate_v4()",
                          duration_ms=969.0, lock_records=[Lock("AccessExclusiveLock", "notes")],
                          locks=["AccessExclusiveLock notes"], held_ms=1203.0,
                          rewrites=["notes", "notes_slug_key (index)"], blocked_backends=12, max_wait_ms=1135.0,
                          error=float("nan"), sqlstate=float("nan"), **traced),
        statement_figures(2, "COMMIT", duration_ms=75.2, **traced),
        statement_figures(3, "alembic downgrade r1", phase="rollback", direction="down", origin="command",
                          source="alembic downgrade r1", duration_ms=900.0, statement_index=None, sqlstate="22001",
                          error="value too long for type character varying(100) (exit code 1: sqlalchemy.exc."
                                "DataError)"),
        statement_figures(3, "ALTER TABLE notes ALTER COLUMN title TYPE varchar(100)", phase="rollback",
                          direction="down", duration_ms=12.0, sqlstate="22001",
                          error="value too long for type character varying(100)", **traced),
    ]
    return summary(
        verdict="fail", exit_code=1, to_version="2.1",
        server=ServerFacts("15.18", 150018, 15, "/usr/lib/postgresql/15/bin, the system's install",
                           ["pgcrypto", "uuid-ossp"], ["pgcrypto 1.3", "uuid-ossp 1.1"]),
        phases=[phase_figures("baseline", p99_ms=61.0, started=T0, duration_s=4.7),
                phase_figures("upgrade", p99_ms=1183.0, started=T0 + 4.7, duration_s=7.0, to_version="2.1",
                              errors=156, error_rate=0.212, errors_by_cause={"statements": 156}),
                phase_figures("rollback", p99_ms=377.0, started=T0 + 11.7, duration_s=6.1, from_version="2.1",
                              to_version="2.1", errors=2, error_rate=0.0023, errors_by_cause={"service": 2})],
        statements=statements, migration_errors=1,
        actions=[ActionRecord("upgrade", "migrate", "migrations of 2.1", T0 + 5, T0 + 9.7),
                 ActionRecord("upgrade", "swap", "swap the service to 2.1", T0 + 9.7, T0 + 11.2, "ok",
                              "1.0 -> 2.1 blue_green: switched with no gap, old version drained and stopped in 0.87 s"),
                 ActionRecord("rollback", "revert", "down-migrations of what the upgrade applied", T0 + 11.7,
                              T0 + 12.6, "failed", "alembic downgrade r1: 22001 value too long"),
                 ActionRecord("rollback", "swap_back", "swap the service back to 1.0", T0 + 12.6, T0 + 12.6,
                              "skipped", 'the down-migrations failed (revert on_failure = "stay"): 2.1 keeps serving')],
        failed_reverts=[FailedRevert("rollback", "stay", "alembic downgrade r1: 22001 value too long", "2.1", "2.1")],
        swaps=[SwapFigures("1.0", "2.1", 0.0, "upgrade", T0 + 10.5, T0 + 10.5, "blue_green", T0 + 9.7, T0 + 11.2)],
        errors=[ErrorGroup("upgrade", "/notes/[id]", "22P02", "invalid text representation", 28, 500, "statements",
                           {"500": 28}, "server log", [2]),
                ErrorGroup("upgrade", "/notes/by-slug/[slug]", "http", "", 66, 502, "statements", {"502": 66}, None,
                           [2]),
                ErrorGroup("rollback", "/login", "http", "", 2, 401, "service", {"0": 1, "401": 1}, None, [])],
        lock_order_risks=[LockOrderRisk(
            ["accounts", "notes"], ["AccessExclusiveLock accounts (#2 ALTER TABLE accounts ADD COLUMN password_algo)",
                                    "AccessExclusiveLock notes (#2 ALTER TABLE notes ADD COLUMN uid)"],
            ["RowExclusiveLock notes", "RowExclusiveLock accounts"], ["notes-1.0"], 311,
            ["#2 ALTER TABLE accounts ADD COLUMN password_algo", "#2 ALTER TABLE notes ADD COLUMN uid"], 0)],
        rollback=RollbackResult(safe=False, checked=True, phase="rollback", data_changes=[
            TableChange("accounts", "baseline", 2000, 2000, changed=112, examples={"lost": [], "changed": ["a25"]},
                        changed_columns={"password_hash": 112, "notes_count": 3},
                        column_examples={"password_hash": ["a25@example.test", "a36@example.test"]},
                        key_columns=["email"])]),
        gates=[GateResult("errors[upgrade,cause=swap] <= 0", "errors", "upgrade", None, "max", 0.0, 0.0, True),
               GateResult("error_rate[upgrade,cause=statements] <= 0.05", "error_rate", "upgrade", None, "max", 0.05,
                          0.1535, False),
               GateResult("error_rate[post_rollback] <= 0.001", "error_rate", None, None, "max", 0.001, 0.0087,
                          False)],
    )


def interrupted_run() -> Summary:
    phases = timeline_phases(post_rollback_p99=None)[:3]
    phases[2] = phase_figures("post_upgrade", p99_ms=None, rps=0.0, started=T0 + 34.25, duration_s=1.5,
                              from_version="2.0", to_version="2.0")
    return summary(
        verdict="fail", exit_code=130, duration_s=36.0, incomplete="interrupted",
        stopped=Stop("interrupted", "interrupted"), reached_phase="post_upgrade",
        phases=phases, endpoints=[endpoint_figures("baseline", "/orders", 18.0)],
        statements=[statement_figures(1, "ALTER TABLE orders ADD COLUMN note text", duration_ms=3.0,
                                      lock_records=ORDERS_LOCK)],
        actions=actions()[:2] + [ActionRecord("rollback", "revert", "revert the migrations", T0 + 36, None,
                                              "skipped", "the run was interrupted")],
        swaps=[SwapFigures("1.0", "2.0", 0.35, "upgrade", T0 + 32, T0 + 32.35)], downtime_s=0.35,
        rollback=RollbackResult(safe=False, checked=False),
        upgrades=[UpgradeFigures("upgrade", "up", 1, 0, 3.0, 0.0, 0, 0, 35.5, 0)],
        artifacts={},
        gates=[GateResult("p99_ms <= 500", "p99_ms", None, None, "max", 500.0, 35.5, True),
               GateResult("rollback_safe >= 1", "rollback_safe", None, None, "min", 1.0, 0.0, False)],
    )


def test_passing_run(snapshot) -> None:
    assert render_markdown(passing_run()) == snapshot


def test_failing_run_with_a_blocking_statement_errors_a_chain_and_an_unsafe_rollback(snapshot) -> None:
    assert render_markdown(failing_run()) == snapshot


def test_interrupted_run(snapshot) -> None:
    assert render_markdown(interrupted_run()) == snapshot


def test_command_run_with_a_failed_down_migration_causes_and_a_lock_order_risk(snapshot) -> None:
    assert render_markdown(command_run()) == snapshot


def test_precision_of_a_command_run() -> None:
    """Issue 9, item 11: no "error: nan", one failure counted once, limits as written, every HTTP status."""
    markdown = render_markdown(command_run())
    assert "nan" not in markdown.lower()
    rows = statement_rows(markdown)
    assert [row[4] for row in rows].count("22001: value too long for type character varying(100)") == 1
    assert "| error_rate[post_rollback] <= 0.001 | 0.001 | 0.0087 |" in markdown
    assert "| error_rate[upgrade,cause=statements] <= 0.05 | 0.05 | 0.153 |" in markdown
    assert "no response ×1, 401 ×1" in markdown
    assert [row[2] for row in rows][:3] == ["`alembic upgrade r4`",
                                           "`ALTER TABLE accounts ADD COLUMN password_algo text NOT NULL DEFAULT "
                                           "'sha256'`",
                                           "`ALTER TABLE notes ADD COLUMN uid uuid NOT NULL DEFAULT "
                                           "uuid_generate_v4()`"], "execution order, chatter collapsed"
    assert "alembic_version" not in markdown.split("## Migration statements")[1].split("## ")[0]


# --- direct checks (independent of the snapshots) ------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (0.0, "0"), (0, "0"), (0.001, "0.001"), (0.05, "0.05"), (0.5, "0.5"), (0.1234, "0.123"),
    (1.0, "1"), (2.5, "2.5"), (35.55, "35.5"), (999.94, "999.9"), (1234.5, "1234"), (1235.5, "1236"),
    (61234.5, "61234"),
    (-2.5, "-2.5"), (42, "42"), (0.0001234, "0.000123"),
])
def test_numbers(value: object, text: str) -> None:
    assert _num(value) == text


def test_1234_5_is_a_whole_number() -> None:
    assert _num(1234.5) in ("1234", "1235")


def statement_rows(markdown: str) -> list[list[str]]:
    """Cells of the rows of the Migration statements table."""
    section = markdown.split("## Migration statements", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| phase")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_a_successful_statement_renders_ok() -> None:
    rows = statement_rows(render_markdown(passing_run()))
    assert [row[4] for row in rows] == ["ok"] * 5
    assert "nan" not in render_markdown(passing_run()).lower()


def test_a_failed_statement_renders_its_sqlstate_and_error() -> None:
    markdown = render_markdown(failing_run())
    rows = statement_rows(markdown)
    assert rows[2][4] == "55P03: canceling statement due to lock timeout \\| retry"
    assert [row[4] for row in rows if row is not rows[2]] == ["ok"] * 3


def test_tool_chatter_is_hidden_and_counted() -> None:
    markdown = render_markdown(failing_run())
    assert "alembic_version" not in markdown.split("## Migration statements", 1)[1].split("\n## ", 1)[0].split(
        "\n\n1 statements")[0]
    assert "1 statement of the migration tools' own" in markdown


def test_the_verdict_heads_the_report() -> None:
    assert render_markdown(passing_run()).splitlines()[0] == "# Rehearsal shop 1.0 -> 2.0: **PASS**"
    assert render_markdown(failing_run()).splitlines()[0] == "# Rehearsal shop 1.0 -> 2.0: **FAIL**"


def test_an_interrupted_run_says_where_it_stopped() -> None:
    line = render_markdown(interrupted_run()).splitlines()[2]
    assert line == ("Environment `local`, started 2023-11-14T22:13:20Z, 36 s, exit code 130. Incomplete: "
                    "interrupted. Stopped in phase `post_upgrade`.")


def test_mixed_versions_shows_only_the_phases_where_two_versions_served() -> None:
    from harness.records.summary import VersionFigures

    def row(phase: str, version: str) -> VersionFigures:
        return VersionFigures(phase=phase, version=version, name="/orders", requests=10, errors=0, error_rate=0.0,
                              p50_ms=1.0, p95_ms=2.0, p99_ms=3.0, max_ms=4.0)

    run = passing_run()
    run.versions = [row("baseline", "1.0"), row("upgrade", "1.0"), row("upgrade", "2.0"), row("post_upgrade", "2.0")]
    markdown = render_markdown(run)
    mixed = markdown.split("Mixed versions", 1)[1].split("\n\n", 2)[1]
    assert [line.split(" | ")[0:2] for line in mixed.splitlines()[2:]] == [["| upgrade", "1.0"], ["| upgrade", "2.0"]]
    run.versions = [row("baseline", "1.0"), row("post_upgrade", "2.0")]  # a blue_green run: one at a time
    assert "Mixed versions" not in render_markdown(run)
