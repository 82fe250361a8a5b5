"""Users: sign-up, look-up, e-mail normalisation and validation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.contract.support import (
    MISSING_ID,
    USER_KEYS,
    assert_error,
    assert_recent_utc,
    unique_email,
)


def test_a_new_user_is_created_and_can_be_read_back(shop: httpx.Client) -> None:
    email = unique_email()
    response = shop.post("/users", json={"email": email, "name": "Grace Hopper"})

    assert response.status_code == 201
    user = response.json()
    assert set(user) == USER_KEYS
    assert isinstance(user["id"], int)
    assert (user["email"], user["name"]) == (email, "Grace Hopper")
    assert_recent_utc(user["created_at"])
    fetched = shop.get(f"/users/{user['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == user


def test_an_email_address_is_stored_lower_cased(shop: httpx.Client) -> None:
    local = f"Mixed.Case-{uuid.uuid4().hex}"
    response = shop.post("/users", json={"email": f"{local}@Example.COM", "name": "Ada"})

    assert response.status_code == 201
    expected = f"{local.lower()}@example.com"
    assert response.json()["email"] == expected
    assert shop.get(f"/users/{response.json()['id']}").json()["email"] == expected


@pytest.mark.parametrize("spelling", [str.lower, str.upper], ids=["same-case", "other-case"])
def test_an_email_address_can_sign_up_only_once_whatever_its_case(
    shop: httpx.Client, make_user: Callable[..., dict[str, Any]], spelling: Callable[[str], str]
) -> None:
    first = make_user()

    again = shop.post("/users", json={"email": spelling(first["email"]), "name": "Someone Else"})

    assert_error(again, 409, "email_taken")


def test_a_name_of_200_characters_is_accepted(shop: httpx.Client) -> None:
    response = shop.post("/users", json={"email": unique_email(), "name": "n" * 200})

    assert response.status_code == 201
    assert response.json()["name"] == "n" * 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "no-at-sign.example.com"}, id="email-without-at"),
        pytest.param({"email": "nobody@localhost"}, id="email-without-domain-dot"),
        pytest.param({"email": "two@@example.com"}, id="email-with-two-ats"),
        pytest.param({"email": "with space@example.com"}, id="email-with-space"),
        pytest.param({"email": ""}, id="email-empty"),
        pytest.param({"email": 42}, id="email-not-a-string"),
        pytest.param({"email": None}, id="email-null"),
        pytest.param({"email": ...}, id="email-missing"),
        pytest.param({"name": ""}, id="name-empty"),
        pytest.param({"name": "   "}, id="name-blank"),
        pytest.param({"name": "n" * 201}, id="name-over-200"),
        pytest.param({"name": 7}, id="name-not-a-string"),
        pytest.param({"name": ...}, id="name-missing"),
    ],
)
def test_an_invalid_user_is_refused(shop: httpx.Client, body: dict[str, Any]) -> None:
    email = unique_email()
    payload = {"email": email, "name": "Valid Name", **body}
    payload = {key: value for key, value in payload.items() if value is not ...}

    response = shop.post("/users", json=payload)

    assert_error(response, 400, "validation_error")
    if payload.get("email") == email:
        # Refused means not created: the address is still free.
        assert shop.post("/users", json={"email": email, "name": "Valid"}).status_code == 201


def test_an_unknown_user_is_not_found(shop: httpx.Client) -> None:
    assert_error(shop.get(f"/users/{MISSING_ID}"), 404, "user_not_found")
