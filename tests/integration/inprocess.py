"""The shop's services assembled in this process: the real apps on a real database and
Redis, wired to one another by ASGI transports instead of sockets; the provider stand-in is
its real app, and the legacy app shares the database (its Flask test client).

For tests that need every span or every answer in one process (tracing, the orders API);
`strangler up` and tests/e2e cover the same wiring across real processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from flask.testing import FlaskClient
from sqlalchemy import Engine, insert

from gateway.app import create_gateway
from gateway.settings import GatewaySettings
from gateway.upstream import Headers, UpstreamResponse
from legacy_app import app as legacy
from legacy_app import db
from migrations import history
from new_services.catalog.app import create_app as catalog_app
from new_services.catalog.settings import CatalogSettings
from new_services.orders.app import create_app as orders_app
from new_services.orders.settings import OrdersSettings
from new_services.payments.app import create_app as payments_app
from new_services.payments.settings import PaymentsSettings
from new_services.users.app import create_app as users_app
from new_services.users.settings import UsersSettings
from stand_ins.payments.app import create_app as provider_app
from stand_ins.payments.settings import PaymentsSettings as ProviderSettings
from tests.integration.migrating import engine_at
from tests.support import dry_runs

USERS, CATALOG, PAYMENTS, PROVIDER = (
    "http://users.test",
    "http://catalog.test",
    "http://payments.test",
    "http://provider.test",
)
ROUTES_FILE = """
[upstreams]
legacy = "http://legacy.test"
orders = "http://orders.test"

[[routes]]
name = "carts-and-checkout"
match = ["/users/{user_id}/cart/**", "/users/{user_id}/checkout"]
extracted = "orders"
mode = "extracted"
fallback = false
"""


class InProcessUpstream:
    """The gateway's upstream interface, answered by an ASGI app in this process."""

    def __init__(self, app: Any) -> None:
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes | AsyncIterator[bytes],
        timeout_s: float,
        connect_timeout_s: float,
    ) -> UpstreamResponse:
        content = body if isinstance(body, bytes) else b"".join([c async for c in body])
        answer = await self._client.request(method, url, headers=list(headers), content=content)

        async def chunks() -> AsyncIterator[bytes]:
            yield answer.content

        return UpstreamResponse(answer.status_code, list(answer.headers.items()), chunks())

    async def close(self) -> None:
        await self._client.aclose()


@dataclass
class Shop:
    engine: Engine
    shop: httpx.AsyncClient  # through the gateway, checkout routed to orders
    orders: httpx.AsyncClient  # the orders service itself (v2)
    provider: httpx.AsyncClient  # the provider stand-in (what was charged)
    payments: httpx.AsyncClient  # the payments service itself (v2)
    legacy: FlaskClient  # the legacy app on the same database (and provider)

    def buyer(self, stock: int = 5, price_cents: int = 1_999) -> tuple[int, int]:
        """A new user and a new product (written as the legacy app writes them)."""
        now = datetime(2026, 11, 28, 12, 0)
        with self.engine.begin() as conn:
            user = conn.execute(
                insert(db.users).values(
                    email=f"{uuid.uuid4().hex}@example.com", name="Ada", created_at=now
                )
            ).inserted_primary_key[0]
            product = conn.execute(
                insert(db.products).values(
                    sku=uuid.uuid4().hex[:12],
                    name="Teapot",
                    price_cents=price_cents,
                    stock=stock,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
        return int(user), int(product)

    async def fill_cart(self, user: int, product: int, quantity: int = 1) -> None:
        line = {"product_id": product, "quantity": quantity}
        added = await self.shop.post(f"/users/{user}/cart/items", json=line)
        assert added.status_code == 200, added.text


@asynccontextmanager
async def in_process_shop(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    namespace: str,
    traced: bool = False,
    provider_url: str | None = None,
) -> AsyncIterator[Shop]:
    """Needs DATABASE_URL set to `database_url` (the legacy app reads it at creation).
    `provider_url`: a provider process the payments service calls (the one legacy calls,
    PAYMENTS_URL), instead of the stand-in's app in this process."""
    with engine_at(database_url) as engine:
        history.upgrade(engine, "expand")
        legacy_shop = legacy.create_app().test_client()
        legacy_engine = legacy.ENGINE  # SMELL(global-state): the app keeps it in a global
        provider = provider_app(ProviderSettings(db_path=tmp_path / "provider.db"))
        apps = {
            CATALOG: catalog_app(
                CatalogSettings(database_url, redis_url, namespace, dry_run_key=dry_runs.KEY)
            ),
            PAYMENTS: payments_app(
                PaymentsSettings(database_url, provider_url or PROVIDER, dry_run_key=dry_runs.KEY),
                provider=None if provider_url else httpx.ASGITransport(app=provider),
            ),
            USERS: users_app(UsersSettings(database_url, dry_run_key=dry_runs.KEY)),
        }
        transports: dict[str, httpx.AsyncBaseTransport] = {
            url: httpx.ASGITransport(app=app) for url, app in apps.items()
        }
        orders = orders_app(
            OrdersSettings(database_url, USERS, CATALOG, PAYMENTS, dry_run_key=dry_runs.KEY),
            transports=transports,
        )
        routes = tmp_path / "routes.toml"
        routes.write_text(ROUTES_FILE)
        gateway = create_gateway(
            replace(
                GatewaySettings(), routes_file=routes, tracing=traced, dry_run_key=dry_runs.KEY
            ),
            upstream=InProcessUpstream(orders),
        )
        async with AsyncExitStack() as stack:
            for app in (provider, *apps.values(), orders):
                await stack.enter_async_context(app.router.lifespan_context(app))
            await gateway.start()
            stack.push_async_callback(gateway.stop)
            stack.callback(legacy_engine.dispose)

            def client(app: Any, base: str) -> httpx.AsyncClient:
                transport = None if app is None else httpx.ASGITransport(app=app)
                auth = dry_runs.SignDryRuns()  # a test's dry runs, signed as the gateway does
                return httpx.AsyncClient(transport=transport, base_url=base, auth=auth)

            async with (
                client(gateway.public, "http://shop.test") as shop,
                client(orders, "http://orders.test") as direct,
                client(None if provider_url else provider, provider_url or PROVIDER) as charges,
                client(apps[PAYMENTS], PAYMENTS) as payments,
            ):
                yield Shop(engine, shop, direct, charges, payments, legacy_shop)
