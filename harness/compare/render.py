"""Comparisons rendered: a table on the terminal (rich when it is one, plain text otherwise), Markdown, JSON,
and for the matrix a self-contained HTML page. Nothing here computes a figure: it formats judge's and matrix's
records."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import IO, Any

from harness.compare.judge import Comparison, Row
from harness.compare.matrix import MatrixComparison

Table = tuple[str, list[str], list[list[str]]]  # title, headers, rows


# ---- the comparison of runs (rehearse compare, run --baseline)

def comparison_tables(comparison: Comparison) -> list[Table]:
    rows = [[r.phase, r.endpoint, f"{r.requests_a}/{r.requests_b}", *_latency(r, "p99"), *_latency(r, "p50"),
             f"{_pct(r.errors.rate_a)} -> {_pct(r.errors.rate_b)}", _p(r.errors.p_value), r.call]
            for r in comparison.rows]
    headers = ["phase", "endpoint", "requests A/B", "p99 A -> B (ms)", "p", "effect", "p50 A -> B (ms)", "p", "effect",
               "errors A -> B", "p", "call"]
    locks = [[t.phase, f"{t.max_ms_a:.0f} -> {t.max_ms_b:.0f}", f"{t.total_ms_a:.0f} -> {t.total_ms_b:.0f}",
              f"{_num(t.shift.median_a_ms)} -> {_num(t.shift.median_b_ms)}", _p(t.shift.p_value),
              _effect(t.shift.effect), t.shift.call] for t in comparison.lock_tests]
    checks = [[c.name, c.a, c.b, c.limit, c.call, _short(c.detail, 120)] for c in comparison.checks]
    return [(f"B {comparison.b} against A {comparison.a}: per phase and endpoint (medians of per-second "
             "aggregates, Mann-Whitney U; error rates, Fisher's exact test)", headers, rows),
            ("lock waits per phase (longest, total; the longest wait per second, Mann-Whitney U)",
             ["phase", "longest A -> B (ms)", "total A -> B (ms)", "per second A -> B (median ms)", "p", "effect",
              "call"], locks),
            ("run-wide checks", ["check", "A", "B", "threshold", "call", "detail"], checks)]


def verdict_line(comparison: Comparison) -> str:
    why = "; ".join(comparison.reasons) or "no significant difference beyond the thresholds"
    return f"verdict: {comparison.verdict.upper()} ({why})"


def thresholds_line(comparison: Comparison) -> str:
    t = comparison.thresholds
    return (f"thresholds: alpha {t.alpha:g}, min ratio {t.min_ratio:g}, min effect {t.min_effect:g}, min error-rate "
            f"difference {t.min_rate_diff:g}, lock wait +{t.lock_wait_ms:g} ms, lock wait total "
            f"+{t.lock_wait_total_ms:g} ms, downtime +{t.downtime_s:g} s")


def print_comparison(comparison: Comparison, out: IO[str]) -> None:
    """On a terminal, rich tables; otherwise plain text."""
    print_tables(comparison_tables(comparison), out)
    out.write(thresholds_line(comparison) + "\n" + verdict_line(comparison) + "\n")


def comparisons_markdown(comparisons: Sequence[Comparison]) -> str:
    parts = []
    for comparison in comparisons:
        parts.append(f"# {comparison.b} against {comparison.a}\n\n- A: `{comparison.a_dir}`\n- B: "
                     f"`{comparison.b_dir}`\n- {thresholds_line(comparison)}\n- **{verdict_line(comparison)}**\n")
        parts += [markdown_table(table) for table in comparison_tables(comparison)]
    return "\n".join(parts)


def comparisons_json(comparisons: Sequence[Comparison]) -> dict[str, Any]:
    verdicts = [c.verdict for c in comparisons]
    overall = "worse" if "worse" in verdicts else "better" if "better" in verdicts else "same"
    return {"verdict": overall, "comparisons": [plain(asdict(c)) for c in comparisons]}


def _latency(r: Row, stat: str) -> list[str]:
    shift = r.p99 if stat == "p99" else r.p50
    return [f"{_num(shift.median_a_ms)} -> {_num(shift.median_b_ms)}", _p(shift.p_value), _effect(shift.effect)]


# ---- the matrix

def matrix_tables(matrix: MatrixComparison, terminal: bool = False) -> list[Table]:
    """The versions and the tests; on a terminal the statements and reasons cut short."""
    statement, why = (70, 160) if terminal else (10_000, 10_000)
    versions = [[v.version, _num(v.p99_ms_upgrade), f"{v.errors_upgrade} of {v.requests_upgrade}",
                 f"{v.max_lock_wait_ms:.0f}", _short(v.lock_statement or "-", statement), f"{v.downtime_s:.2f}",
                 "safe" if v.rollback_safe else "NOT SAFE", _short(v.rollback_why or "-", why)]
                for v in matrix.versions]
    tests = [[f"{t.b} vs {t.a}", t.phase, t.test, f"{_value(t.a_value, t.unit)} -> {_value(t.b_value, t.unit)}",
              _num(t.ratio, 2),
              _p(t.p_value), _num(t.effect, 2), t.call] for t in matrix.tests]
    return [(f"{matrix.scenario}: rollback behaviour across package versions (upgrading from {matrix.from_version})",
             ["version", "upgrade p99 (ms)", "upgrade errors", "longest lock wait (ms)", "its statement",
              "downtime (s)", "rollback", "why"], versions),
            ("tests between versions (b against a, in the upgrade phase)",
             ["pair", "phase", "test", "a -> b", "ratio", "p", "effect", "call"], tests)]


def best_line(matrix: MatrixComparison) -> str:
    return f"best: {matrix.best} ({matrix.best_reason})" if matrix.best else f"best: none ({matrix.best_reason})"


def matrix_json(matrix: MatrixComparison) -> dict[str, Any]:
    data = plain(asdict(matrix))
    return {"versions": data["versions"], "best": data["best"], "best_reason": data["best_reason"],
            "tests": data["tests"], "scenario": data["scenario"], "from_version": data["from_version"]}


def matrix_markdown(matrix: MatrixComparison) -> str:
    return "\n".join([f"# {matrix.scenario}: versions compared\n\n**{best_line(matrix)}**\n",
                      *(markdown_table(t) for t in matrix_tables(matrix))])


def matrix_html(matrix: MatrixComparison) -> str:
    """One page, no script, no external resource."""
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}"
             ".worse,.unsafe{color:#b00020;font-weight:bold}.better,.safe{color:#0a7d28;font-weight:bold}")
    body = [f"<h1>{html.escape(matrix.scenario)}: versions compared</h1>",
            f"<p><strong>{html.escape(best_line(matrix))}</strong></p>"]
    for title, headers, rows in matrix_tables(matrix):
        body.append(f"<h2>{html.escape(title)}</h2><table><tr>"
                    + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>")
        for row in rows:
            body.append("<tr>" + "".join(f'<td class="{_css(cell)}">{html.escape(cell)}</td>' for cell in row)
                        + "</tr>")
        body.append("</table>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(matrix.scenario)}: versions compared</title><style>{style}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def print_matrix(matrix: MatrixComparison, out: IO[str]) -> None:
    print_tables(matrix_tables(matrix, terminal=True), out)
    out.write(best_line(matrix) + "\n")


# ---- tables

def print_tables(tables: list[Table], out: IO[str]) -> None:
    if out.isatty():
        from rich.console import Console
        from rich.table import Table as RichTable

        console = Console(file=out)
        for title, headers, rows in tables:
            shown = RichTable(title=title, title_justify="left")
            for header in headers:
                shown.add_column(header)
            for row in rows:
                shown.add_row(*(_rich_cell(cell) for cell in row))
            console.print(shown)
        return
    for table in tables:
        out.write(text_table(table) + "\n")


def text_table(table: Table) -> str:
    title, headers, rows = table
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def markdown_table(table: Table) -> str:
    title, headers, rows = table
    def cells(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return "\n".join([f"## {title}", "", cells(headers), "|" + "---|" * len(headers),
                      *(cells(r) for r in rows)]) + "\n"


def plain(value: Any) -> Any:
    """JSON values: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def _rich_cell(cell: str) -> str:
    from rich.markup import escape

    style = {"worse": "bold red", "NOT SAFE": "bold red", "better": "bold green", "safe": "green"}.get(cell)
    return f"[{style}]{escape(cell)}[/]" if style else escape(cell)


def _css(cell: str) -> str:
    return {"worse": "worse", "NOT SAFE": "unsafe", "better": "better", "safe": "safe"}.get(cell, "")


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "-" if value is None else "<1e-300" if value == 0 else f"{value:.2g}"


def _value(value: float | None, unit: str) -> str:
    return _pct(value) if unit == "rate" else _num(value)


def _effect(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
