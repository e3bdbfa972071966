"""Typed shapes of everything the harness records and serializes, defined in one place.

`run` holds what the timeline and its observers stream to disk while a rehearsal runs; `summary` holds the
summary.json contract built from those streams. Both import nothing from the rest of the harness but `core`.
"""
