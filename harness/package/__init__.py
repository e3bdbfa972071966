"""Upgrade packages: the manifest, safe unpacking, builds, detached signatures, the offline scanners, the
quarantine plan and its local stub, post-upgrade cleanup steps, and the preflight that ties them together.

Imports only harness.core: the plan reads packages (plan.packages), the timeline's quarantine and cleanup
actions apply them.
"""
