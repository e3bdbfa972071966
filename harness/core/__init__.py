"""Neutral building blocks every other package may use: errors, connection facts, processes, streams, events.

Nothing here imports another package of the harness."""
