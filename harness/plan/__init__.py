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
    ENVIRONMENT_KINDS,
    NETWORK_MODES,
    PHASE_METRICS,
    PHASE_NAMES,
    REQUEST_METRICS,
    RUN_METRICS,
    STEP_METRICS,
    WAIT_METRICS,
    ActionCall,
    CommandMigrations,
    Contention,
    Gate,
    Migrations,
    Plan,
    Release,
    RunnerOptions,
    SqlMigrations,
    Targets,
    TimelinePhase,
)
from harness.plan.placeholders import placeholders

__all__ = [
    "CAUSES", "CAUSE_METRICS", "REQUEST_METRICS", "STEP_METRICS", "WAIT_METRICS", "default_gates",
    "CONTENTION_KINDS", "DEFAULT_PHASES", "DEFAULT_SEED_DEADLINE_S", "DEFAULT_STEP_DEADLINE_S",
    "ENVIRONMENT_KINDS", "NETWORK_MODES", "PHASE_METRICS", "PHASE_NAMES",
    "PLAN_FILE", "RUN_METRICS", "ActionCall", "CommandMigrations", "Contention", "Gate", "Migrations", "Plan",
    "PlanError", "Release", "RunnerOptions", "SqlMigrations", "Targets", "TimelinePhase", "find_plan_file",
    "load_plan", "parse_override", "placeholders",
]
