"""The live view: while a rehearsal runs, the phase, elapsed and remaining time, RPS, p99 and errors of the last
seconds, and the lock waits, once a second.

On a terminal it is a rich Live display (transient: the run's own lines and the verdict stay as they are);
elsewhere (CI logs) a plain `live:` line on stdout every PLAIN_EVERY_S; `rehearse run --progress` chooses
(auto: rich on a terminal, plain otherwise). An observer like any other: it follows the phase events and
tails streams/requests*.csv and streams/locks.jsonl, reading only the bytes added since the last second, on its
own thread. It never stops the run: its errors go to the run's observer errors, and after a few it gives up.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.core.poller import Poller
from harness.core.text import one_line, redact, redact_sql
from harness.events import Events
from harness.observe.base import ObserverContext
from harness.observe.live_figures import (
    REQUEST_FIELDS,
    LockFigures,
    LockWait,
    LockWindow,
    PlannedPhase,
    Position,
    RequestFigures,
    RequestWindow,
    TimelineClock,
    request_of,
)
from harness.observe.tail import CsvTail, JsonLinesTail

MODES = ("auto", "rich", "plain", "none")
TICK_S = 1.0
RICH_WINDOW_S = 5.0  # rps, p99 and errors of the last seconds
PLAIN_EVERY_S = 10.0  # a plain line this often, its figures over the time since the one before
MAX_ERRORS = 3  # rounds that failed before the view gives up (the run goes on)
LOG = "live.log"  # what the view cost: ticks and CPU seconds of its thread
STATEMENT_CHARS = 70

_mode: contextvars.ContextVar[str] = contextvars.ContextVar("rehearse_live_mode", default="none")


def use(mode: str) -> None:
    """The view the rehearsals of this context show (`rehearse run --progress`); without it, none."""
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r} is not one of {', '.join(MODES)}")
    _mode.set(mode)


def resolve(mode: str, stream: TextIO) -> str:
    """rich, plain or none: auto is rich on a terminal that can redraw, plain otherwise."""
    if mode != "auto":
        return mode
    terminal = stream.isatty() and os.environ.get("TERM", "") not in ("dumb", "unknown")
    return "rich" if terminal else "plain"


class LiveView(Poller):
    """Verbs: start(), stop(). Each round reads the new rows and draws (rich) or prints every so often (plain)."""

    name = "live-view"

    def __init__(self, context: ObserverContext, mode: str, out: TextIO) -> None:
        self.reported: list[str] = []
        super().__init__(TICK_S, self._error)
        self.context, self.mode, self.out = context, mode, out
        plan = context.plan
        self.title = f"{plan.scenario} {plan.from_version} -> {plan.to_version}"
        self.clock = TimelineClock([PlannedPhase(p.name, p.soak_s, len(p.actions)) for p in plan.timeline])
        window = RICH_WINDOW_S if mode == "rich" else PLAIN_EVERY_S
        self.requests = RequestWindow(window)
        interval_s = plan.lock_sample_interval_ms / 1000
        self.locks = LockWindow(window, stale_s=max(0.5, 3 * interval_s))
        streams = context.run.path / "streams"
        self.request_tail = CsvTail(streams, "requests*.csv")
        self.lock_tail = JsonLinesTail(streams, "locks.jsonl")
        self.lock = threading.Lock()  # the clock: events come on the timeline's thread
        self.live: Live | None = None
        self.last_line = time.monotonic()
        self.cpu_s = 0.0
        self._statements: dict[str, str] = {}

    def _error(self, message: str) -> None:
        self.reported.append(message)
        if len(self.reported) <= MAX_ERRORS:
            self.context.report_error("live", message)
        if len(self.reported) == MAX_ERRORS:
            self.context.report_error("live", "the live view stopped after repeated errors; the run goes on")
            self.finish()

    def connect(self) -> None:
        started = time.thread_time()
        if self.mode == "rich":
            console = Console(file=self.out, force_terminal=True)
            # stdout's lines (the run's own) go above the view; stderr's only when it is the same terminal
            self.live = Live(console=console, auto_refresh=False, transient=True, redirect_stdout=True,
                             redirect_stderr=_same_terminal(self.out, sys.stderr))
            self.live.start()
        self.cpu_s += time.thread_time() - started

    def poll(self) -> None:
        started = time.thread_time()
        try:
            self.requests.add(r for r in map(request_of, self.request_tail.records(REQUEST_FIELDS)) if r)
            self.locks.add(w for w in map(LockWait.from_row, self.lock_tail.rows()) if w)
            now = time.time()
            with self.lock:
                position = self.clock.at(now)
            figures, locks = self.requests.figures(now), self.locks.figures(now)
            if self.live is not None:
                self.live.update(self.render(position, figures, locks), refresh=True)
            elif time.monotonic() - self.last_line >= PLAIN_EVERY_S:
                self.last_line = time.monotonic()
                print(self.line(position, figures, locks), file=self.out, flush=True)
        finally:
            self.cpu_s += time.thread_time() - started

    def disconnect(self) -> None:
        self.close_display()
        try:
            with self.context.run.log(LOG).open("a", encoding="utf-8") as log:
                log.write(f"{self.mode}: {self.polls} rounds, {self.cpu_s:.3f} s of CPU on its thread\n")
        except OSError:
            pass

    def close_display(self) -> None:
        live, self.live = self.live, None
        if live is not None:
            live.stop()

    def event(self, verb: str, *args: Any) -> None:
        with self.lock:
            getattr(self.clock, verb)(*args)

    def statement(self, sql: str) -> str:
        """A statement as shown: one line, short, without secrets (redaction is not free: each text once)."""
        shown = self._statements.get(sql)
        if shown is None:
            if len(self._statements) > 1000:
                self._statements.clear()
            shown = self._statements[sql] = one_line(redact(redact_sql(sql)), STATEMENT_CHARS)
        return shown

    def waits(self, locks: LockFigures) -> str:
        if not locks.waiting:
            return "none now" + (f" (peak {locks.peak}, longest {locks.peak_wait_s:.1f} s in the last "
                                 f"{self.locks.seconds:.0f} s)" if locks.peak else "")
        longest = locks.longest
        assert longest is not None
        text = f"{locks.waiting} waiting, longest {longest.waiting_s:.1f} s for {longest.mode} on {longest.what}"
        if longest.query:
            text += f": {self.statement(longest.query)}"
        if longest.root_query:
            text += f" (behind: {self.statement(longest.root_query)})"
        return text

    def line(self, position: Position, figures: RequestFigures, locks: LockFigures) -> str:
        """The plain form: one line."""
        return f"live: {_where(position)} | {_load(figures)} | lock waits: {self.waits(locks)}"

    def render(self, position: Position, figures: RequestFigures, locks: LockFigures) -> Group:
        """The rich form: a small table."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("rehearsal", Text(self.title) + Text("  ") + _phase_bar(self.clock, position))
        if position.phase is not None:
            phase = f"{position.phase} ({position.index}/{position.phases}): {_s(position.phase_elapsed_s)} elapsed, " \
                    f"{_phase_left(position)}"
            if position.action:
                phase += f"; {position.action} running for {_s(position.action_s)}"
            grid.add_row("phase", phase)
        else:
            grid.add_row("phase", "the timeline is over" if position.done else "not yet (the load ramps up)")
        grid.add_row("timeline", f"{_s(position.elapsed_s)} elapsed, {_left(position.remaining_s, position.at_least)}")
        grid.add_row("load", _load(figures))
        grid.add_row("lock waits", Text(self.waits(locks), style="yellow" if locks.waiting else ""))
        return Group(grid)


