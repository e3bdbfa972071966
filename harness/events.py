"""The rehearsal's events: the extension point through which observers (and anything later) follow a run.

Modelled on Locust's `events`: each event is an EventHook with listeners called in order with keyword
arguments. The timeline and the migration runners fire them; observers subscribe in their `attach`. The core
never knows its observers. A listener that raises a RehearseError (bad input, a failed environment) stops
the run; any other exception is reported as an observer error and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.core.errors import RehearseError

Listener = Callable[..., Any]
ErrorSink = Callable[[str, str], None]


class EventHook:
    """Verbs: add_listener(fn) (usable as a decorator), remove_listener(fn), fire(**kwargs)."""

    def __init__(self, name: str, errors: ErrorSink | None = None) -> None:
        self.name = name
        self._listeners: list[Listener] = []
        self._errors = errors

    def add_listener(self, listener: Listener) -> Listener:
        self._listeners.append(listener)
        return listener

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def fire(self, **kwargs: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(**kwargs)
            except RehearseError:
                raise
            except Exception as exc:  # noqa: BLE001 - an observer's failure is reported, never fatal
                if self._errors is None:
                    raise
                source = getattr(listener, "__qualname__", repr(listener))
                self._errors(source, f"{self.name}: {type(exc).__name__}: {' '.join(str(exc).split())}")


class Events:
    """Every event of a rehearsal, in the order they fire. Arguments are keyword-only, as documented here."""

    def __init__(self, errors: ErrorSink | None = None) -> None:
        hook = lambda name: EventHook(name, errors)  # noqa: E731
        self.phase_started = hook("phase_started")
        """phase: records.run.Phase -- a phase began (its actions come next)."""
        self.phase_ending = hook("phase_ending")
        """phase -- its actions and soak are done; its end is stamped right after the listeners return."""
        self.phase_ended = hook("phase_ended")
        """phase -- the phase is over (phase.ended is set)."""
        self.action_started = hook("action_started")
        """phase, action: timeline.actions.Action -- an action of the phase is about to run."""
        self.action_ended = hook("action_ended")
        """phase, action, record: records.run.ActionRecord -- it ran (ok), failed or was skipped."""
        self.migration_started = hook("migration_started")
        """phase, version, direction, source, command: list[str] | None -- a migration file or command begins."""
        self.migration_ended = hook("migration_ended")
        """phase, version, direction, source, failed: bool -- it ended."""
        self.step_recorded = hook("step_recorded")
        """step: records.run.Step -- a migration statement or command finished (ok or failed)."""
        self.swap_started = hook("swap_started")
        """phase, from_version, to_version -- the service is about to be stopped."""
        self.swap_ended = hook("swap_ended")
        """swap: records.run.Swap -- the new version answers its health check."""
        self.rehearsal_ending = hook("rehearsal_ending")
        """(no arguments) -- the timeline is over or stopped; observers stop next, then the environment."""
