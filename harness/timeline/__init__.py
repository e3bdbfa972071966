"""The timeline: the plan's phases in order, each running its actions and then soaking, under load."""
