"""Shop traffic in the mix of a production profile (`rehearse profile ACCESS_LOG -o profile.toml`):

    rehearse run scenarios/shop --set load.profile=profile.toml --set load.locustfile=profile_locustfile.py

The profile-driven user (harness/load/profile_user.py) sends every endpoint of the profile with its template
filled ({id} 1..1000 unless the plan's [load.profile_values] says otherwise); the two endpoints that need more
than a path are sent here: a search needs a term, an order a body, and every order the service acknowledges
(201) is reported to the harness (harness.load.acknowledge), which looks for each one after the rollback.
"""

from __future__ import annotations

import random
from urllib.parse import quote

from harness.load.acknowledge import acknowledge
from harness.load.profile_user import ProfileUser
from harness.profile.values import Filler

SEARCH_TERMS = ["bl", "classic", "com", "de", "eco", "gold", "heavy", "mini", "rus", "smart bo", "eco mu"]


class ShopProfileUser(ProfileUser):
    handlers = {"GET /search": "search", "POST /orders": "place_order"}

    def search(self, filler: Filler) -> None:
        self.client.get(filler.path("/search") if filler.query else f"/search?q={quote(random.choice(SEARCH_TERMS))}",
                        name="/search")

    def place_order(self, filler: Filler) -> None:
        order = filler.body() or {"customer_id": filler.value("customer"), "product_id": filler.value("product"),
                                  "quantity": random.randint(1, 3)}
        with self.client.post("/orders", json=order, name="/orders", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"expected 201, got {response.status_code}")
                return
            try:
                placed = response.json()
            except ValueError:
                return
            acknowledge("orders", placed["id"])
