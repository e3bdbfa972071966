"""Observers: what watches a rehearsal while it runs. Each one subscribes to the run's events, owns its
stream in streams/, and reports its errors into the run; `registry.OBSERVERS` lists them."""
