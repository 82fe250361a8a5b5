"""Each service's v2 flows walked for real, in this process on a real database and Redis, and
every answer checked against the document the service itself serves at /openapi.json
(tests/security/conformance.py): the successful answers the fuzz (test_fuzz.py) never
reaches, as it has no users, carts or stock, and the 4xx a real flow provokes (unknown ids,
out of stock, a declined card, a key reused with another body). Each test also lists the
(operation, status) pairs it walked, so a flow that stops reaching one fails too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis import Redis

from new_services.analytics.app import create_app as analytics_app
from new_services.analytics.events import OrderCancelled, OrderPlaced
from new_services.analytics.projection import RedisSalesProjection
from new_services.analytics.service import record
from new_services.analytics.settings import AnalyticsSettings
from tests.integration.inprocess import Shop
from tests.security.conformance import Conformance
from tests.unit.analytics.messages import cancelled, placed

pytestmark = pytest.mark.anyio


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def walked(conformance: Conformance) -> set[tuple[str, str, int]]:
    """What was walked, once every answer is known to match its document."""
    assert conformance.mismatches == [], "\n".join(conformance.mismatches)
    return conformance.seen - {("GET", "/openapi.json", 200)}


async def test_every_catalog_answer_matches_the_catalog_document(
    catalog: httpx.AsyncClient,
) -> None:
    answers = await Conformance.of(catalog)
    teapot = {"sku": f"tp-{uuid.uuid4().hex[:8]}", "name": "Teapot", "price_cents": 1999}
    made = []
    for n, stock in enumerate((5, 3, 0)):
        body = {**teapot, "sku": f"{teapot['sku']}-{n}", "stock": stock}
        created = await catalog.post(
            "/v2/products", json=body, headers={"Idempotency-Key": f"k{n}"}
        )
        assert created.status_code == 201, created.text
        made.append(created.json())
    again = await catalog.post(
        "/v2/products",
        json={**teapot, "sku": f"{teapot['sku']}-0", "stock": 5},
        headers={"Idempotency-Key": "k0"},
    )
    assert again.status_code == 201 and again.json() == made[0]
    reused = await catalog.post(
        "/v2/products", json={**teapot, "stock": 1}, headers={"Idempotency-Key": "k0"}
    )
    taken = await catalog.post(
        "/v2/products", json={**teapot, "sku": made[1]["sku"], "stock": 1}, headers=key()
    )
    assert (reused.status_code, taken.status_code) == (422, 409)

    first = await catalog.get("/v2/products", params={"limit": 2})
    assert first.status_code == 200 and first.json()["next"], first.text
    rest = await catalog.get("/v2/products", params={"limit": 2, "cursor": first.json()["next"]})
    assert rest.status_code == 200 and rest.json()["next"] is None
    ids = [p["legacy_id"] for p in made]
    filtered = await catalog.get(
        "/v2/products", params={"legacy_id": ids[:2], "sku": made[0]["sku"]}
    )
    assert [p["id"] for p in filtered.json()["products"]] == [made[0]["id"]]
    unchanged = await catalog.get(
        "/v2/products", params={"limit": 2}, headers={"If-None-Match": first.headers["etag"]}
    )
    bad_page = await catalog.get("/v2/products", params={"limit": 0})
    assert (unchanged.status_code, bad_page.status_code) == (304, 400)

    one = f"/v2/products/{made[0]['id']}"
    got = await catalog.get(one)
    assert got.status_code == 200 and got.json() == made[0]
    same = await catalog.get(one, headers={"If-None-Match": got.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    changed = await catalog.patch(one, json={"name": "Big teapot", "stock": 6})
    assert changed.status_code == 200 and changed.json()["stock"] == 6
    nowhere = f"/v2/products/{uuid.uuid4()}"
    assert (await catalog.get(nowhere)).status_code == 404
    assert (await catalog.patch(nowhere, json={"stock": 1})).status_code == 404

    lines = {
        "lines": [{"product_id": ids[0], "quantity": 2}, {"product_id": ids[1], "quantity": 1}]
    }
    hold, other = f"/v2/holds/{uuid.uuid4()}", f"/v2/holds/{uuid.uuid4()}"
    assert (await catalog.put(hold, json=lines)).status_code == 201
    assert (await catalog.put(hold, json=lines)).status_code == 200
    mismatch = await catalog.put(hold, json={"lines": lines["lines"][:1]})
    short = await catalog.put(other, json={"lines": [{"product_id": ids[2], "quantity": 1}]})
    assert (mismatch.status_code, short.status_code) == (422, 409)
    assert short.json()["product_id"] == ids[2]
    assert (await catalog.get(hold)).json()["state"] == "held"
    assert (await catalog.post(f"{hold}/commit")).json()["state"] == "committed"
    assert (await catalog.put(other, json=lines)).status_code == 201
    assert (await catalog.post(f"{other}/release")).json()["state"] == "released"
    assert (await catalog.post(f"{other}/commit")).status_code == 409
    unknown_hold = f"/v2/holds/{uuid.uuid4()}"
    assert (await catalog.get(unknown_hold)).status_code == 404
    assert (await catalog.post(f"{unknown_hold}/release")).status_code == 404
    assert (await catalog.post(f"{unknown_hold}/commit")).status_code == 404

    assert (await catalog.delete(f"/v2/products/{made[1]['id']}")).status_code == 204
    assert (await catalog.delete(f"/v2/products/{made[1]['id']}")).status_code == 404
    gone = await catalog.put(f"/v2/holds/{uuid.uuid4()}", json=lines)
    assert gone.status_code == 422 and gone.json()["product_id"] == ids[1]
    restocked = await catalog.post("/v2/restocks", json=lines, headers=key())
    assert restocked.status_code == 201 and restocked.json()["skipped"] == [ids[1]]
    not_json = await catalog.post(
        "/v2/restocks", content=b"[]", headers={"Content-Type": "application/json", **key()}
    )
    assert not_json.status_code == 400

    assert walked(answers) == {
        ("POST", "/v2/products", 201),
        ("POST", "/v2/products", 409),
        ("POST", "/v2/products", 422),
        ("GET", "/v2/products", 200),
        ("GET", "/v2/products", 304),
        ("GET", "/v2/products", 400),
        ("GET", "/v2/products/{product_id}", 200),
        ("GET", "/v2/products/{product_id}", 304),
        ("GET", "/v2/products/{product_id}", 404),
        ("PATCH", "/v2/products/{product_id}", 200),
        ("PATCH", "/v2/products/{product_id}", 404),
        ("DELETE", "/v2/products/{product_id}", 204),
        ("DELETE", "/v2/products/{product_id}", 404),
        ("PUT", "/v2/holds/{hold_id}", 201),
        ("PUT", "/v2/holds/{hold_id}", 200),
        ("PUT", "/v2/holds/{hold_id}", 409),
        ("PUT", "/v2/holds/{hold_id}", 422),
        ("GET", "/v2/holds/{hold_id}", 200),
        ("GET", "/v2/holds/{hold_id}", 404),
        ("POST", "/v2/holds/{hold_id}/commit", 200),
        ("POST", "/v2/holds/{hold_id}/commit", 409),
        ("POST", "/v2/holds/{hold_id}/commit", 404),
        ("POST", "/v2/holds/{hold_id}/release", 200),
        ("POST", "/v2/holds/{hold_id}/release", 404),
        ("POST", "/v2/restocks", 201),
        ("POST", "/v2/restocks", 400),
    }


async def test_every_users_answer_matches_the_users_document(users: httpx.AsyncClient) -> None:
    answers = await Conformance.of(users)
    body = {"email": f"ada-{uuid.uuid4().hex}@example.com", "name": "Ada"}
    made = await users.post("/v2/users", json=body, headers={"Idempotency-Key": "u1"})
    assert made.status_code == 201, made.text
    again = await users.post("/v2/users", json=body, headers={"Idempotency-Key": "u1"})
    assert again.status_code == 201 and again.json() == made.json()
    reused = await users.post(
        "/v2/users", json={**body, "name": "Bo"}, headers={"Idempotency-Key": "u1"}
    )
    shouted = {**body, "email": body["email"].upper()}
    taken = await users.post("/v2/users", json=shouted, headers=key())
    typo = await users.post("/v2/users", json={**body, "nmae": "Ada"}, headers=key())
    assert (reused.status_code, taken.status_code, typo.status_code) == (422, 409, 400)
    second = await users.post(
        "/v2/users", json={**body, "email": f"bo-{body['email']}"}, headers=key()
    )
    assert second.status_code == 201

    first = await users.get("/v2/users", params={"limit": 1})
    assert first.status_code == 200 and first.json()["next"], first.text
    rest = await users.get("/v2/users", params={"limit": 1, "cursor": first.json()["next"]})
    assert rest.status_code == 200 and rest.json()["next"] is None
    by_email = await users.get("/v2/users", params={"email": shouted["email"]})
    assert [u["id"] for u in by_email.json()["users"]] == [made.json()["id"]]
    unchanged = await users.get(
        "/v2/users", params={"limit": 1}, headers={"If-None-Match": first.headers["etag"]}
    )
    bad_page = await users.get("/v2/users", params={"legacy_id": "0"})
    assert (unchanged.status_code, bad_page.status_code) == (304, 400)

    one = made.headers["location"]
    got = await users.get(one)
    assert got.status_code == 200 and got.json() == made.json()
    same = await users.get(one, headers={"If-None-Match": got.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    assert (await users.get(f"/v2/users/{uuid.uuid4()}")).status_code == 404

    assert walked(answers) == {
        ("POST", "/v2/users", 201),
        ("POST", "/v2/users", 400),
        ("POST", "/v2/users", 409),
        ("POST", "/v2/users", 422),
        ("GET", "/v2/users", 200),
        ("GET", "/v2/users", 304),
        ("GET", "/v2/users", 400),
        ("GET", "/v2/users/{user_id}", 200),
        ("GET", "/v2/users/{user_id}", 304),
        ("GET", "/v2/users/{user_id}", 404),
    }


async def test_every_orders_answer_matches_the_orders_document(shop: Shop) -> None:
    orders = shop.orders
    answers = await Conformance.of(orders)
    user, product = shop.buyer(stock=3)
    late, _ = shop.buyer()

    async def checkout(who: int, headers: dict[str, str], card: str = "tok_visa") -> Any:
        body = {"user_id": who, "card_token": card}
        return await orders.post("/v2/checkouts", json=body, headers=headers)

    bought = []
    for _ in range(2):
        await shop.fill_cart(user, product)
        headers = key()
        first = await checkout(user, headers)
        assert first.status_code == 201, first.text
        replayed = await checkout(user, headers)
        assert replayed.status_code == 201 and replayed.json() == first.json()
        bought.append(first.json())
    reused = await orders.post(
        "/v2/checkouts",
        json={"user_id": user, "card_token": "tok_visa", "discount_code": "SAVE10"},
        headers=headers,
    )
    assert reused.status_code == 422, reused.text
    assert (await checkout(user, key())).status_code == 422  # the cart is empty
    await shop.fill_cart(user, product)
    await shop.fill_cart(late, product)
    dry = await checkout(user, {"X-Strangler-Shadow": "dry-run", **key()})
    assert dry.status_code == 201 and dry.json()["legacy_id"] is None, dry.text
    declined = await checkout(user, key(), card="tok_declined")
    assert declined.status_code == 402, declined.text
    assert (await checkout(user, key())).status_code == 201  # the last unit
    assert (await checkout(late, key())).status_code == 409  # none left
    assert (await checkout(10**9, key())).status_code == 404
    unlucky, other = shop.buyer()
    await shop.fill_cart(unlucky, other)
    (await shop.provider.put("/_admin/config", json={"failure_rate": 1})).raise_for_status()
    down = await checkout(unlucky, key())
    assert down.status_code == 502, down.text
    (await shop.provider.put("/_admin/config", json={"failure_rate": 0})).raise_for_status()

    one = f"/v2/orders/{bought[0]['id']}"
    got = await orders.get(one)
    assert got.status_code == 200 and got.json() == bought[0]
    same = await orders.get(one, headers={"If-None-Match": got.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    page = await orders.get("/v2/orders", params={"user_id": user, "limit": 1})
    assert page.status_code == 200 and page.json()["next"], page.text
    cursor = page.json()["next"]
    rest = await orders.get("/v2/orders", params={"user_id": user, "limit": 1, "cursor": cursor})
    oldest = await orders.get("/v2/orders", params={"user_id": user, "sort": "created_at"})
    assert (rest.status_code, oldest.status_code) == (200, 200)
    again = {"If-None-Match": page.headers["etag"]}
    unchanged = await orders.get("/v2/orders", params={"user_id": user, "limit": 1}, headers=again)
    nobody = await orders.get("/v2/orders", params={"user_id": 10**9})
    bad_page = await orders.get("/v2/orders", params={"user_id": user, "limit": 0})
    assert (unchanged.status_code, nobody.status_code, bad_page.status_code) == (304, 404, 400)

    cancel, headers = f"{one}/cancellation", key()
    cancelled = await orders.post(cancel, headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert (await orders.post(cancel, headers=headers)).json() == cancelled.json()
    assert (await orders.post(cancel, headers=key())).status_code == 404  # off the books
    assert (await orders.get(one)).status_code == 404
    nowhere = f"/v2/orders/{uuid.uuid4()}"
    assert (await orders.post(f"{nowhere}/cancellation", headers=key())).status_code == 404
    feed = await orders.get("/v2/order-feed", params={"limit": 2})
    assert feed.status_code == 200 and feed.json()["next"], feed.text

    assert walked(answers) == {
        ("POST", "/v2/checkouts", 201),
        ("POST", "/v2/checkouts", 402),
        ("POST", "/v2/checkouts", 404),
        ("POST", "/v2/checkouts", 409),
        ("POST", "/v2/checkouts", 422),
        ("POST", "/v2/checkouts", 502),
        ("GET", "/v2/orders/{order_id}", 200),
        ("GET", "/v2/orders/{order_id}", 304),
        ("GET", "/v2/orders/{order_id}", 404),
        ("GET", "/v2/orders", 200),
        ("GET", "/v2/orders", 304),
        ("GET", "/v2/orders", 400),
        ("GET", "/v2/orders", 404),
        ("POST", "/v2/orders/{order_id}/cancellation", 200),
        ("POST", "/v2/orders/{order_id}/cancellation", 404),
        ("GET", "/v2/order-feed", 200),
    }


async def test_every_payments_answer_matches_the_payments_document(
    payments: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    service, provider = payments
    answers = await Conformance.of(service)
    order = f"order-{uuid.uuid4().hex[:8]}"

    async def charge(ref: str, headers: dict[str, str], card: str = "tok_visa") -> Any:
        body = {"order_ref": ref, "amount_cents": 2500, "card_token": card}
        return await service.post("/v2/payments", json=body, headers=headers)

    headers = key()
    paid = await charge(order, headers)
    assert paid.status_code == 201, paid.text
    assert (await charge(order, headers)).json() == paid.json()
    assert (await charge(f"{order}-other", headers)).status_code == 422
    assert (await charge(order, key())).status_code == 409  # one charge per order
    declined_key = key()
    assert (await charge(f"{order}-d", declined_key, "tok_declined")).status_code == 402
    assert (await charge(f"{order}-d", declined_key, "tok_declined")).status_code == 402
    given_up = await charge(f"{order}-g", key())
    assert given_up.status_code == 201, given_up.text

    one = f"/v2/payments/{paid.json()['id']}"
    got = await service.get(one)
    assert got.status_code == 200 and got.json() == paid.json()
    same = await service.get(one, headers={"If-None-Match": got.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    nowhere = f"/v2/payments/{uuid.uuid4()}"
    assert (await service.get(nowhere)).status_code == 404
    page = await service.get("/v2/payments", params={"limit": 1})
    assert page.status_code == 200 and page.json()["next"], page.text
    cursor = page.json()["next"]
    assert (await service.get("/v2/payments", params={"cursor": cursor})).status_code == 200
    captured = await service.get(
        "/v2/payments", params={"status": "captured", "sort": "created_at"}
    )
    assert captured.status_code == 200 and captured.json()["payments"], captured.text
    again = {"If-None-Match": page.headers["etag"]}
    unchanged = await service.get("/v2/payments", params={"limit": 1}, headers=again)
    assert unchanged.status_code == 304
    assert (await service.get("/v2/payments", params={"limit": 0})).status_code == 400

    refunds, headers = f"{one}/refunds", key()
    part = await service.post(refunds, json={"amount_cents": 500}, headers=headers)
    assert part.status_code == 201, part.text
    replayed = await service.post(refunds, json={"amount_cents": 500}, headers=headers)
    assert replayed.json() == part.json()
    too_much = await service.post(refunds, json={"amount_cents": 2500}, headers=key())
    assert too_much.status_code == 409, too_much.text
    rest = await service.post(refunds, headers=key())
    assert rest.status_code == 201 and rest.json()["payment"]["status"] == "refunded", rest.text
    assert (await service.post(f"{nowhere}/refunds", headers=key())).status_code == 404

    abandon = f"/v2/payments/{given_up.json()['id']}/abandonment"
    voided = await service.post(abandon)
    assert voided.status_code == 200 and voided.json()["status"] == "voided", voided.text
    assert (await service.post(abandon)).json() == voided.json()
    assert (await service.post(f"{nowhere}/abandonment")).status_code == 404

    made = await provider.post(
        "/v1/charges", json={"amount_cents": 1200, "currency": "usd", "card_token": "tok_visa"}
    )
    adopt = f"/v2/adopted-charges/{made.json()['id']}"
    adopted = await service.put(adopt, json={"order_ref": f"legacy-{order}"})
    assert adopted.status_code == 200, adopted.text
    assert (await service.put(adopt, json={"order_ref": f"legacy-{order}-2"})).status_code == 409
    (await provider.put("/_admin/config", json={"failure_rate": 1})).raise_for_status()
    down = await charge(f"{order}-down", key())
    assert down.status_code == 502, down.text

    assert walked(answers) == {
        ("POST", "/v2/payments", 201),
        ("POST", "/v2/payments", 402),
        ("POST", "/v2/payments", 409),
        ("POST", "/v2/payments", 422),
        ("GET", "/v2/payments/{payment_id}", 200),
        ("GET", "/v2/payments/{payment_id}", 304),
        ("GET", "/v2/payments/{payment_id}", 404),
        ("GET", "/v2/payments", 200),
        ("GET", "/v2/payments", 304),
        ("GET", "/v2/payments", 400),
        ("POST", "/v2/payments/{payment_id}/refunds", 201),
        ("POST", "/v2/payments/{payment_id}/refunds", 409),
        ("POST", "/v2/payments/{payment_id}/refunds", 404),
        ("POST", "/v2/payments/{payment_id}/abandonment", 200),
        ("POST", "/v2/payments/{payment_id}/abandonment", 404),
        ("PUT", "/v2/adopted-charges/{charge_id}", 200),
        ("PUT", "/v2/adopted-charges/{charge_id}", 409),
        ("POST", "/v2/payments", 502),
    }


@pytest.fixture
async def analytics(
    redis_url: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, RedisSalesProjection]]:
    """The reports API on a namespace of its own, and the aggregates it reads."""
    settings = AnalyticsSettings(redis_url, f"answers-{uuid.uuid4().hex[:12]}")
    app = analytics_app(settings)
    transport = httpx.ASGITransport(app=app)
    with Redis.from_url(redis_url) as redis:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://analytics.test") as client,
        ):
            yield client, RedisSalesProjection(redis, settings.namespace)
        for stale in redis.scan_iter(f"{settings.namespace}:*"):
            redis.delete(stale)


async def test_every_analytics_answer_matches_the_analytics_document(
    analytics: tuple[httpx.AsyncClient, RedisSalesProjection],
) -> None:
    api, sales = analytics
    answers = await Conformance.of(api)
    may = {"from": "2024-05-01", "to": "2024-05-31"}
    empty = await api.get("/v2/reports/sales", params=may)
    assert empty.status_code == 200 and empty.json()["order_count"] == 0, empty.text

    kept = placed("2024-05-02T10:00:00Z", [(1, 500, 2), (2, 1999, 1)], total=3318)
    taken_back = placed("2024-05-03T10:00:00Z", [(3, 100, 1)])
    for event in (kept, taken_back):
        assert record(sales, OrderPlaced.from_message(event))
    assert record(sales, OrderCancelled.from_message(cancelled(taken_back)))
    report = await api.get("/v2/reports/sales", params=may)
    assert report.status_code == 200, report.text
    assert [p["product_id"] for p in report.json()["top_products"]] == [2, 1]
    again = {"If-None-Match": report.headers["etag"]}
    assert (await api.get("/v2/reports/sales", params=may, headers=again)).status_code == 304
    backwards = {"from": "2024-05-31", "to": "2024-05-01"}
    assert (await api.get("/v2/reports/sales", params=backwards)).status_code == 400

    assert walked(answers) == {
        ("GET", "/v2/reports/sales", 200),
        ("GET", "/v2/reports/sales", 304),
        ("GET", "/v2/reports/sales", 400),
    }
