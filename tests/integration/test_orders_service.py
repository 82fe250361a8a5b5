"""The orders service's v2 API with its real neighbours (catalog, payments, the provider,
users) on a real database: Idempotency-Key on checkout and cancellation,
cursor pages of a history, ETags, dry runs and problems."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from legacy_app import db
from new_services.orders.tables import orders as orders_table
from new_services.platform.http import encode_cursor
from tests.integration.inprocess import Shop, in_process_shop

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"


@pytest.fixture
async def shop(
    fresh_database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Shop]:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    namespace = f"orders-{uuid.uuid4().hex[:8]}"
    async with in_process_shop(fresh_database_url, redis_url, tmp_path, namespace) as shop:
        yield shop


async def checkout(shop: Shop, user: int, key: str, **body: Any) -> Any:
    return await shop.orders.post(
        "/v2/checkouts",
        json={"user_id": user, "card_token": "tok_visa", **body},
        headers={"Idempotency-Key": key},
    )


async def charges(shop: Shop) -> list[dict[str, Any]]:
    listed = await shop.provider.get("/v1/charges", params={"card_token": "tok_visa"})
    found: list[dict[str, Any]] = listed.json()["charges"]
    return found


def stock_of(shop: Shop, product: int) -> int:
    with shop.engine.connect() as conn:
        return int(
            conn.execute(
                select(db.products.c.stock).where(db.products.c.id == product)
            ).scalar_one()
        )


def orders_of(shop: Shop, user: int) -> int:
    with shop.engine.connect() as conn:
        counted = select(func.count()).where(orders_table.c.user_id == user)
        return int(conn.execute(counted).scalar_one())


async def test_a_retried_checkout_returns_the_same_order_and_charges_once(shop: Shop) -> None:
    user, product = shop.buyer()
    await shop.fill_cart(user, product, 2)

    first = await checkout(shop, user, "k-1")
    again = await checkout(shop, user, "k-1")

    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    order = first.json()
    assert first.headers["location"] == f"/v2/orders/{order['id']}"
    assert order["total_cents"] == 2 * 1_999 + 499 + 320  # legacy_app/API.md pricing
    assert [c["id"] for c in await charges(shop)] == [order["charge_id"]]
    assert orders_of(shop, user) == 1


async def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    shop: Shop,
) -> None:
    user, product = shop.buyer()
    await shop.fill_cart(user, product)
    assert (await checkout(shop, user, "k-2")).status_code == 201

    other = await checkout(shop, user, "k-2", discount_code="SAVE10")

    assert other.status_code == 422 and other.headers["content-type"] == PROBLEM
    assert other.json()["type"] == "urn:strangler-kit:problem:idempotency-key-reused"
    assert orders_of(shop, user) == 1


async def test_a_history_comes_in_cursor_pages_newest_first_with_etags(shop: Shop) -> None:
    user, product = shop.buyer(stock=10)
    placed = []
    for n in range(3):
        await shop.fill_cart(user, product)
        answer = await checkout(shop, user, f"page-{n}")
        assert answer.status_code == 201, answer.text
        placed.append(answer.json()["id"])

    first = await shop.orders.get("/v2/orders", params={"user_id": user, "limit": 2})
    second = await shop.orders.get(
        "/v2/orders", params={"user_id": user, "limit": 2, "cursor": first.json()["next"]}
    )
    unchanged = await shop.orders.get(
        "/v2/orders",
        params={"user_id": user, "limit": 2},
        headers={"If-None-Match": first.headers["etag"]},
    )

    seen = [o["id"] for o in first.json()["orders"] + second.json()["orders"]]
    assert sorted(seen) == sorted(placed) and len(set(seen)) == 3
    assert second.json()["next"] is None
    assert unchanged.status_code == 304
    too_many = await shop.orders.get("/v2/orders", params={"user_id": user, "limit": 101})
    assert too_many.status_code == 400 and too_many.headers["content-type"] == PROBLEM


async def test_a_history_sorted_oldest_first_pages_the_other_way_and_a_cursor_keeps_its_sort(
    shop: Shop,
) -> None:
    user, product = shop.buyer(stock=10)
    made = []
    for n in range(3):  # within a second or two: the order of ties is the id's
        await shop.fill_cart(user, product)
        answer = await checkout(shop, user, f"sort-{n}")
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])

    async def pages(sort: str | None) -> list[str]:
        seen: list[str] = []
        params: dict[str, Any] = {"user_id": user, "limit": 2, **({"sort": sort} if sort else {})}
        while True:
            page = (await shop.orders.get("/v2/orders", params=params)).json()
            seen += [o["id"] for o in page["orders"]]
            if page["next"] is None:
                return seen
            params["cursor"] = page["next"]

    assert await pages(None) == await pages("-created_at") == list(reversed(made))
    assert await pages("created_at") == made

    oldest = await shop.orders.get(
        "/v2/orders", params={"user_id": user, "limit": 1, "sort": "created_at"}
    )
    mixed = await shop.orders.get(
        "/v2/orders", params={"user_id": user, "cursor": oldest.json()["next"]}
    )
    assert mixed.status_code == 400 and mixed.headers["content-type"] == PROBLEM
    assert "sort=created_at" in mixed.json()["detail"]
    unindexed = await shop.orders.get("/v2/orders", params={"user_id": user, "sort": "total"})
    assert unindexed.status_code == 400 and "sort must be" in unindexed.json()["detail"]


@pytest.mark.parametrize(
    "position",
    [
        {"at": "2026-11-29T12:00:00", "id": 1},  # no time zone: not one of ours
        {"at": "0001-01-01T00:00:00+01:00", "id": 1},  # before the first year in UTC
        {"at": "2026-11-29T12:00:00+00:00", "id": 2**64},
        {"at": "2026-11-29T12:00:00+00:00", "id": "1"},
        {"at": 1, "id": 1},
        {"at": "2026-11-29T12:00:00+00:00", "id": 1, "sort": "total"},
    ],
)
async def test_a_cursor_the_service_did_not_give_out_is_a_400_problem(
    shop: Shop, position: dict[str, Any]
) -> None:
    user, _ = shop.buyer(stock=1)
    params = {"user_id": user, "cursor": encode_cursor(position)}
    answer = await shop.orders.get("/v2/orders", params=params)
    assert answer.status_code == 400 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["detail"] == "cursor is not one this service gave out"


async def test_a_cancellation_refunds_restocks_and_the_order_is_gone(shop: Shop) -> None:
    user, product = shop.buyer(stock=5)
    await shop.fill_cart(user, product, 2)
    order = (await checkout(shop, user, "k-3")).json()

    cancelled = await shop.orders.post(
        f"/v2/orders/{order['id']}/cancellation", headers={"Idempotency-Key": "c-3"}
    )
    replayed = await shop.orders.post(
        f"/v2/orders/{order['id']}/cancellation", headers={"Idempotency-Key": "c-3"}
    )

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["refunded_cents"] == order["total_cents"]
    assert replayed.json() == cancelled.json()
    assert [c["refunded_cents"] for c in await charges(shop)] == [order["total_cents"]]
    gone = await shop.orders.get(f"/v2/orders/{order['id']}")
    assert gone.status_code == 404 and gone.json()["type"].endswith(":order-not-found")
    assert stock_of(shop, product) == 5  # the row the legacy app reads too


async def test_a_dry_run_checkout_answers_like_the_real_one_and_keeps_nothing(
    shop: Shop,
) -> None:
    user, product = shop.buyer(stock=5)
    await shop.fill_cart(user, product)

    preview = await shop.orders.post(
        "/v2/checkouts",
        json={"user_id": user, "card_token": "tok_visa"},
        headers={"Idempotency-Key": "dry", "X-Strangler-Shadow": "dry-run"},
    )

    assert preview.status_code == 201 and preview.headers["x-strangler-dry-run"] == "true"
    assert preview.json()["charge_id"] is None and preview.json()["legacy_id"] is None
    assert orders_of(shop, user) == 0 and await charges(shop) == []
    real = await checkout(shop, user, "dry")  # the key was not kept by the dry run
    assert real.status_code == 201 and real.json()["charge_id"] is not None


async def test_the_metrics_time_each_checkout_step_and_count_how_checkouts_end(
    shop: Shop,
) -> None:
    user, product = shop.buyer(stock=1)
    await shop.fill_cart(user, product)
    dry = {"Idempotency-Key": "m-dry", "X-Strangler-Shadow": "dry-run"}
    body = {"user_id": user, "card_token": "tok_visa"}
    assert (await shop.orders.post("/v2/checkouts", json=body, headers=dry)).status_code == 201
    assert (await checkout(shop, user, "m-1")).status_code == 201
    other, _ = shop.buyer()
    await shop.fill_cart(other, product)  # the last unit is sold
    assert (await checkout(shop, other, "m-2")).status_code == 409

    text = (await shop.orders.get("/metrics")).text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    ended = {s.labels["outcome"]: s.value for s in samples if s.name == "orders_checkouts_total"}
    steps = {
        s.labels["step"]: s.value for s in samples if s.name == "orders_checkout_step_seconds_count"
    }
    assert ended == {"dry_run": 1, "placed": 1, "OutOfStock": 1}
    assert steps == {"draft": 3, "hold": 2, "charge": 1, "place": 1}  # out of stock at draft


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"card_token": "tok_visa"}, "user_id"),
        ({"user_id": "seven", "card_token": "tok_visa"}, "user_id"),
        ({"user_id": 1}, "card_token"),
        ({"user_id": 1, "card_token": "tok_visa", "colour": "red"}, "unknown field"),
    ],
)
async def test_a_bad_checkout_is_a_400_problem_that_names_the_field(
    shop: Shop, body: dict[str, Any], detail: str
) -> None:
    answer = await shop.orders.post("/v2/checkouts", json=body, headers={"Idempotency-Key": "x"})

    assert answer.status_code == 400 and answer.headers["content-type"] == PROBLEM
    assert detail in answer.json()["detail"]
