"""Runs compared: `rehearse compare`, `rehearse run --baseline` and the comparison of `rehearse matrix`.

`runs` loads what a run directory recorded into a RunFigures; `judge` compares two of them (a Comparison: the
better / worse / same table and the verdict) and ranks the versions of a matrix; `render` writes both as text,
Markdown, JSON and HTML. The statistics themselves are `harness.result.stats`.
"""
