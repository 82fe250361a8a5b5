"""The catalog service in-process (its ASGI app over httpx), on a migrated database and a
real Redis: v1 answers as the legacy app does on the same database, soft deletes, v2
pages, ETags and keys, stock holds that never oversell, dry runs, the read cache, and the
client other domains use."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import insert, select, update

from migrations import history
from new_services.catalog import client as catalog_client
from new_services.catalog.app import create_app
from new_services.catalog.settings import CatalogSettings
from new_services.catalog.tables import legacy_now, products
from tests.conftest import free_port_base
from tests.integration.migrating import engine_at
from tests.support import dry_runs

pytestmark = pytest.mark.anyio
PROBLEM = "urn:strangler-kit:problem:"
MISSING_ID = 2_000_000_000
DRY_RUN = {"X-Strangler-Shadow": "dry-run"}
Json = dict[str, Any]


@pytest.fixture
def database(fresh_database_url: str) -> str:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    return fresh_database_url


@pytest.fixture
def settings(database: str, redis_url: str) -> CatalogSettings:
    namespace = f"test-{uuid.uuid4().hex[:12]}"  # a shared Redis may hold other tests' keys
    return CatalogSettings(
        database_url=database, redis_url=redis_url, namespace=namespace, dry_run_key=dry_runs.KEY
    )


@asynccontextmanager
async def serving(settings: CatalogSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, as uvicorn would, behind an in-process client."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://catalog.test", auth=dry_runs.SignDryRuns()
        ) as client,
    ):
        yield client


@pytest.fixture
async def catalog(settings: CatalogSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings) as client:
        yield client


@pytest.fixture
def legacy(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The legacy shop's Flask test client, on the same database."""
    monkeypatch.setenv("DATABASE_URL", database)
    from legacy_app import app as shop

    flask_app = shop.create_app()
    try:
        yield flask_app.test_client()
    finally:
        shop.ENGINE.dispose()


def sku() -> str:
    return f"C-{uuid.uuid4().hex}"


async def make(catalog: httpx.AsyncClient, price_cents: int = 1_000, stock: int = 10) -> Json:
    body = {"sku": sku(), "name": "Teapot", "price_cents": price_cents, "stock": stock}
    response = await catalog.post("/products", json=body)
    assert response.status_code == 201, response.text
    product: Json = response.json()
    return product


async def v2(catalog: httpx.AsyncClient, product_id: int) -> Json:
    response = await catalog.get("/v2/products", params={"legacy_id": product_id})
    [product] = response.json()["products"]
    return dict(product)


async def stock(catalog: httpx.AsyncClient, product_id: int) -> int:
    return int((await catalog.get(f"/products/{product_id}")).json()["stock"])


async def metric(catalog: httpx.AsyncClient, name: str) -> float:
    text = (await catalog.get("/metrics")).text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    return sum(s.value for s in samples if s.name == name)


def lines(*pairs: tuple[int, int]) -> Json:
    return {"lines": [{"product_id": p, "quantity": q} for p, q in pairs]}


# ---------------------------------------------------------------- v1 against legacy

# (method, path, body): {id} is a product of the side's own, SKU a fresh sku, TAKEN the
# side's product's sku; a bytes body is sent as it is.
V1_CASES = [
    ("GET", "/products/{id}", None),
    ("GET", f"/products/{MISSING_ID}", None),
    ("GET", f"/products/{2**64}", None),
    ("POST", "/products", {"sku": "SKU", "name": "New", "price_cents": 0, "stock": 1_000_000}),
    ("POST", "/products", {"sku": "TAKEN", "name": "Copy", "price_cents": 1, "stock": 1}),
    ("POST", "/products", {"sku": "has space", "name": "x", "price_cents": 1, "stock": 1}),
    ("POST", "/products", {"sku": "SKU", "name": "  ", "price_cents": 1, "stock": 1}),
    ("POST", "/products", {"sku": "SKU", "name": "x", "price_cents": 9.5, "stock": 1}),
    ("POST", "/products", {"sku": "SKU", "name": "x", "price_cents": True, "stock": 1}),
    ("POST", "/products", {"sku": "SKU", "name": "x", "price_cents": 1, "stock": 1_000_001}),
    ("POST", "/products", {"sku": "SKU", "name": "x", "colour": "red"}),
    ("POST", "/products", {"name": "x"}),
    ("POST", "/products", b"[1, 2]"),
    ("POST", "/products", b"{not json"),
    ("PATCH", "/products/{id}", {"name": "Renamed", "price_cents": 5, "stock": 0}),
    ("PATCH", "/products/{id}", {}),
    ("PATCH", "/products/{id}", {"sku": "NEW"}),
    ("PATCH", "/products/{id}", {"stock": -1}),
    ("PATCH", "/products/{id}", b"null"),
    ("PATCH", f"/products/{MISSING_ID}", {"name": "Ghost"}),
    ("PATCH", f"/products/{MISSING_ID}", {}),
    ("DELETE", "/products/{id}", None),
    ("DELETE", f"/products/{MISSING_ID}", None),
]


