"""The charts of report.html: matplotlib figures rendered to inline SVG (Agg backend, text kept as text).

Every chart shares the same time axis (seconds since the first phase began), the phases as shaded bands and
the service swaps marked, so that stacked one above the other they line up. Each data artist carries an SVG id
(`gid`) naming what it draws: the test of report.html checks that each drew something.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context  # noqa: E402 - the backend is chosen first
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from harness.records.series import RunSeries, WaitSpan  # noqa: E402
from harness.records.summary import StatementFigures, Summary  # noqa: E402

WIDTH_IN = 11.0
LEFT, RIGHT = 0.07, 0.985  # the same margins on every chart: their time axes line up
LATENCY_COLORS = {"p50_ms": "#1f77b4", "p95_ms": "#ff7f0e", "p99_ms": "#d62728"}
RPS_COLOR = "#2ca02c"
CAUSE_COLORS = {"swap": "#e377c2", "statements": "#8c564b", "service": "#7f7f7f"}
WAIT_COLORS = {"requests": "#9467bd", "migration": "#17becf", "other": "#bcbd22"}
PHASE_SHADES = ("#eef2f7", "#ffffff")
SWAP_BAND, SWAP_LINE = "#fde0ef", "#c51b8a"
CHECK_HATCH = "#b0b0b0"
STATEMENT_COLOR, HELD_COLOR = "#b8b8b8", "#e8e8e8"
MAX_WAIT_ROWS = 14  # statements with waits drawn in the lock-wait timeline (the ones with the most waits)
LABEL_CHARS = 110
NO_STATEMENT = "not blamed on a migration statement"


def latency_chart(summary: Summary, series: RunSeries) -> str:
    """p50 / p95 / p99 of the requests started in each second (log scale when the tail is far above the
    median)."""
    with _style("latency"):
        fig, ax = _figure(3.6)
        x = [s.at - series.origin + 0.5 for s in series.seconds]
        values: list[float] = []
        for key, color in LATENCY_COLORS.items():
            y = [getattr(s, key) for s in series.seconds]
            if any(v is not None for v in y):
                # a second without requests is a gap in the line, not a straight segment across it
                # markers, small on long runs: a second between two gaps is a point, not an invisible segment
                (line,) = ax.plot(x, [math.nan if v is None else v for v in y], color=color, linewidth=1.8,
                                  marker="o", markersize=3 if len(x) < 40 else 1.5, label=key.removesuffix("_ms"))
                line.set_gid(f"data-{key.removesuffix('_ms')}")
                values += [v for v in y if v is not None]
        positive = [v for v in values if v > 0]
        if positive and max(positive) / max(min(positive), 0.01) > 30:
            ax.set_yscale("log")
            # plain numbers (1, 10, 1,000), no minor ticks: readable, and no mathtext to lay out
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_ylim(min(positive) / 1.5, max(positive) * 4)  # room for the phases' names above the lines
        elif positive:
            ax.set_ylim(0, max(positive) * 1.25)
        ax.set_ylabel("latency ms")
        _context(ax, summary, series, label_swaps=True)
        _legend(ax, empty="no request was recorded" if not values else None)
        return _svg(fig, "latency")


def throughput_chart(summary: Summary, series: RunSeries) -> str:
    """Requests per second (above) and failed requests per second by cause (below)."""
    with _style("throughput"):
        fig = Figure(figsize=(WIDTH_IN, 3.8))
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1], "hspace": 0.08})
        fig.subplots_adjust(left=LEFT, right=RIGHT, top=0.86, bottom=0.13)
        x = [s.at - series.origin for s in series.seconds]
        if x:
            (line,) = top.step([*x, x[-1] + 1], [*(s.requests for s in series.seconds), series.seconds[-1].requests],
                               where="post", color=RPS_COLOR, linewidth=1.8, label="requests / s")
            line.set_gid("data-rps")
        top.set_ylabel("requests / s")
        top.set_ylim(0, max([s.requests for s in series.seconds] + [1]) * 1.25)
        base = [0.0] * len(x)
        for cause, color in CAUSE_COLORS.items():
            counts = [float(s.errors_by_cause.get(cause, 0)) for s in series.seconds]
            if not any(counts):
                continue
            upper = [b + c for b, c in zip(base, counts, strict=True)]
            area = bottom.fill_between([*x, x[-1] + 1], [*base, base[-1]], [*upper, upper[-1]], step="post",
                                       color=color, linewidth=0, label=f"failed: {cause}")
            area.set_gid(f"data-errors-{cause}")
            base = upper
        if not any(base):
            bottom.text(0.5, 0.5, "no failed request", transform=bottom.transAxes, ha="center", va="center",
                        color="#555555")
        bottom.set_ylabel("failed / s")
        bottom.set_ylim(bottom=0)
        _context(top, summary, series, label_swaps=False)
        _context(bottom, summary, series, label_swaps=False, phase_names=None)
        top.set_xlabel("")  # the axes share their time axis: named once, below
        handles = [h for ax in (top, bottom) for h in ax.get_legend_handles_labels()[0]]
        labels = [label for ax in (top, bottom) for label in ax.get_legend_handles_labels()[1]]
        if handles:
            top.legend(handles, labels, loc="lower left", bbox_to_anchor=(0, 1.02), ncol=len(handles),
                       frameon=False, fontsize=8, borderaxespad=0)
        return _svg(fig, "throughput")


def lock_wait_chart(summary: Summary, series: RunSeries) -> str:
    """One row per migration statement that others waited for: when it ran (grey), and each wait blamed on it,
    one lane per waiting backend, coloured by whose backend it was."""
    rows = _wait_rows(summary, series.waits)
    with _style("locks"):
        fig, ax = _figure(1.3 + 0.5 * max(1, len(rows)), top=1 - 0.5 / (1.3 + 0.5 * max(1, len(rows))))
        drawn: set[str] = set()
        for row, (label, statements, waits) in enumerate(rows):
            y = len(rows) - 1 - row  # the first statement on top
            held = [(s.started - series.origin, s.held_ms / 1000) for s in statements
                    if s.held_ms and s.held_ms > (s.duration_ms or 0)]
            if held:
                ax.broken_barh(held, (y + 0.05, 0.7), color=HELD_COLOR, linewidth=0,
                               label="its locks held to COMMIT" if "held" not in drawn else None)
                drawn.add("held")
            spans = [(s.started - series.origin, max((s.ended or s.started) - s.started, 0.02)) for s in statements]
            if spans:
                ax.broken_barh(spans, (y + 0.05, 0.7), color=STATEMENT_COLOR, linewidth=0,
                               label="statement running" if "statement" not in drawn else None)
                drawn.add("statement")
            lanes = {pid: i for i, pid in enumerate(dict.fromkeys(w.pid for w in waits))}
            height = 0.6 / max(1, len(lanes))
            for (whose, lane), mine in _by_lane(waits, lanes).items():
                bars = ax.broken_barh([(w.started - series.origin, max(w.ended - w.started, 0.01)) for w in mine],
                                      (y + 0.1 + lane * height, height * 0.85), color=WAIT_COLORS.get(whose, "k"),
                                      linewidth=0, label=_whose_label(whose) if whose not in drawn else None)
                bars.set_gid(f"data-wait-{whose}-{row}-{lane}")
                drawn.add(whose)
            ax.text(0.003, y + 0.8, label, transform=blended_transform_factory(ax.transAxes, ax.transData),
                    fontsize=7.5, va="bottom", ha="left", color="#222222", clip_on=True)
        ax.set_ylim(-0.4, max(1, len(rows)) + 0.1)  # below the rows: the phases' names
        ax.set_yticks([])
        _context(ax, summary, series, label_swaps=False, phase_names="bottom")
        empty = None
        if not series.waits:
            empty = "no lock wait was sampled" + ("" if rows else " and no migration statement ran")
        _legend(ax, empty=empty)
        return _svg(fig, "locks")


def _wait_rows(summary: Summary, waits: list[WaitSpan]) -> list[tuple[str, list[StatementFigures], list[WaitSpan]]]:
    """(label, the statement's runs, its waits) per row: statements in execution order, the ones with the most
    waits when there are too many, then the waits no statement is blamed for. Without any wait: the longest
    statements, to show when the migration ran."""
    by_statement: dict[tuple[int, str], list[WaitSpan]] = {}
    loose: list[WaitSpan] = []
    for w in waits:
        if w.seq is None or w.statement is None:
            loose.append(w)
        else:
            by_statement.setdefault((w.seq, w.statement), []).append(w)
    keys = list(by_statement)
    if not keys:
        ran = [s for s in summary.statements if not s.chatter and s.duration_ms]
        keys = [(s.seq, s.sql) for s in sorted(ran, key=lambda s: -(s.duration_ms or 0))[:MAX_WAIT_ROWS]]
    keys = sorted(sorted(keys, key=lambda k: -len(by_statement.get(k, [])))[:MAX_WAIT_ROWS])
    rows = []
    for seq, sql in keys:
        mine = by_statement.get((seq, sql), [])
        runs = [s for s in summary.statements if s.seq == seq and s.sql == sql]
        phase = runs[0].phase if runs else (mine[0].phase if mine else "")
        longest = max((w.waited_ms for w in mine), default=0.0)
        text = f"#{seq} {phase}: {_short(sql)}" + (
            f"  ({len(mine)} wait{'s' if len(mine) != 1 else ''}, {len({w.pid for w in mine})} backends, "
            f"longest {longest:,.0f} ms)" if mine else "")
        rows.append((text, runs, mine))
    if loose:
        longest = max(w.waited_ms for w in loose)
        rows.append((f"{NO_STATEMENT}  ({len(loose)} waits, longest {longest:,.0f} ms)", [], loose))
    return rows


def _by_lane(waits: list[WaitSpan], lanes: dict[int, int]) -> dict[tuple[str, int], list[WaitSpan]]:
    """The waits of one row by whose they were and the lane of their backend."""
    grouped: dict[tuple[str, int], list[WaitSpan]] = {}
    for w in waits:
        grouped.setdefault((w.whose, lanes[w.pid]), []).append(w)
    return dict(sorted(grouped.items(), key=lambda item: (list(WAIT_COLORS).index(item[0][0])
                                                          if item[0][0] in WAIT_COLORS else 9, item[0][1])))


def _whose_label(whose: str) -> str:
    return {"requests": "wait of a service backend", "migration": "wait of the migration",
            "other": "wait of the harness's checks"}.get(whose, whose)


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _context(ax: Axes, summary: Summary, series: RunSeries, label_swaps: bool,
             phase_names: str | None = "top") -> None:
    """The phases as shaded bands (named at the top), the swaps as marked bands, the shared time axis."""
    origin = series.origin
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    for i, phase in enumerate(summary.phases):
        ax.axvspan(phase.started - origin, phase.ended - origin, color=PHASE_SHADES[i % 2], zorder=0, linewidth=0)
        if phase_names:
            top = phase_names == "top"
            ax.text((phase.started + phase.ended) / 2 - origin, 0.98 if top else 0.02, phase.name,
                    transform=transform, ha="center", va="top" if top else "bottom", fontsize=8, color="#444444",
                    clip_on=True)
    for i, window in enumerate(summary.check_windows):
        ax.axvspan(window.started - origin, window.ended - origin, facecolor="none", edgecolor=CHECK_HATCH,
                   hatch="///", linewidth=0, zorder=0.6,
                   label="the harness's checks (their requests left out)" if label_swaps and i == 0 else None)
    for swap in summary.swaps:
        if swap.stopped_at is None or swap.healthy_at is None:
            continue
        start = (swap.started_at if swap.started_at is not None else swap.stopped_at) - origin
        end = (swap.ended_at if swap.ended_at is not None else swap.healthy_at) - origin
        ax.axvspan(start, max(end, start + 0.02), color=SWAP_BAND, zorder=0.5, linewidth=0)
        ax.axvline(swap.stopped_at - origin, color=SWAP_LINE, linewidth=1, linestyle="--", zorder=1)
        if label_swaps:
            ax.annotate(f"swap {swap.from_version}→{swap.to_version} ({swap.downtime_s:.2f} s)",
                        (swap.stopped_at - origin, 0.03), xycoords=transform, xytext=(-3, 0),
                        textcoords="offset points", rotation=90, ha="right", va="bottom", fontsize=7.5,
                        color=SWAP_LINE)
    ax.set_xlim(0, max(series.end - origin, 1.0))
    ax.set_xlabel("seconds since the first phase began")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _legend(ax: Axes, empty: str | None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0, 1.02), ncol=len(handles), frameon=False,
                  fontsize=8, borderaxespad=0)
    if empty:
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", va="center", color="#555555")


def _figure(height_in: float, top: float | None = None) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(WIDTH_IN, height_in))  # no pyplot: nothing global to close, and a lighter import
    ax = fig.subplots()
    fig.subplots_adjust(left=LEFT, right=RIGHT, top=top if top is not None else 1 - 0.45 / height_in,
                        bottom=0.55 / height_in)
    return fig, ax


@contextmanager
def _style(name: str) -> Iterator[None]:
    """Text as SVG text (small, selectable; the browser's sans-serif), and ids salted per chart so that the
    SVGs of one page never share an id."""
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": f"rehearse-{name}", "font.size": 9,
                         "font.family": "sans-serif", "axes.edgecolor": "#888888", "axes.titlesize": 10}):
        yield


def _svg(fig: Figure, name: str) -> str:
    """The figure as an <svg> element to inline in HTML (no XML prolog, doctype or metadata), its element ids
    (figure_1, axes_1, ...: the same in every chart) prefixed with the chart's name so that the page's are
    unique; the ids that are referenced (clip paths, markers) are salted already, the data ones are the test's."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg"):], flags=re.S).strip()
    referenced = set(re.findall(r"#([\w.-]+)", text))
    return re.sub(r'\sid="([^"]+)"', lambda m: m.group(0) if m.group(1) in referenced or m.group(1).startswith(
        "data-") else f' id="{name}-{m.group(1)}"', text)
