"""How the orders service reads the payments service's answers to a charge."""

from __future__ import annotations

import uuid

import httpx
import pytest

from new_services.orders.adapters import PaymentsClient
from new_services.orders.ports import Declined, Unavailable, Voided

pytestmark = pytest.mark.anyio

PROBLEM = "urn:strangler-kit:problem:"


def answering(status: int, slug: str) -> PaymentsClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["idempotency-key"] == "order-1"
        body = {"type": PROBLEM + slug, "title": slug, "status": status, "detail": slug}
        return httpx.Response(
            status, json=body, headers={"content-type": "application/problem+json"}
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://payments")
    return PaymentsClient(http)


@pytest.mark.parametrize(
    ("status", "slug", "error"),
    [
        (402, "card-declined", Declined),
        (409, "payment-voided", Voided),  # given up by payments' settler: final
        (409, "order-being-paid", Unavailable),  # passing: a retry may still finish it
        (502, "provider-unavailable", Unavailable),
    ],
)
async def test_each_refusal_of_a_charge_becomes_the_ports_error(
    status: int, slug: str, error: type[Exception]
) -> None:
    client = answering(status, slug)
    with pytest.raises(error):
        await client.charge(uuid.uuid4(), 1500, "tok_visa", "Order", key="order-1")