def _request(
    case: tuple[str, str, Any], product: Json, flask: bool = False
) -> tuple[str, str, dict[str, Any]]:
    method, path, body = case
    url = path.replace("{id}", str(product["id"]))
    if isinstance(body, bytes):
        if flask:
            return method, url, {"data": body, "content_type": "application/json"}
        return method, url, {"content": body, "headers": {"content-type": "application/json"}}
    if body is None:
        return method, url, {}
    marks = {"SKU": sku(), "TAKEN": product["sku"]}
    return method, url, {"json": {k: marks.get(v, v) for k, v in body.items()}}


def _normalised(status: int, raw: bytes, product: Json) -> tuple[int, Any]:
    """The answer without what differs between two products: id, sku, the id in a message."""
    body = json.loads(raw) if raw else None
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("id", "sku")}
        if body.get("message") == f"no product {product['id']}":
            body["message"] = "no product {id}"
    return status, body


@pytest.mark.parametrize("case", V1_CASES, ids=lambda case: f"{case[0]} {case[1]} {case[2]!r}")
async def test_v1_answers_each_request_as_the_legacy_app_does(
    catalog: httpx.AsyncClient, legacy: Any, case: tuple[str, str, Any]
) -> None:
    theirs, ours = await make(catalog), await make(catalog)
    method, url, options = _request(case, theirs, flask=True)
    expected = legacy.open(url, method=method, **options)
    method, url, options = _request(case, ours)
    answer = await catalog.request(method, url, **options)

    assert _normalised(answer.status_code, answer.content, ours) == _normalised(
        expected.status_code, expected.data, theirs
    )
    if answer.status_code in (200, 201):
        assert answer.headers.get("content-type") == expected.headers.get("content-type")
    after_theirs = legacy.get(f"/products/{theirs['id']}")
    after_ours = await catalog.get(f"/products/{ours['id']}")
    assert _normalised(after_ours.status_code, after_ours.content, ours) == _normalised(
        after_theirs.status_code, after_theirs.data, theirs
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/products/abc"), ("GET", "/nowhere"), ("PUT", "/products"), ("POST", "/products/1")],
)
async def test_unknown_paths_and_methods_get_the_legacy_error_codes(
    catalog: httpx.AsyncClient, legacy: Any, method: str, path: str
) -> None:
    expected = legacy.open(path, method=method)
    answer = await catalog.request(method, path)
    assert answer.status_code == expected.status_code
    assert answer.json()["error"] == expected.get_json()["error"]


async def test_a_product_reads_the_same_byte_for_byte_whoever_wrote_it(
    catalog: httpx.AsyncClient, legacy: Any
) -> None:
    body = {"sku": sku(), "name": "Théière ☕", "price_cents": 1_999, "stock": 7}
    by_legacy = legacy.post("/products", json=body).get_json()
    by_catalog = await make(catalog)
    for product in (by_legacy, by_catalog):
        path = f"/products/{product['id']}"
        assert (await catalog.get(path)).content == legacy.get(path).data
    assert (await catalog.get("/products")).content == legacy.get("/products").data


