"""The legacy shop against malformed input: every refusal is a 4xx in its JSON error shape
(`legacy_app/API.md`), never a 500, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from legacy_app import app as legacy

Json = dict[str, Any]
SURROGATE = "\ud800"  # a lone surrogate: JSON may spell it, UTF-8 cannot carry it


def sent(client: FlaskClient, method: str, path: str, body: bytes | str) -> TestResponse:
    return client.open(path, method=method, data=body, content_type="application/json")


def as_json(value: Any) -> str:
    """`value` as JSON text with `\\u` escapes, the way a client spells a lone surrogate."""
    return json.dumps(value)


def assert_error(response: TestResponse, status: int, code: str) -> str:
    assert response.status_code == status, response.data
    assert response.content_type.startswith("application/json")
    body = response.get_json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    message: str = body["message"]
    return message


def a_user_with_a_product_in_the_cart(shop: FlaskClient) -> tuple[Json, Json]:
    user = shop.post("/users", json={"email": "ada@example.com", "name": "Ada"}).get_json()
    product = shop.post(
        "/products", json={"sku": "teapot", "name": "Teapot", "price_cents": 1999, "stock": 5}
    ).get_json()
    line = {"product_id": product["id"], "quantity": 1}
    assert shop.post(f"/users/{user['id']}/cart/items", json=line).status_code == 200
    return user, product


WRITES_WITH_A_SURROGATE = [
    pytest.param("POST", "/users", {"email": f"a{SURROGATE}@example.com", "name": "A"}, "email"),
    pytest.param("POST", "/users", {"email": "b@example.com", "name": SURROGATE}, "name"),
    pytest.param(
        "POST",
        "/products",
        {"sku": "mug", "name": f"Mug {SURROGATE}", "price_cents": 1, "stock": 1},
        "name",
        id="create-product-name",
    ),
    pytest.param("PATCH", "/products/{product}", {"name": SURROGATE}, "name", id="rename"),
    pytest.param(
        "POST", "/users/{user}/checkout", {"card_token": SURROGATE}, "card_token", id="card"
    ),
    pytest.param(
        "POST",
        "/users/{user}/checkout",
        {"card_token": "tok_visa", "discount_code": SURROGATE},
        "discount_code",
        id="discount-code",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRITES_WITH_A_SURROGATE)
def test_a_lone_surrogate_in_a_string_field_is_a_400_that_names_the_field_and_changes_nothing(
    legacy_shop: FlaskClient, method: str, path: str, body: Json, field: str
) -> None:
    user, product = a_user_with_a_product_in_the_cart(legacy_shop)
    url = path.format(user=user["id"], product=product["id"])

    response = sent(legacy_shop, method, url, as_json(body))

    message = assert_error(response, 400, "validation_error")
    assert message.startswith(f"{field} "), message
    assert legacy_shop.get(f"/products/{product['id']}").get_json() == product
    assert legacy_shop.get(f"/users/{user['id']}/orders").get_json() == {"orders": []}
    assert len(legacy_shop.get(f"/users/{user['id']}/cart").get_json()["items"]) == 1


def test_a_lone_surrogate_deep_in_the_body_or_in_a_field_name_is_named_too(
    legacy_shop: FlaskClient,
) -> None:
    nested = {"email": "c@example.com", "name": "C", "extra": {"tags": ["ok", SURROGATE]}}
    assert "extra.tags[1]" in assert_error(
        sent(legacy_shop, "POST", "/users", as_json(nested)), 400, "validation_error"
    )
    named = {"email": "d@example.com", "name": "D", SURROGATE: 1}
    assert "\\ud800" in assert_error(
        sent(legacy_shop, "POST", "/users", as_json(named)), 400, "validation_error"
    )


BODY_ENDPOINTS = [
    pytest.param("POST", "/users", id="create-user"),
    pytest.param("POST", "/products", id="create-product"),
    pytest.param("PATCH", "/products/{product}", id="change-product"),
    pytest.param("POST", "/users/{user}/cart/items", id="add-to-cart"),
    pytest.param("POST", "/users/{user}/checkout", id="checkout"),
]


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_json_nested_fifty_thousand_deep_is_400_invalid_json(
    legacy_shop: FlaskClient, method: str, path: str
) -> None:
    user, product = a_user_with_a_product_in_the_cart(legacy_shop)
    url = path.format(user=user["id"], product=product["id"])

    response = sent(legacy_shop, method, url, "[" * 50_000)

    assert_error(response, 400, "invalid_json")
    assert legacy_shop.get(f"/products/{product['id']}").get_json() == product


def test_a_card_the_provider_does_not_know_is_a_decline_not_a_provider_failure(
    provider_url: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_URL", provider_url)
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    shop = legacy.create_app().test_client()
    try:
        user, product = a_user_with_a_product_in_the_cart(shop)

        response = shop.post(f"/users/{user['id']}/checkout", json={"card_token": "tok_nosuch"})

        assert_error(response, 402, "card_declined")  # it was 502 payment_failed
        assert shop.get(f"/products/{product['id']}").get_json() == product
    finally:
        legacy.ENGINE.dispose()  # SMELL(global-state)


@pytest.mark.parametrize(
    "path",
    ["/orders/{digits}/cancel", "/orders/{zero}/cancel", "/orders/{zero}", "/users/{zero}"],
)
def test_an_id_in_a_path_is_ascii_digits_without_a_leading_zero_or_nothing_is_found(
    legacy_shop: FlaskClient, path: str
) -> None:
    user, _ = a_user_with_a_product_in_the_cart(legacy_shop)
    arabic = str(user["id"]).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    url = path.format(digits=arabic, zero=f"0{user['id']}")

    response = legacy_shop.open(url, method="POST" if url.endswith("cancel") else "GET")

    assert_error(response, 404, "not_found")
    assert legacy_shop.get(f"/users/{user['id']}").status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_a_body_not_sent_as_json_is_415_and_changes_nothing(
    legacy_shop: FlaskClient, method: str, path: str, content_type: str | None
) -> None:
    user, product = a_user_with_a_product_in_the_cart(legacy_shop)
    url = path.format(user=user["id"], product=product["id"])
    body = {"email": "e@example.com", "name": "E", "sku": "s", "price_cents": 1, "stock": 1}
    body |= {"product_id": product["id"], "quantity": 1, "card_token": "tok_visa"}
    headers = {} if content_type is None else {"Content-Type": content_type}

    response = legacy_shop.open(url, method=method, data=as_json(body), headers=headers)

    assert_error(response, 415, "unsupported_media_type")
    assert legacy_shop.get(f"/products/{product['id']}").get_json() == product
    assert len(legacy_shop.get(f"/users/{user['id']}/cart").get_json()["items"]) == 1
