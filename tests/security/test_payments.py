"""The payments service against malformed input and declined cards: 4xx problems, never a
500; a decline is a final answer under its key."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

pytestmark = pytest.mark.anyio
SURROGATE = "\ud800"
Clients = tuple[httpx.AsyncClient, httpx.AsyncClient]


async def test_a_lone_surrogate_in_the_card_token_is_a_400_problem_and_charges_nothing(
    payments: Clients,
) -> None:
    service, provider = payments
    body = {"order_ref": f"order-{uuid.uuid4().hex[:8]}", "amount_cents": 1500}

    response = await service.post(
        "/v2/payments",
        content=json.dumps({**body, "card_token": f"tok_visa{SURROGATE}"}).encode(),
        headers={"content-type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("card_token "), response.json()
    assert (await provider.get("/v1/charges")).json()["charges"] == []


async def pay(
    service: httpx.AsyncClient, key: str, order_ref: str, card_token: str
) -> httpx.Response:
    body = {"order_ref": order_ref, "amount_cents": 1500, "card_token": card_token}
    return await service.post("/v2/payments", json=body, headers={"Idempotency-Key": key})


async def test_an_unknown_card_is_a_final_402_under_its_key_and_a_new_card_needs_a_new_key(
    payments: Clients,
) -> None:
    """As a decline already was: it was a 400 that freed the key, while the provider kept
    its own key for that card, so every retry with a corrected card answered 502."""
    service, _ = payments
    order, key = f"order-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex

    refused = await pay(service, key, order, "tok_nosuchcard")
    again = await pay(service, key, order, "tok_nosuchcard")
    other_card = await pay(service, key, order, "tok_visa")
    new_key = await pay(service, uuid.uuid4().hex, order, "tok_visa")

    assert refused.status_code == 402, refused.text
    assert refused.json()["type"] == "urn:strangler-kit:problem:card-invalid"
    assert (again.status_code, again.json()) == (402, refused.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert other_card.status_code == 422, other_card.text
    assert other_card.json()["type"] == "urn:strangler-kit:problem:idempotency-key-reused"
    assert new_key.status_code == 201, new_key.text