async def test_a_deleted_product_is_gone_everywhere_but_keeps_its_row_and_sku(
    catalog: httpx.AsyncClient, settings: CatalogSettings
) -> None:
    product, other = await make(catalog), await make(catalog)
    product_uuid = (await v2(catalog, product["id"]))["id"]
    assert (await catalog.delete(f"/products/{product['id']}")).status_code == 204

    assert (await catalog.get(f"/products/{product['id']}")).json()["error"] == "product_not_found"
    assert (await catalog.get(f"/v2/products/{product_uuid}")).status_code == 404
    assert [p["id"] for p in (await catalog.get("/products")).json()["products"]] == [other["id"]]
    listed = await catalog.get("/v2/products", params={"legacy_id": [product["id"], other["id"]]})
    assert [p["legacy_id"] for p in listed.json()["products"]] == [other["id"]]
    held = await catalog.put(f"/v2/holds/{uuid.uuid4()}", json=lines((product["id"], 1)))
    assert (held.status_code, held.json()["product_id"]) == (422, product["id"])
    assert held.json()["type"] == PROBLEM + "product-unavailable"
    copy = {k: product[k] for k in ("sku", "name", "price_cents", "stock")}
    assert (await catalog.post("/products", json=copy)).json()["error"] == "sku_taken"
    with engine_at(settings.database_url) as engine, engine.connect() as conn:
        row = conn.execute(select(products).where(products.c.id == product["id"])).one()
    assert row.deleted_at is not None  # soft: the row, its orders' references, stay


async def test_a_product_the_catalog_deleted_is_gone_from_the_legacy_apps_lists_and_carts(
    catalog: httpx.AsyncClient, legacy: Any
) -> None:
    gone, kept = await make(catalog, price_cents=900), await make(catalog, price_cents=200)
    user = legacy.post("/users", json={"email": f"{sku()}@example.com", "name": "Bo"}).get_json()
    for product, quantity in ((gone, 1), (kept, 2)):
        line = {"product_id": product["id"], "quantity": quantity}
        assert legacy.post(f"/users/{user['id']}/cart/items", json=line).status_code == 200
    assert (await catalog.delete(f"/products/{gone['id']}")).status_code == 204

    listed = [p["id"] for p in legacy.get("/products").get_json()["products"]]
    assert gone["id"] not in listed and kept["id"] in listed
    cart = legacy.get(f"/users/{user['id']}/cart").get_json()
    assert [line["product_id"] for line in cart["items"]] == [kept["id"]]
    assert cart["subtotal_cents"] == 400
    removal = legacy.delete(f"/users/{user['id']}/cart/items/{gone['id']}")
    assert (removal.status_code, removal.get_json()["error"]) == (404, "item_not_found")
    change = legacy.patch(f"/products/{gone['id']}", json={"price_cents": 1})
    assert change.status_code == 404
    assert legacy.delete(f"/products/{gone['id']}").status_code == 404  # still one soft row


# ---------------------------------------------------------------- v2


