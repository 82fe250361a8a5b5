"""Clients for the shop and the two stand-ins, and factories that make fresh data per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import StackUrls
from tests.contract.support import Mailbox, Provider, card_token, unique_email, unique_sku

Json = dict[str, Any]


@pytest.fixture(scope="session")
def shop(stack_urls: StackUrls) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack_urls.shop, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def payments_client(stack_urls: StackUrls) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack_urls.payments, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def mail_client(stack_urls: StackUrls) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack_urls.mail, timeout=30) as client:
        yield client


@pytest.fixture
def provider(payments_client: httpx.Client) -> Iterator[Provider]:
    """The payment provider; any fault config a test sets is undone after it."""
    provider = Provider(payments_client)
    try:
        yield provider
    finally:
        provider.restore()


@pytest.fixture
def mailbox(mail_client: httpx.Client) -> Mailbox:
    return Mailbox(mail_client)


@pytest.fixture
def make_user(shop: httpx.Client) -> Callable[..., Json]:
    def make(email: str | None = None, name: str = "Ada Buyer") -> Json:
        response = shop.post("/users", json={"email": email or unique_email(), "name": name})
        assert response.status_code == 201, response.text
        user: Json = response.json()
        return user

    return make


@pytest.fixture
def make_product(shop: httpx.Client) -> Callable[..., Json]:
    def make(price_cents: int = 1_000, stock: int = 10, name: str | None = None) -> Json:
        sku = unique_sku()
        body = {"sku": sku, "name": name or f"Widget {sku}", "price_cents": price_cents}
        response = shop.post("/products", json={**body, "stock": stock})
        assert response.status_code == 201, response.text
        product: Json = response.json()
        return product

    return make


@pytest.fixture
def fill_cart(shop: httpx.Client) -> Callable[[Json, list[tuple[Json, int]]], Json]:
    """Put (product, quantity) lines into the user's cart; returns the cart."""

    def fill(user: Json, lines: list[tuple[Json, int]]) -> Json:
        cart: Json = {}
        for product, quantity in lines:
            response = shop.post(
                f"/users/{user['id']}/cart/items",
                json={"product_id": product["id"], "quantity": quantity},
            )
            assert response.status_code == 200, response.text
            cart = response.json()
        return cart

    return fill


@pytest.fixture
def place_order(
    shop: httpx.Client, make_user: Callable[..., Json], fill_cart: Callable[..., Json]
) -> Callable[..., tuple[Json, Json, str]]:
    """A new user buys the given lines; returns (user, order, card token)."""

    def place(
        lines: list[tuple[Json, int]], discount_code: str | None = None, user: Json | None = None
    ) -> tuple[Json, Json, str]:
        buyer = user or make_user()
        fill_cart(buyer, lines)
        token = card_token()
        body: Json = {"card_token": token}
        if discount_code is not None:
            body["discount_code"] = discount_code
        response = shop.post(f"/users/{buyer['id']}/checkout", json=body)
        assert response.status_code == 201, response.text
        return buyer, response.json(), token

    return place


@pytest.fixture
def read(shop: httpx.Client) -> Callable[[str], Any]:
    """GET a path that must answer 200, and return its JSON."""

    def get(path: str) -> Any:
        response = shop.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    return get
