"""How the orders service reads the payments service's answers to a charge and a refund."""

from __future__ import annotations

import uuid

import httpx
import pytest

from new_services.orders.adapters import PaymentsClient
from new_services.orders.ports import (
    CardUnknown,
    Declined,
    KeyReused,
    RefundRefused,
    RefundUnderWay,
    Unavailable,
    Voided,
)

pytestmark = pytest.mark.anyio

PROBLEM = "urn:strangler-kit:problem:"


def answering(status: int, slug: str | None, key: str = "order-1") -> PaymentsClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["idempotency-key"] == key
        if slug is None:  # a refund under way: the pending refund, as JSON
            return httpx.Response(status, json={"status": "pending", "amount_cents": 100})
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
        (402, "card-invalid", CardUnknown),  # the provider knows no such card: final
        (422, "idempotency-key-reused", KeyReused),  # another card under the key: final
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


@pytest.mark.parametrize(
    ("status", "slug", "error"),
    [
        (202, None, RefundUnderWay),  # pending at payments: the provider's answer was lost
        (409, "idempotency-key-in-use", RefundUnderWay),  # the same refund, being made now
        (502, "internal-error", RefundUnderWay),  # payments cannot tell
        (503, "provider-refused", RefundRefused),  # the provider did nothing: none pending
        (409, "refund-too-large", RefundRefused),  # nothing left to refund
        (409, "payment-pending", RefundRefused),
    ],
)
async def test_a_refund_is_refused_only_when_nothing_can_come_of_it(
    status: int, slug: str | None, error: type[Exception]
) -> None:
    """What a cancellation answers rests on this: refused means nothing changed and nothing
    will; under way means the refund may still happen."""
    client = answering(status, slug, key="cancel-1")
    with pytest.raises(error):
        await client.refund(str(uuid.uuid4()), key="cancel-1")


async def test_a_refund_payments_never_received_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://payments")
    with pytest.raises(RefundRefused):
        await PaymentsClient(http).refund(str(uuid.uuid4()), key="cancel-1")
