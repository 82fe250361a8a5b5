"""The orders service (checkout extracted, behind the gateway) against malformed input:
refused before any stock is held or card charged, as 4xx in the shape of its API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from legacy_app import db
from new_services.catalog.tables import stock_reservations
from tests.integration.inprocess import Shop

pytestmark = pytest.mark.anyio
SURROGATE = "\ud800"
JSON = {"content-type": "application/json"}


def with_escapes(value: Any) -> bytes:
    """`value` as JSON with `\\u` escapes, the way a client spells a lone surrogate."""
    return json.dumps(value).encode()


def stock_and_holds(shop: Shop, product: int) -> tuple[int, int]:
    with shop.engine.connect() as conn:
        stock = conn.execute(select(db.products.c.stock).where(db.products.c.id == product))
        holds = conn.execute(select(func.count()).where(stock_reservations.c.product_id == product))
        return int(stock.scalar_one()), int(holds.scalar_one())


async def test_a_v2_checkout_with_a_lone_surrogate_is_refused_before_any_stock_is_held(
    shop: Shop,
) -> None:
    user, product = shop.buyer(stock=1)
    await shop.fill_cart(user, product)

    refused = await shop.orders.post(
        "/v2/checkouts",
        content=with_escapes({"user_id": user, "card_token": f"tok_visa{SURROGATE}"}),
        headers={**JSON, "Idempotency-Key": uuid.uuid4().hex},
    )

    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"].startswith("card_token "), refused.json()
    assert stock_and_holds(shop, product) == (1, 0)
    placed = await shop.orders.post(
        "/v2/checkouts",
        json={"user_id": user, "card_token": "tok_visa"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text  # the last unit was still for sale


async def test_a_v1_checkout_with_a_lone_surrogate_is_a_400_validation_error_and_holds_nothing(
    shop: Shop,
) -> None:
    user, product = shop.buyer(stock=1)
    await shop.fill_cart(user, product)

    refused = await shop.shop.post(
        f"/users/{user}/checkout", content=with_escapes({"card_token": SURROGATE}), headers=JSON
    )

    assert refused.status_code == 400, refused.text
    assert refused.json() == {
        "error": "validation_error",
        "message": "card_token must be valid Unicode text (it holds a lone surrogate)",
    }
    assert stock_and_holds(shop, product) == (1, 0)
