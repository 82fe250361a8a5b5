"""Composition root of the orders service (`uvicorn --factory ...orders.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from new_services.catalog.client import CatalogClient
from new_services.orders.adapters import CatalogAdapter, PaymentsClient, UsersAdapter
from new_services.orders.api_v1 import OrdersApiV1
from new_services.orders.api_v2 import OrdersApiV2, WiringV2
from new_services.orders.checkout import Checkout
from new_services.orders.metrics import CheckoutMetrics
from new_services.orders.openapi import OPENAPI
from new_services.orders.orphans import OrphanPayments
from new_services.orders.repository import SqlCarts, SqlOrderBook
from new_services.orders.service import Orders
from new_services.orders.settings import OrdersSettings
from new_services.platform import tracing
from new_services.platform.clients import service_client
from new_services.platform.database import make_engine
from new_services.platform.idempotency import IdempotencyStore
from new_services.platform.periodic import periodically
from new_services.platform.service_app import service_app
from new_services.users.client import UsersClient


def create_app(
    settings: OrdersSettings | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Starlette:
    """`transports` (tests): the transport to use for a base URL instead of the network."""
    settings = settings or OrdersSettings.from_env()
    tracing.configure("orders")
    wiring = WiringV2()
    registry = CollectorRegistry()
    metrics = CheckoutMetrics(registry)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Everything that holds a connection is made here, once per process, never at import.
        engine = make_engine(settings.database_url)
        async with AsyncExitStack() as stack:
            stack.callback(engine.dispose)

            def client(url: str) -> httpx.AsyncClient:
                timeout = httpx.Timeout(settings.timeout_s, connect=2.0)
                made = service_client(url, timeout, (transports or {}).get(url))
                stack.push_async_callback(made.aclose)
                return made

            customers = UsersAdapter(UsersClient(client(settings.users_url)))
            catalog = CatalogAdapter(
                CatalogClient(client(settings.catalog_url), settings.dry_run_key)
            )
            payments = PaymentsClient(client(settings.payments_url))
            carts, book = SqlCarts(engine), SqlOrderBook(engine)
            wiring.orders = Orders(customers, carts, catalog, payments, book)
            wiring.checkout = Checkout(
                customers, carts, catalog, payments, book, metrics=metrics, rules=settings.pricing
            )
            wiring.keys = IdempotencyStore(engine, lease_s=settings.idempotency_lease_s)
            every = settings.idempotency_purge_every_s
            await stack.enter_async_context(
                periodically("expired idempotency keys dropped", every, wiring.keys.purged)
            )
            await stack.enter_async_context(
                periodically(
                    "cancellations under way finished",
                    settings.finish_cancels_every_s,
                    wiring.orders.finish_cancels,
                )
            )
            orphans = OrphanPayments(
                payments,
                book,
                metrics,
                after=timedelta(seconds=settings.orphan_after_s),
                look_back=timedelta(seconds=settings.orphans_look_back_s),
            )
            await stack.enter_async_context(
                periodically(
                    "payments with no order given back",
                    settings.settle_orphans_every_s,
                    orphans.settle,
                )
            )
            yield

    routes = [*OrdersApiV1(wiring).routes(), *OrdersApiV2(wiring).routes()]
    return service_app(
        "orders",
        routes,
        lifespan,
        OPENAPI,
        registry=registry,
        serves_v1=True,
        dry_run_key=settings.dry_run_key,
    )
