"""The apps a malformed request is tried on, each in this process on a real database: the
legacy shop through Flask's test client, the services through ASGI transports; the services
for the fuzz, on one database and Redis of their own; and the integration suite's gateway
processes and echo upstreams."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from flask.testing import FlaskClient

from legacy_app import app as legacy
from migrations import history
from new_services.catalog.app import create_app as catalog_app
from new_services.catalog.settings import CatalogSettings
from new_services.payments.app import create_app as payments_app
from new_services.payments.settings import PaymentsSettings
from new_services.users.app import create_app as users_app
from new_services.users.settings import UsersSettings
from stand_ins.payments.app import create_app as provider_app
from stand_ins.payments.settings import PaymentsSettings as ProviderSettings
from tests.conftest import stack_database_url
from tests.integration.gateways import gateway, upstreams  # noqa: F401 (fixtures)
from tests.integration.inprocess import Shop, in_process_shop
from tests.integration.migrating import engine_at
from tests.security.services import Where, expanded_database

PROVIDER = "http://provider.test"


@pytest.fixture
def legacy_shop(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    app = legacy.create_app()
    try:
        yield app.test_client()
    finally:
        legacy.ENGINE.dispose()  # SMELL(global-state): the app keeps it in a global


@pytest.fixture
def expanded_database_url(fresh_database_url: str) -> str:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    return fresh_database_url


@pytest.fixture
async def catalog(expanded_database_url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    namespace = f"security-{uuid.uuid4().hex[:12]}"
    app = catalog_app(CatalogSettings(expanded_database_url, redis_url, namespace))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://catalog.test"
        ) as client,
    ):
        yield client


@pytest.fixture
async def users(expanded_database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = users_app(UsersSettings(expanded_database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://users.test"
        ) as client,
    ):
        yield client


@pytest.fixture
async def payments(
    expanded_database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The payments service and the provider stand-in it charges."""
    provider = provider_app(ProviderSettings(db_path=tmp_path / "provider.db"))
    app = payments_app(
        PaymentsSettings(expanded_database_url, PROVIDER),
        provider=httpx.ASGITransport(app=provider),
    )
    async with AsyncExitStack() as stack:
        for each in (provider, app):
            await stack.enter_async_context(each.router.lifespan_context(each))
        service = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://payments.test"
        )
        charges = httpx.AsyncClient(transport=httpx.ASGITransport(app=provider), base_url=PROVIDER)
        yield await stack.enter_async_context(service), await stack.enter_async_context(charges)


@pytest.fixture
async def shop(
    fresh_database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Shop]:
    """The gateway with checkout routed to the orders service, and its neighbours."""
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    namespace = f"security-{uuid.uuid4().hex[:8]}"
    async with in_process_shop(fresh_database_url, redis_url, tmp_path, namespace) as shop:
        yield shop


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Where]:
    """A database at the expanded schema (a new PostgreSQL database on DATABASE_URL's
    server, dropped with the run's, or a SQLite file), and a Redis namespace of its own."""
    home = tmp_path_factory.mktemp("services")
    url = stack_database_url() or f"sqlite:///{home / 'shop.db'}"
    with expanded_database(url):
        yield Where(url, redis_url, f"sec-{uuid.uuid4().hex[:8]}", home)
