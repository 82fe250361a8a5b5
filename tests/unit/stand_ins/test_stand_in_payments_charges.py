"""The payment stand-in charges cards the way its test tokens promise, and keeps the record."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, closing

import httpx
import pytest

from stand_ins.payments.settings import PaymentsSettings

pytestmark = pytest.mark.anyio

Starter = Callable[[PaymentsSettings], AbstractAsyncContextManager[httpx.AsyncClient]]

CHARGE = {"amount_cents": 1250, "currency": "eur", "card_token": "tok_visa"}


async def charges(client: httpx.AsyncClient, **filters: str) -> list[dict[str, object]]:
    response = await client.get("/v1/charges", params=filters)
    assert response.status_code == 200
    listed: list[dict[str, object]] = response.json()["charges"]
    return listed


async def test_the_health_check_answers_ok(payments: httpx.AsyncClient) -> None:
    response = await payments.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_a_visa_token_is_charged_and_the_charge_can_be_read_back(
    payments: httpx.AsyncClient,
) -> None:
    response = await payments.post("/v1/charges", json={**CHARGE, "description": "Order 7"})

    assert response.status_code == 201
    charge = response.json()
    assert re.fullmatch(r"ch_[0-9a-f]{24}", charge["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", charge["created_at"])
    assert charge == {
        "id": charge["id"],
        "object": "charge",
        "amount_cents": 1250,
        "currency": "eur",
        "card_token": "tok_visa",
        "description": "Order 7",
        "status": "succeeded",
        "refunded_cents": 0,
        "created_at": charge["created_at"],
        "reference": None,
    }
    assert (await payments.get(f"/v1/charges/{charge['id']}")).json() == charge
    assert await charges(payments) == [charge]


async def test_a_charge_without_description_has_a_null_one(payments: httpx.AsyncClient) -> None:
    response = await payments.post("/v1/charges", json=CHARGE)

    assert response.json()["description"] is None


async def test_a_visa_token_with_a_suffix_is_approved_too(payments: httpx.AsyncClient) -> None:
    response = await payments.post(
        "/v1/charges", json={**CHARGE, "card_token": "tok_visa_alice-42"}
    )

    assert response.status_code == 201
    assert response.json()["card_token"] == "tok_visa_alice-42"


@pytest.mark.parametrize("token", ["tok_declined", "tok_declined_bob"])
async def test_a_declined_card_answers_402_and_the_attempt_is_recorded(
    payments: httpx.AsyncClient, token: str
) -> None:
    response = await payments.post("/v1/charges", json={**CHARGE, "card_token": token})

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["type"] == "card_declined"
    [recorded] = await charges(payments)
    assert recorded["status"] == "declined"
    assert recorded["id"] == error["charge_id"]


@pytest.mark.parametrize("token", ["tok_error", "tok_error_carol"])
async def test_a_processing_error_answers_500_and_charges_nothing(
    payments: httpx.AsyncClient, token: str
) -> None:
    response = await payments.post("/v1/charges", json={**CHARGE, "card_token": token})

    assert response.status_code == 500
    assert response.json()["error"]["type"] == "processing_error"
    assert await charges(payments) == []


@pytest.mark.parametrize("token", ["tok_mastercard", "tok_visa_", "tok_visas", "TOK_VISA", ""])
async def test_an_unknown_card_token_is_refused_and_charges_nothing(
    payments: httpx.AsyncClient, token: str
) -> None:
    response = await payments.post("/v1/charges", json={**CHARGE, "card_token": token})

    assert response.status_code == 400
    assert response.json()["error"]["type"] in {"invalid_card_token", "invalid_request"}
    assert await charges(payments) == []


async def test_a_well_formed_but_unknown_token_is_an_invalid_card_token(
    payments: httpx.AsyncClient,
) -> None:
    response = await payments.post("/v1/charges", json={**CHARGE, "card_token": "tok_amex"})

    assert response.json()["error"]["type"] == "invalid_card_token"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "eur", "card_token": "tok_visa"}, "amount_cents"),
        ({**CHARGE, "amount_cents": True}, "amount_cents"),
        ({**CHARGE, "amount_cents": 0}, "amount_cents"),
        ({**CHARGE, "amount_cents": -5}, "amount_cents"),
        ({**CHARGE, "amount_cents": 12.5}, "amount_cents"),
        ({**CHARGE, "amount_cents": "1250"}, "amount_cents"),
        ({**CHARGE, "amount_cents": 2**63}, "amount_cents"),
        ({"amount_cents": 1250, "card_token": "tok_visa"}, "currency"),
        ({**CHARGE, "currency": "EUR"}, "currency"),
        ({**CHARGE, "currency": "euro"}, "currency"),
        ({**CHARGE, "currency": 978}, "currency"),
        ({"amount_cents": 1250, "currency": "eur"}, "card_token"),
        ({**CHARGE, "card_token": 4242}, "card_token"),
        ({**CHARGE, "description": "x" * 501}, "description"),
        ({**CHARGE, "description": 7}, "description"),
        ({**CHARGE, "metadata": {}}, "metadata"),
        ([CHARGE], "object"),
        ("tok_visa", "object"),
    ],
)
async def test_an_invalid_charge_request_is_refused_naming_the_field(
    payments: httpx.AsyncClient, body: object, field: str
) -> None:
    response = await payments.post("/v1/charges", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert field in error["message"]
    assert await charges(payments) == []


async def test_a_body_that_is_not_json_is_an_invalid_request(payments: httpx.AsyncClient) -> None:
    response = await payments.post(
        "/v1/charges", content=b"{amount_cents: 1", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request",
        "message": "request body must be valid JSON",
    }


async def test_charges_are_listed_oldest_first_and_filter_by_token_and_status(
    payments: httpx.AsyncClient,
) -> None:
    first = (await payments.post("/v1/charges", json={**CHARGE, "card_token": "tok_visa_a"})).json()
    await payments.post("/v1/charges", json={**CHARGE, "card_token": "tok_declined_a"})
    third = (await payments.post("/v1/charges", json={**CHARGE, "card_token": "tok_visa_a"})).json()
    await payments.post("/v1/charges", json={**CHARGE, "card_token": "tok_visa_b"})

    assert [c["id"] for c in await charges(payments, card_token="tok_visa_a")] == [
        first["id"],
        third["id"],
    ]
    assert [c["card_token"] for c in await charges(payments, status="declined")] == [
        "tok_declined_a"
    ]
    assert len(await charges(payments, card_token="tok_visa_a", status="succeeded")) == 2
    assert len(await charges(payments)) == 4


async def test_listing_by_an_unknown_status_is_an_invalid_request(
    payments: httpx.AsyncClient,
) -> None:
    response = await payments.get("/v1/charges", params={"status": "paid"})

    assert response.status_code == 400
    assert "status" in response.json()["error"]["message"]


async def test_an_unknown_charge_is_not_found(payments: httpx.AsyncClient) -> None:
    response = await payments.get("/v1/charges/ch_000000000000000000000000")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


async def test_unknown_paths_and_wrong_methods_answer_json_errors(
    payments: httpx.AsyncClient,
) -> None:
    missing = await payments.get("/v2/charges")
    wrong_method = await payments.delete("/v1/charges")

    assert (missing.status_code, missing.json()["error"]["type"]) == (404, "not_found")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "method_not_allowed"
    assert "POST" in wrong_method.headers["allow"]


async def test_a_huge_body_is_refused_without_a_stack_trace(payments: httpx.AsyncClient) -> None:
    response = await payments.post("/v1/charges", content=b"x" * 100_000)

    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


async def test_charges_survive_a_restart_on_the_same_database_file(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> None:
    async with start_payments(payments_settings) as before:
        charge = (await before.post("/v1/charges", json=CHARGE)).json()

    async with start_payments(payments_settings) as after:
        assert (await after.get(f"/v1/charges/{charge['id']}")).json() == charge
        assert await charges(after) == [charge]


async def test_charges_are_found_by_the_merchants_reference(payments: httpx.AsyncClient) -> None:
    """How a merchant that lost the answer to a charge finds out whether it was made."""
    made = await payments.post("/v1/charges", json={**CHARGE, "reference": "payment-7"})
    await payments.post("/v1/charges", json={**CHARGE, "reference": "payment-8"})
    await payments.post("/v1/charges", json=CHARGE)

    assert made.json()["reference"] == "payment-7"
    assert await charges(payments, reference="payment-7") == [made.json()]
    assert await charges(payments, reference="payment-9") == []
    too_long = await payments.post("/v1/charges", json={**CHARGE, "reference": "r" * 256})
    assert too_long.status_code == 400
    assert "reference" in too_long.json()["error"]["message"]


async def test_a_database_file_from_before_references_gains_the_column_and_keeps_its_charges(
    start_payments: Starter, payments_settings: PaymentsSettings
) -> None:
    with closing(sqlite3.connect(payments_settings.db_path)) as old:
        old.executescript(
            """
            CREATE TABLE charges (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
                card_token TEXT NOT NULL, description TEXT, status TEXT NOT NULL,
                refunded_cents INTEGER NOT NULL, created_at TEXT NOT NULL);
            INSERT INTO charges (id, amount_cents, currency, card_token, status,
                refunded_cents, created_at)
            VALUES ('ch_old', 900, 'usd', 'tok_visa', 'succeeded', 0, '2026-01-01T00:00:00.000Z');
            """
        )
    async with start_payments(payments_settings) as client:
        (old_charge,) = await charges(client)
        made = await client.post("/v1/charges", json={**CHARGE, "reference": "payment-1"})
        found = await charges(client, reference="payment-1")
    assert (old_charge["id"], old_charge["reference"]) == ("ch_old", None)
    assert found == [made.json()]
