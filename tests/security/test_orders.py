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


async def checkout_v2(shop: Shop, user: int, key: str, card_token: str) -> Any:
    return await shop.orders.post(
        "/v2/checkouts",
        json={"user_id": user, "card_token": card_token},
        headers={"Idempotency-Key": key},
    )


async def test_an_unknown_card_is_a_final_v2_answer_under_its_key_not_a_retryable_502(
    shop: Shop,
) -> None:
    user, product = shop.buyer(stock=1)
    await shop.fill_cart(user, product)
    key = uuid.uuid4().hex

    refused = await checkout_v2(shop, user, key, "tok_nosuchcard")
    again = await checkout_v2(shop, user, key, "tok_nosuchcard")
    other_card = await checkout_v2(shop, user, key, "tok_visa")
    new_key = await checkout_v2(shop, user, uuid.uuid4().hex, "tok_visa")

    assert refused.status_code == 402, refused.text
    assert refused.json()["type"] == "urn:strangler-kit:problem:card-invalid"
    assert (again.status_code, again.json()) == (402, refused.json())
    assert other_card.status_code == 422, other_card.text
    assert other_card.json()["type"] == "urn:strangler-kit:problem:idempotency-key-reused"
    assert new_key.status_code == 201, new_key.text
    assert stock_and_holds(shop, product)[0] == 0


@pytest.mark.parametrize("refused_card", ["tok_declined", "tok_nosuchcard"])
async def test_a_v1_checkout_retried_with_its_key_and_another_card_is_refused_not_a_502(
    shop: Shop, refused_card: str
) -> None:
    user, product = shop.buyer(stock=1)
    await shop.fill_cart(user, product)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    url = f"/users/{user}/checkout"

    refused = await shop.shop.post(url, json={"card_token": refused_card}, headers=key)
    other_card = await shop.shop.post(url, json={"card_token": "tok_visa"}, headers=key)
    new_key = await shop.shop.post(url, json={"card_token": "tok_visa"})

    assert refused.status_code == 402, refused.text
    assert refused.json()["error"] == "card_declined"
    assert other_card.status_code == 422, other_card.text
    assert other_card.json()["error"] == "idempotency_key_reused"
    assert new_key.status_code == 201, new_key.text
    assert stock_and_holds(shop, product)[0] == 0


async def test_a_v1_path_id_with_a_leading_zero_or_other_digits_names_nothing(
    shop: Shop,
) -> None:
    user, product = shop.buyer(stock=1)
    await shop.fill_cart(user, product)
    arabic = str(user).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))

    for path in (f"/users/0{user}/cart", f"/users/{arabic}/cart"):
        response = await shop.orders.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert len((await shop.orders.get(f"/users/{user}/cart")).json()["items"]) == 1


async def test_a_checkout_not_sent_as_json_is_415_and_holds_nothing(shop: Shop) -> None:
    user, product = shop.buyer(stock=1)
    await shop.fill_cart(user, product)
    text = {"content-type": "text/plain"}

    v1 = await shop.shop.post(
        f"/users/{user}/checkout", content=with_escapes({"card_token": "tok_visa"}), headers=text
    )
    v2 = await shop.orders.post(
        "/v2/checkouts",
        content=with_escapes({"user_id": user, "card_token": "tok_visa"}),
        headers={**text, "Idempotency-Key": uuid.uuid4().hex},
    )

    assert (v1.status_code, v1.json()["error"]) == (415, "unsupported_media_type")
    assert v2.status_code == 415, v2.text
    assert v2.json()["type"] == "urn:strangler-kit:problem:unsupported-media-type"
    assert stock_and_holds(shop, product) == (1, 0)
