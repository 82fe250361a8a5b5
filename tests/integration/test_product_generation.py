"""While both serve, each side sees the other's product writes at once (migrations 0005g):
a price the catalog changes and a product it deletes softly, in the carts and lookups
legacy serves from its process-global cache; a price one legacy process changes, in
another's; a price legacy changes, in the catalog's Redis cache. On SQLite and PostgreSQL."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert, select, update

from legacy_app import app as legacy_app
from migrations import history
from new_services.catalog.app import create_app as catalog_app
from new_services.catalog.settings import CatalogSettings
from new_services.catalog.tables import legacy_now, product_generation, products
from strangler.parts import Part
from strangler.runner import running
from tests.conftest import free_port_base
from tests.integration.migrating import engine_at
from tests.integration.processes import ROOT

pytestmark = pytest.mark.anyio
Json = dict[str, Any]


@pytest.fixture
def database(fresh_database_url: str) -> str:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    return fresh_database_url


@pytest.fixture
async def catalog(database: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = CatalogSettings(
        database_url=database, redis_url=redis_url, namespace=f"test-{uuid.uuid4().hex[:12]}"
    )
    app = catalog_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://catalog.test"
        ) as client,
    ):
        yield client


@pytest.fixture
def legacy(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    """Legacy in this process, its product cache in this process's memory."""
    monkeypatch.setenv("DATABASE_URL", database)
    app = legacy_app.create_app()
    try:
        yield app.test_client()
    finally:
        legacy_app.ENGINE.dispose()  # SMELL(global-state)


@pytest.fixture
def other_legacy(database: str, tmp_path: Path) -> Iterator[httpx.Client]:
    """A second legacy process (gunicorn, as the runner starts it), its own cache."""
    port = free_port_base()
    url = f"http://127.0.0.1:{port}"
    part = Part(
        name="legacy-other",
        argv=(sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4",
              "--bind", f"127.0.0.1:{port}", "legacy_app.app:create_app()"),
        ports=(port,),
        url=url,
        health=url + "/healthz",
        env={"DATABASE_URL": database, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    with running(part, tmp_path), httpx.Client(base_url=url, timeout=10) as client:
        yield client


def new_product(legacy: FlaskClient, price_cents: int = 1_000) -> Json:
    body = {"sku": uuid.uuid4().hex[:12], "name": "Teapot", "price_cents": price_cents, "stock": 9}
    made = legacy.post("/products", json=body)
    assert made.status_code == 201
    product: Json = made.get_json()
    return product


def cart_with(legacy: FlaskClient, product: Json, quantity: int) -> int:
    """A new user whose cart holds `quantity` of `product` (legacy caches the product)."""
    user = legacy.post("/users", json={"email": f"{uuid.uuid4().hex}@x.test", "name": "Bo"})
    user_id = int(user.get_json()["id"])
    line = {"product_id": product["id"], "quantity": quantity}
    assert legacy.post(f"/users/{user_id}/cart/items", json=line).status_code == 200
    return user_id


async def test_a_price_the_catalog_changes_shows_at_once_in_a_cart_legacy_serves(
    legacy: FlaskClient, catalog: httpx.AsyncClient
) -> None:
    product = new_product(legacy, price_cents=1_000)
    user = cart_with(legacy, product, 3)
    assert legacy.get(f"/users/{user}/cart").get_json()["subtotal_cents"] == 3_000  # cached

    change = {"price_cents": 1_100, "name": "Dearer"}
    assert (await catalog.patch(f"/products/{product['id']}", json=change)).status_code == 200

    cart = legacy.get(f"/users/{user}/cart").get_json()
    assert [(i["name"], i["unit_price_cents"]) for i in cart["items"]] == [("Dearer", 1_100)]
    assert cart["subtotal_cents"] == 3_300
    assert legacy.get(f"/products/{product['id']}").get_json()["price_cents"] == 1_100


async def test_a_product_the_catalog_deletes_is_gone_at_once_from_legacy_s_lookups(
    legacy: FlaskClient, catalog: httpx.AsyncClient
) -> None:
    product = new_product(legacy)
    assert legacy.get(f"/products/{product['id']}").status_code == 200  # now cached

    assert (await catalog.delete(f"/products/{product['id']}")).status_code == 204

    assert legacy.get(f"/products/{product['id']}").get_json()["error"] == "product_not_found"
    user = legacy.post("/users", json={"email": f"{uuid.uuid4().hex}@x.test", "name": "Bo"})
    line = {"product_id": product["id"], "quantity": 1}
    added = legacy.post(f"/users/{user.get_json()['id']}/cart/items", json=line)
    assert (added.status_code, added.get_json()["error"]) == (404, "product_not_found")


async def test_a_price_legacy_changes_shows_at_once_in_the_catalog(
    legacy: FlaskClient, catalog: httpx.AsyncClient
) -> None:
    product = new_product(legacy, price_cents=1_000)
    path = f"/products/{product['id']}"
    assert (await catalog.get(path)).json()["price_cents"] == 1_000  # now in Redis

    assert legacy.patch(path, json={"price_cents": 1_250}).status_code == 200

    assert (await catalog.get(path)).json()["price_cents"] == 1_250
    assert legacy.delete(path).status_code == 204  # legacy's hard delete, too
    assert (await catalog.get(path)).json()["error"] == "product_not_found"


def test_a_price_one_legacy_process_changes_shows_at_once_in_another(
    legacy: FlaskClient, other_legacy: httpx.Client
) -> None:
    product = new_product(legacy, price_cents=1_000)
    user = cart_with(legacy, product, 2)
    path = f"/products/{product['id']}"
    assert other_legacy.get(path).json()["price_cents"] == 1_000  # cached over there

    assert legacy.patch(path, json={"price_cents": 700}).status_code == 200

    assert other_legacy.get(path).json()["price_cents"] == 700
    assert other_legacy.get(f"/users/{user}/cart").json()["subtotal_cents"] == 1_400
    assert other_legacy.patch(path, json={"price_cents": 800}).status_code == 200
    assert legacy.get(f"/users/{user}/cart").get_json()["subtotal_cents"] == 1_600


def test_only_writes_a_cache_must_not_miss_move_the_count(database: str) -> None:
    """Stock moves are left out: checkouts would queue on the one row."""
    teapot = products.c.sku == "G-1"
    with engine_at(database) as engine:

        def count() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(product_generation.c.generation)).scalar_one())

        before = count()
        with engine.begin() as conn:
            conn.execute(
                insert(products).values(
                    sku="G-1", name="Cup", price_cents=5, stock=3,
                    created_at=legacy_now(), updated_at=legacy_now(),
                )
            )  # fmt: skip
            conn.execute(update(products).where(teapot).values(stock=2, updated_at=legacy_now()))
            conn.execute(update(products).where(teapot).values(price_cents=5))  # unchanged
        assert count() == before
        with engine.begin() as conn:
            conn.execute(update(products).where(teapot).values(price_cents=6))
        assert count() == before + 1
