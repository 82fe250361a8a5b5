"""Refunds give money back, in full or in parts, never more than was charged."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.anyio

CHARGE = {"amount_cents": 1000, "currency": "eur", "card_token": "tok_visa_refunds"}


async def charged(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/charges", json=CHARGE)
    charge_id: str = response.json()["id"]
    return charge_id


async def charge(client: httpx.AsyncClient, charge_id: str) -> dict[str, object]:
    body: dict[str, object] = (await client.get(f"/v1/charges/{charge_id}")).json()
    return body


async def test_a_refund_without_an_amount_gives_back_everything(
    payments: httpx.AsyncClient,
) -> None:
    charge_id = await charged(payments)

    response = await payments.post("/v1/refunds", json={"charge_id": charge_id})

    assert response.status_code == 201
    refund = response.json()
    assert re.fullmatch(r"re_[0-9a-f]{24}", refund["id"])
    assert refund == {
        "id": refund["id"],
        "object": "refund",
        "charge_id": charge_id,
        "amount_cents": 1000,
        "created_at": refund["created_at"],
    }
    after = await charge(payments, charge_id)
    assert (after["status"], after["refunded_cents"]) == ("refunded", 1000)


async def test_partial_refunds_add_up_and_only_the_last_one_marks_the_charge_refunded(
    payments: httpx.AsyncClient,
) -> None:
    charge_id = await charged(payments)

    await payments.post("/v1/refunds", json={"charge_id": charge_id, "amount_cents": 300})
    partly = await charge(payments, charge_id)
    rest = await payments.post("/v1/refunds", json={"charge_id": charge_id})

    assert (partly["status"], partly["refunded_cents"]) == ("succeeded", 300)
    assert rest.json()["amount_cents"] == 700
    assert (await charge(payments, charge_id))["status"] == "refunded"
    listed = (await payments.get("/v1/refunds", params={"charge_id": charge_id})).json()
    assert [r["amount_cents"] for r in listed["refunds"]] == [300, 700]


async def test_refunds_are_listed_per_charge_or_all_together(payments: httpx.AsyncClient) -> None:
    first, second = await charged(payments), await charged(payments)
    await payments.post("/v1/refunds", json={"charge_id": first, "amount_cents": 100})
    await payments.post("/v1/refunds", json={"charge_id": second, "amount_cents": 200})

    everything = (await payments.get("/v1/refunds")).json()["refunds"]
    only_second = (await payments.get("/v1/refunds", params={"charge_id": second})).json()

    assert [r["charge_id"] for r in everything] == [first, second]
    assert [r["amount_cents"] for r in only_second["refunds"]] == [200]


async def test_refunding_more_than_is_left_is_refused_and_changes_nothing(
    payments: httpx.AsyncClient,
) -> None:
    charge_id = await charged(payments)
    await payments.post("/v1/refunds", json={"charge_id": charge_id, "amount_cents": 600})

    response = await payments.post(
        "/v1/refunds", json={"charge_id": charge_id, "amount_cents": 401}
    )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_refund"
    assert (await charge(payments, charge_id))["refunded_cents"] == 600


async def test_a_fully_refunded_charge_cannot_be_refunded_again(
    payments: httpx.AsyncClient,
) -> None:
    charge_id = await charged(payments)
    await payments.post("/v1/refunds", json={"charge_id": charge_id})

    again = await payments.post("/v1/refunds", json={"charge_id": charge_id})

    assert (again.status_code, again.json()["error"]["type"]) == (400, "invalid_refund")


async def test_a_declined_charge_cannot_be_refunded(payments: httpx.AsyncClient) -> None:
    declined = await payments.post("/v1/charges", json={**CHARGE, "card_token": "tok_declined"})
    declined_id = declined.json()["error"]["charge_id"]

    response = await payments.post("/v1/refunds", json={"charge_id": declined_id})

    assert (response.status_code, response.json()["error"]["type"]) == (400, "invalid_refund")
    assert (await payments.get("/v1/refunds")).json() == {"refunds": []}


async def test_refunding_an_unknown_charge_is_not_found(payments: httpx.AsyncClient) -> None:
    response = await payments.post("/v1/refunds", json={"charge_id": "ch_nope"})

    assert (response.status_code, response.json()["error"]["type"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "charge_id"),
        ({"charge_id": 5}, "charge_id"),
        ({"charge_id": "ch_x", "amount_cents": 0}, "amount_cents"),
        ({"charge_id": "ch_x", "amount_cents": False}, "amount_cents"),
        ({"charge_id": "ch_x", "reason": "duplicate"}, "reason"),
    ],
)
async def test_an_invalid_refund_request_is_refused_naming_the_field(
    payments: httpx.AsyncClient, body: object, field: str
) -> None:
    response = await payments.post("/v1/refunds", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"
    assert field in response.json()["error"]["message"]


async def test_a_retried_refund_with_the_same_key_refunds_once(
    payments: httpx.AsyncClient,
) -> None:
    charge_id = await charged(payments)
    body = {"charge_id": charge_id, "amount_cents": 250}

    first = await payments.post("/v1/refunds", json=body, headers={"Idempotency-Key": "r-1"})
    retry = await payments.post("/v1/refunds", json=body, headers={"Idempotency-Key": "r-1"})

    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert (await charge(payments, charge_id))["refunded_cents"] == 250
