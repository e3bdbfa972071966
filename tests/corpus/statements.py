"""The lint corpus: migration statements on a big table (1.5M rows, about 170 MB with its indexes) and a small
one (100 rows), of the kinds that matter under load: rewrites, constraints, backfills, index builds and drops,
type changes, SET NOT NULL, whole-table writes, and the lock-queue trap (an instant ALTER with no lock_timeout
behind an open transaction).

Each entry is one migration file, rehearsed in a phase of its own. `run` is where it is rehearsed: the
statements meant to be harmless in one rehearsal (which must pass as a whole), those meant to block in
another; what each one did is measured, not assumed. The runner sets lock_timeout = 200 ms with retries (as a
careful team does); `contention` entries get an open transaction on `big` from just before they start.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    sql: str
    table: str  # big or small
    run: str  # harmless | blocking: the rehearsal it is in
    contention: bool = False


def _entries(run: str, rows: list[tuple[str, str, str] | tuple[str, str, str, bool]]) -> list[Entry]:
    return [Entry(row[0], row[1], row[2], run, *row[3:]) for row in rows]  # type: ignore[arg-type]


HARMLESS = _entries("harmless", [
    ("add-column", "ALTER TABLE big ADD COLUMN a1 int;", "big"),
    ("add-column-constant-default", "ALTER TABLE big ADD COLUMN a2 int NOT NULL DEFAULT 0;", "big"),
    ("varchar-widen", "ALTER TABLE big ALTER COLUMN name TYPE varchar(200);", "big"),
    ("varchar-to-text", "ALTER TABLE big ALTER COLUMN name TYPE text;", "big"),
    ("check-not-valid", "ALTER TABLE big ADD CONSTRAINT big_v_nonneg CHECK (v >= 0) NOT VALID;", "big"),
    ("validate-check", "ALTER TABLE big VALIDATE CONSTRAINT big_v_nonneg;", "big"),
    ("set-not-null", "ALTER TABLE big ALTER COLUMN note SET NOT NULL;", "big"),
    ("add-check", "ALTER TABLE big ADD CONSTRAINT big_v_max CHECK (v < 1000000000);", "big"),
    ("add-foreign-key", "ALTER TABLE big ADD CONSTRAINT big_small_fk FOREIGN KEY (small_id) REFERENCES small (id);",
     "big"),
    ("drop-index", "DROP INDEX big_small_id_idx;", "big"),
    ("create-index-concurrently", "CREATE INDEX CONCURRENTLY big_v_idx ON big (v);", "big"),
    ("drop-index-concurrently", "DROP INDEX CONCURRENTLY big_v_idx;", "big"),
    ("update-key-range", "UPDATE big SET note = note WHERE id BETWEEN 1 AND 2000;", "big"),
    ("queue-with-lock-timeout", "ALTER TABLE big ADD COLUMN a3 int;", "big", True),
    ("small-type-change", "ALTER TABLE small ALTER COLUMN v TYPE bigint;", "small"),
    ("small-volatile-default", "ALTER TABLE small ADD COLUMN seen timestamptz DEFAULT clock_timestamp();", "small"),
    ("small-set-not-null", "ALTER TABLE small ALTER COLUMN note SET NOT NULL;", "small"),
    ("small-create-index", "CREATE INDEX small_v_idx ON small (v);", "small"),
    ("small-drop-index", "DROP INDEX small_v_idx;", "small"),
    ("small-update-all", "UPDATE small SET note = note || '';", "small"),
    ("small-backfill-in-ddl", "BEGIN;\nALTER TABLE small ADD COLUMN flag boolean;\nUPDATE small SET flag = false;\n"
                              "COMMIT;", "small"),
    ("small-vacuum-full", "VACUUM FULL small;", "small"),
    ("small-foreign-key", "ALTER TABLE small ADD CONSTRAINT small_big_fk FOREIGN KEY (big_id) REFERENCES big (id);",
     "small"),
])
# Ordered so that each statement meets the table at the size the facts (read at the start) give: the
# UPDATE and the backfill bloat it a little, the rewrites after them compact it again. The UPDATE touches a
# third of the rows, all over the table (no key range): as long as a whole-table one, without its minutes.
BLOCKING = _entries("blocking", [
    ("type-change", "ALTER TABLE big ALTER COLUMN v TYPE bigint;", "big"),
    ("update-unbatched", "UPDATE big SET v = v + 1 WHERE v < 30000;", "big"),
    ("backfill-in-ddl", "BEGIN;\nALTER TABLE big ADD COLUMN b2 int;\nUPDATE big SET b2 = 0 WHERE id <= 300000;\n"
                        "COMMIT;", "big"),
    ("volatile-default", "ALTER TABLE big ADD COLUMN b1 timestamptz DEFAULT clock_timestamp();", "big"),
    ("vacuum-full", "VACUUM FULL big;", "big"),
    ("create-index", "CREATE INDEX big_name_idx ON big (name, note);", "big"),
    ("add-unique", "ALTER TABLE big ADD CONSTRAINT big_name_key UNIQUE (name, note);", "big"),
    ("lock-queue-trap", "SET lock_timeout = 0;\nALTER TABLE big ADD COLUMN b3 int;", "big", True),
])
CORPUS = HARMLESS + BLOCKING
