"""Shop traffic: browsing, search, order lookups and order placement.

Once a release that knows currencies serves (its orders carry a "currency"), a share of new orders is placed
in a currency other than EUR, as clients updated for 2.x would. Every order the service acknowledges (201) is
reported to the harness (harness.load.acknowledge), which looks for each one after the rollback.
"""

from __future__ import annotations

import os
import random
from urllib.parse import quote

from locust import FastHttpUser, between, task

from harness.load.acknowledge import acknowledge

SEED_ROWS = int(os.environ.get("SEED_ROWS", "1000"))
ORDERS = SEED_ROWS
CUSTOMERS = max(100, SEED_ROWS // 10)
PRODUCTS = max(100, min(20000, SEED_ROWS // 50))
PAGE_SIZE = 20
SEARCH_TERMS = ["bl", "classic", "com", "de", "eco", "gold", "heavy", "mini", "rus", "smart bo", "eco mu"]
FOREIGN_SHARE = 0.3  # of orders, once currencies are known
FOREIGN_CURRENCIES = ["USD", "GBP", "CHF"]
SERVING = {"currencies": False}  # learnt from the service's answers: do orders carry a currency?


class ShopUser(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @task(4)
    def browse_products(self) -> None:
        offset = random.randrange(0, max(1, PRODUCTS - PAGE_SIZE))
        self.client.get(f"/products?limit={PAGE_SIZE}&offset={offset}", name="/products?offset=[n]")

    @task(3)
    def product_detail(self) -> None:
        self.client.get(f"/products/{random.randint(1, PRODUCTS)}", name="/products/[id]")

    @task(2)
    def search(self) -> None:
        self.client.get(f"/search?q={quote(random.choice(SEARCH_TERMS))}", name="/search?q=[prefix]")

    @task(3)
    def order_lookup(self) -> None:
        order_id = random.randint(1, ORDERS)
        with self.client.get(f"/orders/{order_id}", name="/orders/[id]", catch_response=True) as response:
            if response.status_code == 404:
                response.success()

    @task(2)
    def customer_orders(self) -> None:
        self.client.get(f"/customers/{random.randint(1, CUSTOMERS)}/orders", name="/customers/[id]/orders")

    @task(2)
    def place_order(self) -> None:
        order = {
            "customer_id": random.randint(1, CUSTOMERS),
            "product_id": random.randint(1, PRODUCTS),
            "quantity": random.randint(1, 3),
        }
        if SERVING["currencies"] and random.random() < FOREIGN_SHARE:
            order["currency"] = random.choice(FOREIGN_CURRENCIES)
        with self.client.post("/orders", json=order, name="/orders", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"expected 201, got {response.status_code}")
                return
            try:
                placed = response.json()
            except ValueError:
                return
            SERVING["currencies"] = "currency" in placed
            acknowledge("orders", placed["id"])
