"""Shop API, release 2.0: aiohttp + asyncpg. Orders carry a currency.

Release 2.1 runs this same code (its migrations differ): the harness passes the version in REHEARSE_VERSION.
With ORDER_WEBHOOK_URL set (the package's manifest sets it), every order placed is posted there, in the
background: a slow or failing receiver never holds up the order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

VERSION = os.environ.get("REHEARSE_VERSION", "2.0")
ACQUIRE_TIMEOUT_S = 5.0
SHUTDOWN_TIMEOUT_S = 2.0
MAX_BIGINT = 2**63 - 1
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
DEFAULT_CURRENCY = "EUR"
CURRENCY_CODE = re.compile("[A-Z]{3}")
WEBHOOK_URL = os.environ.get("ORDER_WEBHOOK_URL", "")
WEBHOOK_TIMEOUT_S = 2.0
MAX_PENDING_WEBHOOKS = 100

# With PAYMENT_API_URL set, every order placed is charged at the payments partner before it is answered.
PAYMENT_API_URL = os.environ.get("PAYMENT_API_URL", "").rstrip("/")
PAYMENT_TIMEOUT_S = 2.0
# The payment call's retry policy (new in 2.0): a failed attempt (5xx, 429, no answer) is retried after 10 ms,
# doubling (10, 20, 40 ... 1280 ms), up to 8 times, so that fewer orders are left with their payment pending.
PAYMENT_RETRIES = 8


def payment_backoff_s(retry: int) -> float:
    """The wait before retry number `retry` (1-based): 10 ms, doubling."""
    return 0.01 * 2 ** (retry - 1)

ORDER_COLUMNS = "id, customer_id, product_id, quantity, total_cents, currency, status, created_at"
PRODUCT_COLUMNS = "id, sku, name, description, price_cents, created_at"

log = logging.getLogger("shop")


@dataclass
class State:
    dsn: str
    pool_size: int
    pool: asyncpg.Pool | None = None
    reported_sqlstates: set[str] = field(default_factory=set)
    webhooks: aiohttp.ClientSession | None = None
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    webhook_failed: bool = False
    payments: aiohttp.ClientSession | None = None
    payment_failed: bool = False


STATE = web.AppKey("state", State)


def to_json(value: Any) -> str:
    def default(obj: Any) -> str:
        if isinstance(obj, dt.datetime | dt.date):
            return obj.isoformat()
        raise TypeError(f"not JSON serializable: {type(obj).__name__}")

    return json.dumps(value, default=default)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=to_json)


def json_error(exc_class: type[web.HTTPException], message: str) -> web.HTTPException:
    return exc_class(text=json.dumps({"error": message}), content_type="application/json")


def record(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row.items())


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    value = int(raw) if len(raw) <= 19 else 0
    if not 1 <= value <= MAX_BIGINT:
        raise json_error(web.HTTPNotFound, f"{name} out of range")
    return value


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise json_error(web.HTTPBadRequest, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise json_error(web.HTTPBadRequest, f"{name} must be between {low} and {high}")
    return value


def body_int(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise json_error(web.HTTPBadRequest, f"{name} must be an integer between {low} and {high}")
    return value


def body_currency(body: dict[str, Any]) -> str:
    value = body.get("currency", DEFAULT_CURRENCY)
    if not isinstance(value, str) or CURRENCY_CODE.fullmatch(value) is None:
        raise json_error(web.HTTPBadRequest, "currency must be a 3-letter ISO 4217 code")
    return value


def like_prefix(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def pool_of(request: web.Request) -> asyncpg.Pool:
    pool = request.app[STATE].pool
    if pool is None:
        raise json_error(web.HTTPServiceUnavailable, "database pool not ready")
    return pool


async def fetch(request: web.Request, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with pool_of(request).acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        return await conn.fetch(sql, *args)


async def fetchrow(request: web.Request, sql: str, *args: Any) -> asyncpg.Record | None:
    async with pool_of(request).acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        return await conn.fetchrow(sql, *args)


def database_error(state: State, exc: asyncpg.PostgresError) -> web.Response:
    sqlstate = exc.sqlstate or ""
    if sqlstate not in state.reported_sqlstates:
        state.reported_sqlstates.add(sqlstate)
        log.warning("database error %s: %s", sqlstate, exc)
    status = 503 if sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES else 500
    return json_response({"error": str(exc) or type(exc).__name__, "sqlstate": exc.sqlstate}, status)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except asyncpg.PostgresError as exc:
        return database_error(request.app[STATE], exc)
    except TimeoutError:
        return json_response({"error": "database pool acquire timeout", "sqlstate": None}, 503)
    except (OSError, asyncpg.InterfaceError) as exc:
        return json_response({"error": f"database unavailable: {exc}", "sqlstate": None}, 503)
    except Exception as exc:
        log.exception("unhandled error")
        return json_response({"error": f"internal error: {type(exc).__name__}", "sqlstate": None}, 500)


async def health(request: web.Request) -> web.Response:
    if request.app[STATE].pool is None:
        return json_response({"status": "starting", "version": VERSION}, 503)
    await fetchrow(request, "SELECT 1")
    return json_response({"status": "ok", "version": VERSION})


async def list_products(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 20, 1, 100)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    rows = await fetch(
        request, f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT $1 OFFSET $2", limit, offset
    )
    return json_response({"products": [record(r) for r in rows], "limit": limit, "offset": offset})


async def get_product(request: web.Request) -> web.Response:
    row = await fetchrow(request, f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1", path_id(request))
    if row is None:
        raise json_error(web.HTTPNotFound, "product not found")
    return json_response(record(row))


async def search_products(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    if not q or len(q) > 100:
        raise json_error(web.HTTPBadRequest, "q must be 1 to 100 characters")
    rows = await fetch(
        request,
        f"SELECT {PRODUCT_COLUMNS} FROM products WHERE lower(name) LIKE $1 ORDER BY name, id LIMIT 20",
        like_prefix(q),
    )
    return json_response({"query": q, "products": [record(r) for r in rows]})


async def place_order(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        raise json_error(web.HTTPBadRequest, "body must be JSON") from None
    if not isinstance(body, dict):
        raise json_error(web.HTTPBadRequest, "body must be a JSON object")
    customer_id = body_int(body, "customer_id", 1, MAX_BIGINT)
    product_id = body_int(body, "product_id", 1, MAX_BIGINT)
    quantity = body_int(body, "quantity", 1, 1000)
    currency = body_currency(body)
    try:
        row = await fetchrow(
            request,
            "INSERT INTO orders (customer_id, product_id, quantity, total_cents, currency)"
            " SELECT $1, p.id, $3, p.price_cents * $3, $4 FROM products p WHERE p.id = $2"
            f" RETURNING {ORDER_COLUMNS}",
            customer_id,
            product_id,
            quantity,
            currency,
        )
    except asyncpg.ForeignKeyViolationError:
        raise json_error(web.HTTPNotFound, "customer not found") from None
    if row is None:
        raise json_error(web.HTTPNotFound, "product not found")
    order = record(row)
    state = request.app[STATE]
    if state.payments is not None:
        order["payment"] = await charge(state, order)
    if state.webhooks is not None and len(state.pending) < MAX_PENDING_WEBHOOKS:
        task = asyncio.create_task(notify(state, order))
        state.pending.add(task)
        task.add_done_callback(state.pending.discard)
    return json_response(order, 201)


async def notify(state: State, order: dict[str, Any]) -> None:
    """Post an order.created event to the webhook; failures are logged once, never raised."""
    assert state.webhooks is not None
    try:
        async with state.webhooks.post(WEBHOOK_URL, data=to_json({"event": "order.created", "order": order}),
                                       headers={"Content-Type": "application/json"}) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        if not state.webhook_failed:
            state.webhook_failed = True
            log.warning("order webhook failed: %s", exc)


async def charge(state: State, order: dict[str, Any]) -> str:
    """Charge a placed order at the payments partner: "charged", "declined" (a 4xx), or "pending" when every
    attempt failed (the order stands; its charge is left for later). Every attempt carries the order's idempotency
    key and its attempt number."""
    assert state.payments is not None
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"order-{order['id']}"}
    payload = to_json({"order_id": order["id"], "amount_cents": order["total_cents"]})
    for attempt in range(1, PAYMENT_RETRIES + 2):
        if attempt > 1:
            await asyncio.sleep(payment_backoff_s(attempt - 1))
        try:
            async with state.payments.post(PAYMENT_API_URL + "/v1/charges", data=payload,
                                           headers=headers | {"X-Attempt": str(attempt)}) as response:
                await response.read()
                if response.status < 400:
                    return "charged"
                if response.status < 500 and response.status != 429:
                    return "declined"
                failure = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if not state.payment_failed:
            state.payment_failed = True
            log.warning("payment attempt failed (%s); retrying as the policy says", failure)
    return "pending"


async def get_order(request: web.Request) -> web.Response:
    row = await fetchrow(request, f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1", path_id(request))
    if row is None:
        raise json_error(web.HTTPNotFound, "order not found")
    return json_response(record(row))


async def customer_orders(request: web.Request) -> web.Response:
    customer_id = path_id(request)
    rows = await fetch(
        request,
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 10",
        customer_id,
    )
    return json_response({"customer_id": customer_id, "orders": [record(r) for r in rows]})


async def connect(state: State) -> None:
    while True:
        try:
            state.pool = await asyncpg.create_pool(
                state.dsn,
                min_size=min(2, state.pool_size),
                max_size=state.pool_size,
                server_settings={"application_name": f"shop-{VERSION}"},
            )
            return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("database not reachable yet: %s", exc)
            await asyncio.sleep(0.5)


async def close_pool(state: State) -> None:
    pool, state.pool = state.pool, None
    if pool is None:
        return
    try:
        await asyncio.wait_for(pool.close(), SHUTDOWN_TIMEOUT_S)
    except TimeoutError:
        pool.terminate()


async def database(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    task = asyncio.create_task(connect(state))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await close_pool(state)


async def webhooks(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    if WEBHOOK_URL:
        state.webhooks = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S))
    yield
    for task in list(state.pending):
        task.cancel()
    await asyncio.gather(*state.pending, return_exceptions=True)
    if state.webhooks is not None:
        await state.webhooks.close()


async def payments(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    if PAYMENT_API_URL:
        state.payments = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PAYMENT_TIMEOUT_S))
    yield
    if state.payments is not None:
        await state.payments.close()


def create_app(dsn: str, pool_size: int) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[STATE] = State(dsn=dsn, pool_size=pool_size)
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(payments)
    app.cleanup_ctx.append(webhooks)
    app.add_routes(
        [
            web.get("/health", health),
            web.get("/products", list_products),
            web.get(r"/products/{id:\d+}", get_product),
            web.get("/search", search_products),
            web.post("/orders", place_order),
            web.get(r"/orders/{id:\d+}", get_order),
            web.get(r"/customers/{id:\d+}/orders", customer_orders),
        ]
    )
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ["PORT"])
    app = create_app(os.environ["DATABASE_URL"], max(1, int(os.environ.get("POOL_SIZE", "10"))))
    log.info("shop %s listening on %s:%d", VERSION, host, port)
    web.run_app(app, host=host, port=port, access_log=None, print=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)


if __name__ == "__main__":
    main()
