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