async def test_v2_pages_walk_every_product_once_by_id(catalog: httpx.AsyncClient) -> None:
    made = [await make(catalog) for _ in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await catalog.get("/v2/products", params=params)).json()
        seen += [p["legacy_id"] for p in page["products"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [p["id"] for p in made]
    by_sku = await catalog.get("/v2/products", params={"sku": made[3]["sku"]})
    assert [p["legacy_id"] for p in by_sku.json()["products"]] == [made[3]["id"]]
    first = (await catalog.get("/v2/products", params={"limit": 1})).json()["products"][0]
    assert set(first) == {
        "id", "legacy_id", "sku", "name", "price_cents", "stock", "created_at", "updated_at"
    }  # fmt: skip
    assert first["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"legacy_id": "abc"},
        {"legacy_id": [str(i) for i in range(1, 102)]},
        {"cursor": "not-a-cursor"},
    ],
)
async def test_v2_refuses_a_bad_query_with_a_problem(
    catalog: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await catalog.get("/v2/products", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM + "invalid-request"


async def test_v2_etags_answer_304_until_the_product_changes(catalog: httpx.AsyncClient) -> None:
    product = await v2(catalog, (await make(catalog))["id"])
    path = f"/v2/products/{product['id']}"
    first = await catalog.get(path)
    assert first.json() == product
    unchanged = await catalog.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304
    changed = await catalog.patch(path, json={"price_cents": 1})
    assert changed.json()["price_cents"] == 1
    fresh = await catalog.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert (fresh.status_code, fresh.json()["price_cents"]) == (200, 1)
    assert (await catalog.delete(path)).status_code == 204
    gone = await catalog.get(path)
    assert (gone.status_code, gone.json()["type"]) == (404, PROBLEM + "product-not-found")
    assert (await catalog.get("/v2/products/not-a-uuid")).status_code == 404


async def test_v2_create_needs_a_key_and_a_retry_replays_its_answer(
    catalog: httpx.AsyncClient,
) -> None:
    body = {"sku": sku(), "name": "Kettle", "price_cents": 2_500, "stock": 3}
    first = await catalog.post("/v2/products", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"/v2/products/{first.json()['id']}"
    again = await catalog.post("/v2/products", json=body, headers={"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    other = await catalog.post(
        "/v2/products", json={**body, "stock": 4}, headers={"Idempotency-Key": "k-1"}
    )
    assert (other.status_code, other.json()["type"]) == (422, PROBLEM + "idempotency-key-reused")
    assert (await catalog.post("/v2/products", json=body)).status_code == 400
    taken = await catalog.post("/v2/products", json=body, headers={"Idempotency-Key": "k-2"})
    assert (taken.status_code, taken.json()["type"]) == (409, PROBLEM + "sku-taken")
    invalid = await catalog.post(
        "/v2/products", json={**body, "sku": "a b"}, headers={"Idempotency-Key": "k-3"}
    )
    assert (invalid.status_code, invalid.json()["type"]) == (400, PROBLEM + "invalid-request")


# ---------------------------------------------------------------- stock holds


async def test_fifty_concurrent_holds_for_ten_units_get_exactly_ten(
    catalog: httpx.AsyncClient,
) -> None:
    teapot = await make(catalog, stock=10)
    answers = await asyncio.gather(
        *(
            catalog.put(f"/v2/holds/{uuid.uuid4()}", json=lines((teapot["id"], 1)))
            for _ in range(50)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 10 + [409] * 40
    assert {a.json()["product_id"] for a in answers if a.status_code == 409} == {teapot["id"]}
    assert await stock(catalog, teapot["id"]) == 0


async def test_a_hold_is_all_lines_or_none_and_a_retry_holds_nothing_more(
    catalog: httpx.AsyncClient,
) -> None:
    teapot, cups = await make(catalog, stock=5), await make(catalog, stock=1)
    short = await catalog.put(
        f"/v2/holds/{uuid.uuid4()}", json=lines((teapot["id"], 2), (cups["id"], 2))
    )
    assert (short.status_code, short.json()["type"]) == (409, PROBLEM + "out-of-stock")
    assert short.json()["product_id"] == cups["id"]
    assert (await stock(catalog, teapot["id"]), await stock(catalog, cups["id"])) == (5, 1)

    hold = f"/v2/holds/{uuid.uuid4()}"
    body = lines((cups["id"], 1), (teapot["id"], 2))
    made = await catalog.put(hold, json=body)
    assert (made.status_code, made.json()["state"]) == (201, "held")
    again = await catalog.put(hold, json=body)
    assert (again.status_code, again.json()) == (200, made.json())
    assert (await stock(catalog, teapot["id"]), await stock(catalog, cups["id"])) == (3, 0)
    other = await catalog.put(hold, json=lines((teapot["id"], 1)))
    assert (other.status_code, other.json()["type"]) == (422, PROBLEM + "hold-mismatch")
    assert (await catalog.get(hold)).json() == made.json()


async def test_a_release_puts_units_back_once_and_a_commit_keeps_them_out(
    catalog: httpx.AsyncClient,
) -> None:
    teapot = await make(catalog, stock=5)
    failed, paid = f"/v2/holds/{uuid.uuid4()}", f"/v2/holds/{uuid.uuid4()}"
    await catalog.put(failed, json=lines((teapot["id"], 2)))
    await catalog.put(paid, json=lines((teapot["id"], 3)))
    assert await stock(catalog, teapot["id"]) == 0

    for _ in range(2):  # and only once
        released = await catalog.post(failed + "/release")
        assert (released.status_code, released.json()["state"]) == (200, "released")
        assert await stock(catalog, teapot["id"]) == 2
    late = await catalog.post(failed + "/commit")
    assert (late.status_code, late.json()["type"]) == (409, PROBLEM + "hold-released")

    for _ in range(2):
        committed = await catalog.post(paid + "/commit")
        assert (committed.status_code, committed.json()["state"]) == (200, "committed")
    kept = await catalog.post(paid + "/release")
    assert (kept.status_code, kept.json()["state"]) == (200, "committed")
    assert await stock(catalog, teapot["id"]) == 2

    unknown = await catalog.post(f"/v2/holds/{uuid.uuid4()}/release")
    assert (unknown.status_code, unknown.json()["type"]) == (404, PROBLEM + "hold-not-found")
    assert (await catalog.post(f"/v2/holds/{uuid.uuid4()}/commit")).status_code == 404


async def test_a_restock_puts_units_back_once_per_key_and_skips_deleted_products(
    catalog: httpx.AsyncClient,
) -> None:
    teapot, gone = await make(catalog, stock=1), await make(catalog, stock=1)
    await catalog.delete(f"/products/{gone['id']}")
    body = lines((teapot["id"], 4), (gone["id"], 2))
    first = await catalog.post("/v2/restocks", json=body, headers={"Idempotency-Key": "r-1"})
    assert first.status_code == 201, first.text
    assert first.json()["lines"] == [{"product_id": teapot["id"], "quantity": 4}]
    assert first.json()["skipped"] == [gone["id"]]
    again = await catalog.post("/v2/restocks", json=body, headers={"Idempotency-Key": "r-1"})
    assert (again.json(), again.headers["idempotent-replayed"]) == (first.json(), "true")
    assert await stock(catalog, teapot["id"]) == 5
    assert (await catalog.post("/v2/restocks", json=body)).status_code == 400


# ---------------------------------------------------------------- dry runs


async def test_a_dry_run_answers_like_the_real_write_and_leaves_no_trace(
    catalog: httpx.AsyncClient,
) -> None:
    teapot = await make(catalog, stock=2)
    body = {"sku": sku(), "name": "Kettle", "price_cents": 1, "stock": 1}
    created = await catalog.post("/products", json=body, headers=DRY_RUN)
    assert (created.status_code, created.headers["x-strangler-dry-run"]) == (201, "true")
    assert (await catalog.get(f"/products/{created.json()['id']}")).status_code == 404
    changed = await catalog.patch(f"/products/{teapot['id']}", json={"stock": 9}, headers=DRY_RUN)
    assert changed.json()["stock"] == 9 and await stock(catalog, teapot["id"]) == 2
    deleted = await catalog.delete(f"/products/{teapot['id']}", headers=DRY_RUN)
    assert deleted.status_code == 204 and await stock(catalog, teapot["id"]) == 2

    hold = f"/v2/holds/{uuid.uuid4()}"
    assert (
        await catalog.put(hold, json=lines((teapot["id"], 2)), headers=DRY_RUN)
    ).status_code == 201
    short = await catalog.put(hold, json=lines((teapot["id"], 3)), headers=DRY_RUN)
    assert short.status_code == 409
    assert (await catalog.get(hold)).status_code == 404 and await stock(catalog, teapot["id"]) == 2

    keyed = {"Idempotency-Key": "dry-1"}
    restock = await catalog.post(
        "/v2/restocks", json=lines((teapot["id"], 5)), headers={**keyed, **DRY_RUN}
    )
    assert restock.status_code == 201 and await stock(catalog, teapot["id"]) == 2
    real = await catalog.post("/v2/restocks", json=lines((teapot["id"], 5)), headers=keyed)
    assert "idempotent-replayed" not in real.headers  # the dry run kept no key
    assert await stock(catalog, teapot["id"]) == 7

    made = await catalog.put(hold, json=lines((teapot["id"], 1)))
    assert (await catalog.post(hold + "/commit", headers=DRY_RUN)).json()["state"] == "committed"
    assert (await catalog.post(hold + "/release", headers=DRY_RUN)).json()["state"] == "released"
    assert (await catalog.get(hold)).json() == made.json()  # still held


# ---------------------------------------------------------------- the read cache


async def test_a_cached_product_is_served_from_redis_until_a_write_drops_it(
    catalog: httpx.AsyncClient,
) -> None:
    product = await make(catalog)
    path = f"/products/{product['id']}"
    hits, misses = (
        await metric(catalog, "catalog_cache_hits_total"),
        await metric(catalog, "catalog_cache_misses_total"),
    )
    await catalog.get(path)
    await catalog.get(path)
    assert await metric(catalog, "catalog_cache_hits_total") == hits + 1
    assert await metric(catalog, "catalog_cache_misses_total") == misses + 1
    await catalog.patch(path, json={"price_cents": 77})
    assert (await catalog.get(path)).json()["price_cents"] == 77
    assert await metric(catalog, "catalog_cache_misses_total") == misses + 2
    await catalog.put(f"/v2/holds/{uuid.uuid4()}", json=lines((product["id"], 3)))
    assert (await v2(catalog, product["id"]))["stock"] == 7  # a hold changes the product too


async def test_a_write_on_one_instance_is_seen_at_once_by_another(
    catalog: httpx.AsyncClient, settings: CatalogSettings
) -> None:
    product = await make(catalog)
    path = f"/products/{product['id']}"
    async with serving(settings) as other:
        assert (await other.get(path)).json() == product  # now cached
        await catalog.patch(path, json={"name": "Renamed"})
        assert (await other.get(path)).json()["name"] == "Renamed"


async def test_a_stock_move_around_the_catalog_is_seen_within_the_ttl(
    settings: CatalogSettings,
) -> None:
    """A price moved around the catalog is seen at once (test_product_generation.py);
    stock is not counted there, so it keeps the TTL bound."""
    async with serving(replace(settings, cache_ttl_s=1.0)) as catalog:
        product = await make(catalog)
        path = f"/products/{product['id']}"
        await catalog.get(path)
        with engine_at(settings.database_url) as engine, engine.begin() as conn:
            conn.execute(  # as the legacy app's checkout writes, with no word to the catalog
                update(products).where(products.c.id == product["id"]).values(stock=5)
            )
        assert (await catalog.get(path)).json()["stock"] == 10  # stale, within the TTL
        await asyncio.sleep(1.2)
        assert (await catalog.get(path)).json()["stock"] == 5


async def test_with_redis_down_every_read_and_write_still_answers(
    settings: CatalogSettings,
) -> None:
    down = replace(settings, redis_url=f"redis://127.0.0.1:{free_port_base()}/0")
    async with serving(down) as catalog:
        product = await make(catalog)
        path = f"/products/{product['id']}"
        assert (await catalog.get(path)).json() == product
        assert (await catalog.patch(path, json={"stock": 3})).status_code == 200
        assert (await v2(catalog, product["id"]))["stock"] == 3
        assert await metric(catalog, "catalog_cache_errors_total") >= 3
        assert await metric(catalog, "catalog_cache_hits_total") == 0


async def test_cache_keys_stay_under_the_stacks_namespace(
    catalog: httpx.AsyncClient, settings: CatalogSettings
) -> None:
    product = await make(catalog)
    await catalog.get(f"/v2/products/{(await v2(catalog, product['id']))['id']}")
    redis = Redis.from_url(settings.redis_url)
    try:
        ours = [key.decode() for key in redis.scan_iter(f"{settings.namespace}:*")]
    finally:
        redis.close()
    assert f"{settings.namespace}:catalog:product:{product['id']}" in ours


# ---------------------------------------------------------------- the client


async def test_the_client_prices_many_products_and_holds_releases_commits_restocks(
    catalog: httpx.AsyncClient, settings: CatalogSettings
) -> None:
    now = legacy_now()
    with engine_at(settings.database_url) as engine, engine.begin() as conn:
        rows = [
            {"sku": sku(), "name": f"P{n}", "price_cents": n, "stock": 1, "created_at": now}
            for n in range(150)
        ]
        conn.execute(insert(products), [{**row, "updated_at": now} for row in rows])
        ids = list(conn.execute(select(products.c.id).order_by(products.c.id)).scalars())
    await catalog.delete(f"/products/{ids[0]}")
    client = catalog_client.CatalogClient(catalog, dry_runs.KEY)

    found = await client.products([*ids, MISSING_ID, 2**64])
    assert sorted(found) == ids[1:]
    assert found[ids[7]].price_cents == 7 and found[ids[7]].name == "P7"

    hold = uuid.uuid4()
    await client.reserve(hold, [(ids[1], 1)], dry_run=True)
    assert (await catalog.get(f"/v2/holds/{hold}")).status_code == 404
    await client.reserve(hold, [(ids[1], 1)])
    await client.reserve(hold, [(ids[1], 1)])  # a retry
    with pytest.raises(catalog_client.NotEnoughStock) as short:
        await client.reserve(uuid.uuid4(), [(ids[1], 1)])
    assert short.value.product_id == ids[1]
    with pytest.raises(catalog_client.ProductUnavailable):
        await client.reserve(uuid.uuid4(), [(ids[0], 1)])
    await client.release(hold)
    await client.release(uuid.uuid4())  # nothing was held: fine
    with pytest.raises(catalog_client.HoldReleased):
        await client.commit(hold)
    with pytest.raises(catalog_client.HoldReleased):
        await client.reserve(hold, [(ids[1], 1)])

    sold = uuid.uuid4()
    await client.reserve(sold, [(ids[2], 1)])
    await client.commit(sold)
    await client.restock("cancel-1", [(ids[2], 1)])
    await client.restock("cancel-1", [(ids[2], 1)])
    assert (await client.products([ids[1], ids[2]]))[ids[2]].stock == 1
