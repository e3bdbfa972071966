"""Renderers of a run's Summary (summary.md, summary.json), and the one place that writes a run's outputs."""
