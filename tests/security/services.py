"""The five HTTP services as ASGI apps on one real database and Redis, for the OpenAPI tests
and the fuzz. Each app's lifespan also runs the lifespans of the apps it calls (orders:
catalog, payments, users and the provider stand-in), so whoever starts it (the tests, or
schemathesis' ASGI client) gets a working service, as in tests/integration/inprocess.py."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from legacy_app import app as legacy
from migrations import history
from new_services.analytics.app import create_app as analytics_app
from new_services.analytics.settings import AnalyticsSettings
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

USERS, CATALOG, PAYMENTS, PROVIDER = (
    "http://users.test",
    "http://catalog.test",
    "http://payments.test",
    "http://provider.test",
)
SERVICES = ("orders", "catalog", "payments", "analytics", "users")


@dataclass(frozen=True)
class Where:
    database_url: str
    redis_url: str
    namespace: str
    home: Path


def _with_lifespans_of(app: Starlette, *others: Any) -> Starlette:
    """`app`, whose lifespan first starts those of `others` (and stops them after its own)."""
    own = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: Starlette) -> AsyncIterator[Any]:
        async with AsyncExitStack() as stack:
            for other in others:
                await stack.enter_async_context(other.router.lifespan_context(other))
            state = await stack.enter_async_context(own(running))
            yield state

    app.router.lifespan_context = lifespan
    return app


def service(name: str, where: Where) -> Starlette:
    """The app of service `name`, wired to real dependencies in this process."""
    url, redis, namespace = where.database_url, where.redis_url, where.namespace
    catalog = catalog_app(CatalogSettings(database_url=url, redis_url=redis, namespace=namespace))
    if name == "catalog":
        return catalog
    if name == "analytics":
        return analytics_app(AnalyticsSettings(redis_url=redis, namespace=namespace))
    users = users_app(UsersSettings(database_url=url))
    if name == "users":
        return users
    provider = provider_app(ProviderSettings(db_path=where.home / f"provider-{name}.db"))
    payments = payments_app(
        PaymentsSettings(database_url=url, provider_url=PROVIDER),
        provider=httpx.ASGITransport(app=provider),
    )
    if name == "payments":
        return _with_lifespans_of(payments, provider)
    assert name == "orders", name
    transports: dict[str, httpx.AsyncBaseTransport] = {
        CATALOG: httpx.ASGITransport(app=catalog),
        PAYMENTS: httpx.ASGITransport(app=payments),
        USERS: httpx.ASGITransport(app=users),
    }
    orders = orders_app(
        OrdersSettings(
            database_url=url, users_url=USERS, catalog_url=CATALOG, payments_url=PAYMENTS
        ),
        transports=transports,
    )
    return _with_lifespans_of(orders, provider, catalog, payments, users)


@contextmanager
def expanded_database(database_url: str) -> Iterator[str]:
    """`database_url` brought to the expanded schema, and DATABASE_URL pointing at it for
    as long as the services run (the legacy app reads it when it is made)."""
    with engine_at(database_url) as engine:
        history.upgrade(engine, "expand")
    before = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = database_url
    try:
        yield database_url
    finally:
        if before is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = before
        if legacy.ENGINE is not None:  # SMELL(global-state): the legacy app keeps it
            legacy.ENGINE.dispose()
