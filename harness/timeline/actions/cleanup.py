"""cleanup: the post-upgrade cleanup steps of the packages the upgrade applied (feature flags to their final
state, webhook registrations removed, ephemeral credentials revoked), each verified by the check its
manifest names; every step and its check are streamed to streams/cleanup.jsonl.

Added by the timeline right after the first `swap` when a release of the upgrade comes from a package with
cleanup steps (a plan may also place it, e.g. after a soak). Skipped while the upgrade is not applied.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

from harness.core.errors import EnvironmentFailure
from harness.core.streams import JsonLines
from harness.package.cleanup import Context, run_step
from harness.plan import ActionCall, Plan, Release, placeholders
from harness.records.run import CLEANUP_STREAM, CleanupRecord
from harness.timeline.actions.base import no_arguments
from harness.timeline.state import Rehearsal, Skip


def releases_with_cleanup(plan: Plan) -> list[Release]:
    return [r for r in plan.upgrade_path() if r.package is not None and r.package.manifest.cleanup]


class Cleanup:
    name: ClassVar[str] = "cleanup"

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Cleanup:
        no_arguments(call, plan)
        return cls()

    def describe(self, plan: Plan) -> str:
        steps = [step.name for r in releases_with_cleanup(plan) if r.package for step in r.package.manifest.cleanup]
        return f"post-upgrade cleanup: {'; '.join(steps)}" if steps else "post-upgrade cleanup (no package step)"

    def run(self, rehearsal: Rehearsal) -> str | None:
        releases = releases_with_cleanup(rehearsal.plan)
        if not releases:
            raise Skip("no release of the upgrade comes from a package with cleanup steps")
        if rehearsal.upgrade_failed or not rehearsal.migrator.applied:
            raise Skip("the upgrade is not applied: nothing to clean up")
        if rehearsal.run is None:
            raise EnvironmentFailure("cleanup needs the run's directory")
        stream = JsonLines(rehearsal.run.stream(CLEANUP_STREAM))
        database = rehearsal.database
        failed = total = 0
        try:
            for release in releases:
                assert release.package is not None
                dsn = database.dsn()
                context = Context(dsn=dsn, password=database.password, cwd=release.dir,
                                  env=release.env | {"DATABASE_URL": dsn},
                                  values=placeholders(rehearsal.plan, release, dsn=dsn),
                                  log=rehearsal.run.log("cleanup.log"))
                for step in release.package.manifest.cleanup:
                    result = run_step(step, context)
                    total += 1
                    failed += result.status != "ok"
                    stream.write(asdict(CleanupRecord(release=release.version, phase=rehearsal.phase_name,
                                                      **asdict(result))))
                    shown = "ok" if result.status == "ok" else f"FAILED ({result.message})"
                    rehearsal.say(f"cleanup {release.version}: {step.name}: {shown}")
        finally:
            stream.close()
        return f"{total - failed} of {total} steps done and checked" + (f", {failed} failed" if failed else "")
