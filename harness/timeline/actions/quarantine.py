"""quarantine: before anything of a package runs, make the rehearsal's copies of the package releases inert
toward the outside world, and put them back after the run.

Added by the timeline automatically (in its setup stage, before the set-up migrations and the first service
start) whenever a release of the run comes from a package; a plan cannot place it. It scans each unpacked
package, starts the local stub (127.0.0.1), applies the quarantine plan (harness.package.quarantine), gives
each package release its quarantined service environment and command, and streams what it did to
streams/quarantine.jsonl (and the stub's requests to streams/stub.jsonl). Its revert and the stub's stop are
owned by the run's teardown: they happen however the run ends, after the service has stopped.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, replace
from typing import ClassVar

from harness.core.errors import EnvironmentFailure, PlanError
from harness.core.streams import JsonLines
from harness.package import quarantine
from harness.package.findings import Hit
from harness.package.scanners import scan
from harness.package.stub import Stub, StubRequest
from harness.plan import ActionCall, Plan, Release
from harness.plan.packages import package_releases
from harness.records.run import QUARANTINE_STREAM, STUB_STREAM, PackageRecord, QuarantineRecord
from harness.timeline.state import Rehearsal, Skip


class Quarantine:
    name: ClassVar[str] = "quarantine"

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Quarantine:
        raise PlanError(plan.path, call.key, "'quarantine' is added by the timeline itself, before anything of a "
                        "package runs: leave it out of [[timeline]]")

    def describe(self, plan: Plan) -> str:
        versions = ", ".join(r.version for r in package_releases(plan))
        return f"quarantine the packages of {versions} (schedules off, endpoints to a local stub, rehearsal " \
               "credentials)"

    def run(self, rehearsal: Rehearsal) -> str | None:
        releases = package_releases(rehearsal.plan)
        if not releases:
            raise Skip("no release of the run comes from a package")
        if rehearsal.run is None or rehearsal.stack is None:
            raise EnvironmentFailure("the quarantine needs the run's directory and teardown")
        stream = JsonLines(rehearsal.run.stream(QUARANTINE_STREAM))
        rehearsal.stack.callback(stream.close)
        requests = JsonLines(rehearsal.run.stream(STUB_STREAM))
        rehearsal.stack.callback(requests.close)
        def record(request: StubRequest) -> None:
            requests.write(_request_row(request))

        stub = Stub(record)
        url = stub.start()
        rehearsal.stack.callback(stub.close)
        scanned = [(release, _scan(rehearsal.plan, release)) for release in releases]  # before any is changed
        quarantined: dict[str, Release] = {}
        applied = 0
        for release, hits in scanned:
            assert release.package is not None
            manifest = release.package.manifest
            findings = [hit.finding for hit in hits]
            stream.write({"event": "package", **asdict(PackageRecord(
                version=release.version, name=manifest.name, source=str(release.package.path),
                kind=release.package.kind, sha256=release.package.sha256, unpacked_to=str(release.dir),
                findings=len(findings), blocking=sum(f.blocking for f in findings),
                by_kind=dict(Counter(f.kind for f in findings))))})
            guard = quarantine.Quarantine(release.dir, manifest, hits)
            rehearsal.stack.callback(_revert, guard, release.version, stream)
            changes = guard.apply(stub.port)
            env, command, service_changes = guard.service(release.env, release.command, stub.port)
            for change in changes + service_changes:
                target = f"{change.file}:{change.line}" if change.line else change.file
                stream.write({"event": "applied", **asdict(QuarantineRecord(
                    release.version, change.kind, target, change.detail, change.status, False, change.message))})
            applied += len(changes) + len(service_changes)
            quarantined[release.version] = replace(release, env=env, command=command)
            rehearsal.say(f"quarantine {release.version}: {len(changes)} changes to its files, "
                          f"{len(service_changes)} to its service; endpoints -> {url}")
        rehearsal.plan = replace(rehearsal.plan, releases=rehearsal.plan.releases | quarantined)
        rehearsal.serving = rehearsal.plan.releases[rehearsal.serving.version]
        return f"{applied} actions on {', '.join(quarantined)}; stub at {url}"


def _scan(plan: Plan, release: Release) -> list[Hit]:
    """The release's hits, with its predecessor (when it is a package too) for renamed units."""
    assert release.package is not None
    previous = plan.releases.get(release.upgrades_from or "")
    before = previous.dir if previous is not None and previous.package is not None else None
    return scan(release.dir, release.package.manifest, before)


def _revert(guard: quarantine.Quarantine, version: str, stream: JsonLines) -> None:
    problems = guard.revert()
    stream.write({"event": "reverted", "release": version, "at": time.time(), "problems": problems})


def _request_row(request: StubRequest) -> dict[str, object]:
    return asdict(request)
