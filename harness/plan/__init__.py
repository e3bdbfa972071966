"""The rehearsal plan (scenarios/<name>/rehearsal.toml): its typed model and its loader."""

from harness.core.errors import PlanError
from harness.plan.default_gates import default_gates
from harness.plan.load import PLAN_FILE, find_plan_file, load_plan, parse_override
from harness.plan.model import (
    CAUSE_METRICS,
    CAUSES,
    CONTENTION_KINDS,
    DEFAULT_PHASES,
    DEFAULT_SEED_DEADLINE_S,
    DEFAULT_STEP_DEADLINE_S,
    DEPENDENCY_METRICS,
    ENVIRONMENT_KINDS,
    NETWORK_MODES,
    PHASE_METRICS,
    PHASE_NAMES,
    REQUEST_METRICS,
    REVERT_FAILURE_POLICIES,
    RUN_METRICS,
    STEP_METRICS,
    SWAP_STRATEGIES,
    WAIT_METRICS,
    ActionCall,
    CommandMigrations,
    Contention,
    Dependency,
    Gate,
    Migrations,
    Plan,
    Release,
    RunnerOptions,
    SqlMigrations,
    StubSettings,
    Targets,
    TimelinePhase,
)
from harness.plan.placeholders import PLACEHOLDERS, placeholders, release_python, runtime_env

__all__ = [
    "ActionCall", "CAUSES", "CAUSE_METRICS", "CONTENTION_KINDS", "CommandMigrations", "Contention", "DEFAULT_PHASES",
    "DEFAULT_SEED_DEADLINE_S", "DEFAULT_STEP_DEADLINE_S", "ENVIRONMENT_KINDS", "Gate", "Migrations", "NETWORK_MODES",
    "PHASE_METRICS", "PHASE_NAMES", "PLACEHOLDERS", "PLAN_FILE", "Plan", "PlanError", "REQUEST_METRICS",
    "REVERT_FAILURE_POLICIES", "RUN_METRICS", "Release", "RunnerOptions", "STEP_METRICS", "SWAP_STRATEGIES",
    "SqlMigrations", "Targets", "TimelinePhase", "WAIT_METRICS", "default_gates", "find_plan_file", "load_plan",
    "parse_override", "placeholders", "release_python", "runtime_env",
]
__all__ += ["DEPENDENCY_METRICS", "Dependency", "StubSettings"]
