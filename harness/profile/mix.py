"""The order in which a profile's endpoints are sent: deterministic, so the mix a rehearsal achieves is the
profile's from its first requests on, not only on average.

Each pick is the endpoint furthest behind its share (the largest share x (picks + 1) - sent; ties to the larger
share): after n picks every endpoint has been sent round(n x share) times, give or take one. Random draws by
weight would need tens of thousands of requests for a 5% endpoint to land within 5% of its share."""

from __future__ import annotations

from collections.abc import Mapping


class Mix:
    """Verbs: next() is the endpoint to send now."""

    def __init__(self, shares: Mapping[str, float]) -> None:
        total = sum(shares.values())
        self.shares = {name: share / total for name, share in shares.items() if share > 0}
        self.sent = dict.fromkeys(self.shares, 0)
        self.picks = 0

    def next(self) -> str:
        self.picks += 1
        name = max(self.shares, key=lambda n: (self.shares[n] * self.picks - self.sent[n], self.shares[n]))
        self.sent[name] += 1
        return name
