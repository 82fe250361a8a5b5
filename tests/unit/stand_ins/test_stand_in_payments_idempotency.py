"""An Idempotency-Key makes a retried POST safe: one charge, the same answer, no races."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

import anyio
import httpx
import pytest

from stand_ins.payments.idempotency import fingerprint
from stand_ins.payments.settings import PaymentsSettings

pytestmark = pytest.mark.anyio

Starter = Callable[[PaymentsSettings], AbstractAsyncContextManager[httpx.AsyncClient]]
CHARGE = {"amount_cents": 4200, "currency": "usd", "card_token": "tok_visa_idem"}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def charge_count(client: httpx.AsyncClient, card_token: str) -> int:
    response = await client.get("/v1/charges", params={"card_token": card_token})
    return len(response.json()["charges"])


async def test_a_retry_with_the_same_key_replays_the_answer_and_charges_once(
    payments: httpx.AsyncClient,
) -> None:
    first = await payments.post("/v1/charges", json=CHARGE, headers=key("order-1"))
    retry = await payments.post("/v1/charges", json=CHARGE, headers=key("order-1"))

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["idempotent-replayed"] == "true"
    assert await charge_count(payments, "tok_visa_idem") == 1


def test_the_same_json_with_other_key_order_and_spacing_counts_as_the_same_body() -> None:
    assert fingerprint(b'{"a": 1, "b": [1, 2]}') == fingerprint(b'{"b":[1,2],"a":1}')
    assert fingerprint(b'{"a": 1}') != fingerprint(b'{"a": 2}')


async def test_requests_without_a_key_are_never_deduplicated(payments: httpx.AsyncClient) -> None:
    await payments.post("/v1/charges", json=CHARGE)
    await payments.post("/v1/charges", json=CHARGE)

    assert await charge_count(payments, "tok_visa_idem") == 2


async def test_different_keys_charge_separately(payments: httpx.AsyncClient) -> None:
    await payments.post("/v1/charges", json=CHARGE, headers=key("order-1"))
    await payments.post("/v1/charges", json=CHARGE, headers=key("order-2"))

    assert await charge_count(payments, "tok_visa_idem") == 2


async def test_reusing_a_key_with_another_body_is_refused_with_422(
    payments: httpx.AsyncClient,
) -> None:
    await payments.post("/v1/charges", json=CHARGE, headers=key("order-1"))
    other = await payments.post(
        "/v1/charges", json={**CHARGE, "amount_cents": 1}, headers=key("order-1")
    )

    assert other.status_code == 422
    assert other.json()["error"]["type"] == "idempotency_key_reused"
    assert await charge_count(payments, "tok_visa_idem") == 1


async def test_a_key_still_in_flight_is_refused_with_409_and_charges_once(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> None:
    slow = replace(payments_settings, latency_ms=300)
    statuses: list[int] = []
    async with start_payments(slow) as client:

        async def post() -> None:
            response = await client.post("/v1/charges", json=CHARGE, headers=key("order-1"))
            statuses.append(response.status_code)

        async with anyio.create_task_group() as group:
            group.start_soon(post)
            group.start_soon(post)

        assert sorted(statuses) == [201, 409]
        assert await charge_count(client, "tok_visa_idem") == 1
        # Once the first answer is out, the key replays instead of refusing.
        again = await client.post("/v1/charges", json=CHARGE, headers=key("order-1"))
        assert again.headers["idempotent-replayed"] == "true"


async def test_a_declined_answer_is_kept_and_replayed_too(payments: httpx.AsyncClient) -> None:
    declined = {**CHARGE, "card_token": "tok_declined_idem"}
    first = await payments.post("/v1/charges", json=declined, headers=key("order-1"))
    retry = await payments.post("/v1/charges", json=declined, headers=key("order-1"))

    assert first.status_code == retry.status_code == 402
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await charge_count(payments, "tok_declined_idem") == 1


async def test_a_server_error_is_not_kept_so_the_retry_is_processed_again(
    payments: httpx.AsyncClient,
) -> None:
    await payments.put("/_admin/config", json={"failure_rate": 1})
    outage = await payments.post("/v1/charges", json=CHARGE, headers=key("order-1"))
    await payments.put("/_admin/config", json={"failure_rate": 0})
    retry = await payments.post("/v1/charges", json=CHARGE, headers=key("order-1"))

    assert outage.status_code == 503
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert await charge_count(payments, "tok_visa_idem") == 1


async def test_a_processing_error_is_not_kept_either(payments: httpx.AsyncClient) -> None:
    failing = {**CHARGE, "card_token": "tok_error"}
    first = await payments.post("/v1/charges", json=failing, headers=key("order-1"))
    retry = await payments.post("/v1/charges", json=failing, headers=key("order-1"))

    assert first.status_code == retry.status_code == 500
    assert "idempotent-replayed" not in retry.headers


async def test_the_same_key_on_charges_and_refunds_does_not_collide(
    payments: httpx.AsyncClient,
) -> None:
    charge = await payments.post("/v1/charges", json=CHARGE, headers=key("shared"))
    refund = await payments.post(
        "/v1/refunds", json={"charge_id": charge.json()["id"]}, headers=key("shared")
    )

    assert refund.status_code == 201
    assert refund.json()["object"] == "refund"


@pytest.mark.parametrize("value", ["", "k" * 256])
async def test_a_key_of_the_wrong_length_is_an_invalid_request(
    payments: httpx.AsyncClient, value: str
) -> None:
    response = await payments.post("/v1/charges", json=CHARGE, headers=key(value))

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["message"]
    assert await charge_count(payments, "tok_visa_idem") == 0


async def test_keys_survive_a_restart(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> None:
    async with start_payments(payments_settings) as before:
        first = await before.post("/v1/charges", json=CHARGE, headers=key("order-1"))

    async with start_payments(payments_settings) as after:
        retry = await after.post("/v1/charges", json=CHARGE, headers=key("order-1"))
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json() == first.json()
        assert await charge_count(after, "tok_visa_idem") == 1


async def test_a_client_that_gives_up_during_the_latency_has_still_been_charged(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> None:
    async with start_payments(replace(payments_settings, latency_ms=2_000)) as client:
        with anyio.move_on_after(0.2) as gave_up:
            await client.post("/v1/charges", json=CHARGE, headers=key("order-1"))

        assert gave_up.cancelled_caught
        assert await charge_count(client, "tok_visa_idem") == 1
        # The abandoned request released its key: the retry gets the original answer.
        await client.put("/_admin/config", json={"latency_ms": 0})
        retry = await client.post("/v1/charges", json=CHARGE, headers=key("order-1"))
        assert retry.status_code == 201
        assert retry.headers["idempotent-replayed"] == "true"


async def test_every_post_answer_waits_for_the_latency(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> None:
    async with start_payments(replace(payments_settings, latency_ms=150)) as client:
        started = time.monotonic()
        response = await client.post("/v1/charges", json=CHARGE)
        elapsed = time.monotonic() - started

    assert response.status_code == 201
    assert elapsed >= 0.15
