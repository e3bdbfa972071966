"""From the run's streams to typed figures: frames (pandas), analysis, the lint check, the Summary."""