def _same_terminal(a: TextIO, b: TextIO) -> bool:
    try:
        return a.isatty() and b.isatty() and os.path.samestat(os.fstat(a.fileno()), os.fstat(b.fileno()))
    except (OSError, ValueError, AttributeError):
        return False


def _s(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _left(seconds: float, at_least: bool) -> str:
    if not at_least:
        return f"{_s(seconds)} left"
    return f"at least {_s(seconds)} left" if seconds >= 0.5 else "actions left"


def _phase_left(position: Position) -> str:
    if not position.phase_at_least:
        return f"{_s(position.phase_remaining_s)} left"
    soak = position.phase_remaining_s
    return f"its actions, then {_s(soak)} of soak left" if soak >= 0.5 else "its actions left"


def _where(position: Position) -> str:
    if position.phase is None:
        return "timeline over" if position.done else "before the timeline (load ramping up)"
    text = (f"{position.phase} ({position.index}/{position.phases}) {_s(position.phase_elapsed_s)}, "
            f"{_phase_left(position)}")
    if position.action:
        text += f", {position.action} running {_s(position.action_s)}"
    return f"{text} | timeline {_s(position.elapsed_s)}, {_left(position.remaining_s, position.at_least)}"


def _load(figures: RequestFigures) -> str:
    p99 = f"{figures.p99_ms:.0f} ms" if figures.p99_ms is not None else "-"
    return (f"{figures.rps:.1f} rps, p99 {p99}, {figures.errors} errors ({figures.error_rate:.1%}) in the last "
            f"{figures.seconds:.0f} s; {figures.total} requests, {figures.total_errors} errors in all")


def _phase_bar(clock: TimelineClock, position: Position) -> Text:
    bar = Text()
    for planned in clock.planned:
        if planned.name == position.phase:
            bar.append(f"> {planned.name} ", style="bold cyan")
        elif planned.name in position.done:
            bar.append(f"{planned.name} ", style="green")
        else:
            bar.append(f"{planned.name} ", style="dim")
    return bar


class LiveObserver:
    """Observer: the live view, when the run was asked for one (harness.observe.live.use)."""

    name = "live"

    def __init__(self, context: ObserverContext, mode: str, out: TextIO) -> None:
        self.view = LiveView(context, mode, out)

    def attach(self, events: Events) -> None:
        view = self.view
        events.phase_started.add_listener(lambda phase, **_: view.event("phase_started", phase.name, phase.started))
        events.phase_ended.add_listener(
            lambda phase, **_: view.event("phase_ended", phase.name, phase.ended or time.time()))
        events.action_started.add_listener(
            lambda phase, action, **_: view.event("action_started", action.name, time.time()))
        events.action_ended.add_listener(lambda record, **_: view.event("action_ended", record.ended or time.time()))
        events.rehearsal_ending.add_listener(lambda **_: view.stop())  # teardown's lines print as they are
        if not view.start():
            view.stop()

    def close(self) -> None:
        try:
            self.view.stop()
            self.view.close_display()  # had its thread not ended in time
        except Exception as exc:  # noqa: BLE001 - never raises: reported
            self.view.context.report_error(self.name, f"close: {type(exc).__name__}: {exc}")


def live_observer(context: ObserverContext) -> LiveObserver | None:
    """The factory listed in timeline/observers.py: None unless a view was asked for and can be shown."""
    out = sys.stdout
    mode = resolve(_mode.get(), out)
    return LiveObserver(context, mode, out) if mode in ("rich", "plain") else None
