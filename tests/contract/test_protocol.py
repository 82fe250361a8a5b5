"""What every endpoint shares: health, JSON-object bodies, unknown paths, methods, body size."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import StackUrls
from tests.contract.support import MISSING_ID, assert_error, unique_email

Json = dict[str, Any]
# Paths no route of the gateway claims: the default route sends them to legacy, which
# answers in the shop's error shape; with legacy retired (services-only mode) the gateway
# answers them itself, a 404 problem+json (gateway/README.md, "Retiring legacy").
UNROUTED = {"/nowhere", "/v1/products", "/products/1/reviews", "/orders", "/healthz"}


def answered_by_the_shop(stack_urls: StackUrls, response: httpx.Response, path: str) -> bool:
    """False (having checked the gateway's answer) for an unrouted path with legacy retired."""
    if stack_urls.mode != "services-only" or path not in UNROUTED:
        return True
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("legacy-retired")
    return False


MIB = 1024 * 1024

# Every endpoint that reads a body; {user} and {product} are filled in per test.
BODY_ENDPOINTS = [
    pytest.param("POST", "/users", id="create-user"),
    pytest.param("POST", "/products", id="create-product"),
    pytest.param("PATCH", "/products/{product}", id="change-product"),
    pytest.param("POST", "/users/{user}/cart/items", id="add-to-cart"),
    pytest.param("POST", "/users/{user}/checkout", id="checkout"),
]


def test_the_shop_reports_healthy_when_its_database_answers(
    shop: httpx.Client, stack_urls: StackUrls
) -> None:
    if stack_urls.mode == "services-only":
        pytest.skip(
            "/healthz is legacy's own: with legacy retired, each service and the gateway's "
            "admin listener report their own health"
        )
    response = shop.get("/healthz")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{not json", id="broken-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"42", id="number"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    shop: httpx.Client,
    make_user: Callable[..., Json],
    make_product: Callable[..., Json],
    method: str,
    path: str,
    content: bytes,
) -> None:
    user, product = make_user(), make_product()
    url = path.format(user=user["id"], product=product["id"])

    response = shop.request(
        method, url, content=content, headers={"content-type": "application/json"}
    )

    assert_error(response, 400, "invalid_json")
    assert shop.get(f"/products/{product['id']}").json() == product


@pytest.mark.parametrize(
    "path",
    ["/nowhere", "/users/not-a-number", "/v1/products", "/products/1/reviews", "/orders"],
)
def test_an_unknown_path_is_not_found(shop: httpx.Client, stack_urls: StackUrls, path: str) -> None:
    response = shop.get(path)
    if answered_by_the_shop(stack_urls, response, path):
        assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/users/{user}"),
        ("PUT", "/products"),
        ("PUT", "/products/{product}"),
        ("GET", "/users/{user}/checkout"),
        ("DELETE", "/users/{user}/cart"),
        ("GET", "/orders/{missing}/cancel"),
        ("POST", "/reports/sales"),
        ("POST", "/healthz"),
    ],
)
def test_a_wrong_method_is_not_allowed(
    shop: httpx.Client,
    stack_urls: StackUrls,
    make_user: Callable[..., Json],
    make_product: Callable[..., Json],
    method: str,
    path: str,
) -> None:
    user, product = make_user(), make_product()

    response = shop.request(
        method, path.format(user=user["id"], product=product["id"], missing=MISSING_ID)
    )

    if answered_by_the_shop(stack_urls, response, path):
        assert_error(response, 405, "method_not_allowed")
    assert shop.get(f"/users/{user['id']}").json() == user
    assert shop.get(f"/products/{product['id']}").json() == product


def padded_to(size: int, body: Json) -> bytes:
    """`body` as JSON, padded with insignificant whitespace to exactly `size` bytes."""
    content = json.dumps(body).encode()
    return content + b" " * (size - len(content))


@pytest.mark.parametrize(("size", "status"), [(MIB, 201), (MIB + 1, 413)], ids=["1-MiB", "over"])
def test_a_body_over_one_mebibyte_is_refused(shop: httpx.Client, size: int, status: int) -> None:
    email = unique_email()
    content = padded_to(size, {"email": email, "name": "Big"})

    # A connection of its own: legacy answers 413 before reading the body and keeps the
    # connection open, and the next request on it then gets no answer at all.
    with httpx.Client(base_url=shop.base_url, timeout=30) as own:
        response = own.post("/users", content=content, headers={"content-type": "application/json"})

    if status == 413:
        assert_error(response, 413, "payload_too_large")
        assert shop.post("/users", json={"email": email, "name": "Small"}).status_code == 201
    else:
        assert response.status_code == 201, response.text


HUGE_ID = 2**64  # larger than any id the database can hold


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", f"/users/{HUGE_ID}", "user_not_found"),
        ("GET", f"/products/{HUGE_ID}", "product_not_found"),
        ("GET", f"/orders/{HUGE_ID}", "order_not_found"),
        ("POST", f"/orders/{HUGE_ID}/cancel", "order_not_found"),
    ],
)
def test_an_id_too_large_for_the_database_is_simply_not_found(
    shop: httpx.Client, method: str, path: str, code: str
) -> None:
    assert_error(shop.request(method, path), 404, code)


def test_the_largest_date_is_refused_rather_than_overflowing(shop: httpx.Client) -> None:
    response = shop.get("/reports/sales", params={"from": "9999-12-31", "to": "9999-12-31"})
    assert_error(response, 400, "validation_error")


def test_after_a_refused_oversized_body_the_same_connection_still_serves(
    shop: httpx.Client,
) -> None:
    with httpx.Client(base_url=shop.base_url, timeout=30) as own:
        refused = own.post("/users", content=padded_to(MIB + 1, {"email": unique_email()}))
        assert_error(refused, 413, "payload_too_large")
        assert own.post("/users", json={"email": unique_email(), "name": "Next"}).status_code == 201
