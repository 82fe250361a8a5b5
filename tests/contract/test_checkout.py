"""Checkout: what a placed order looks like and does, and that every refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.contract.support import (
    LINE_KEYS,
    MISSING_ID,
    ORDER_KEYS,
    Mailbox,
    Provider,
    assert_error,
    assert_recent_utc,
    card_token,
    money_taken,
)

Json = dict[str, Any]
Make = Callable[..., Json]
FillCart = Callable[[Json, list[tuple[Json, int]]], Json]


@dataclass(frozen=True)
class Placed:
    user: Json
    teapot: Json
    cups: Json
    order: Json
    token: str


@pytest.fixture
def placed(shop: httpx.Client, make_user: Make, make_product: Make, fill_cart: FillCart) -> Placed:
    """A fresh user buys 2 teapots and 1 set of cups: subtotal 3,800, total 4,603."""
    user = make_user(name="Ada Buyer")
    teapot = make_product(price_cents=1_500, stock=10, name="Teapot")
    cups = make_product(price_cents=800, stock=3, name="Cups")
    fill_cart(user, [(teapot, 2), (cups, 1)])
    token = card_token()
    response = shop.post(f"/users/{user['id']}/checkout", json={"card_token": token})
    assert response.status_code == 201, response.text
    return Placed(user, teapot, cups, response.json(), token)


def test_a_checkout_answers_with_the_placed_order(placed: Placed) -> None:
    order = placed.order
    assert set(order) == ORDER_KEYS
    assert all(set(line) == LINE_KEYS for line in order["items"])
    assert isinstance(order["id"], int)
    assert isinstance(order["charge_id"], str)
    assert_recent_utc(order["created_at"])
    assert order == {
        "id": order["id"],
        "user_id": placed.user["id"],
        "status": "placed",
        "items": [
            {
                "product_id": placed.teapot["id"],
                "name": "Teapot",
                "unit_price_cents": 1_500,
                "quantity": 2,
                "line_total_cents": 3_000,
            },
            {
                "product_id": placed.cups["id"],
                "name": "Cups",
                "unit_price_cents": 800,
                "quantity": 1,
                "line_total_cents": 800,
            },
        ],
        "subtotal_cents": 3_800,
        "discount_code": None,
        "discount_cents": 0,
        "shipping_cents": 499,
        "tax_cents": 304,
        "total_cents": 4_603,
        "charge_id": order["charge_id"],
        "created_at": order["created_at"],
    }


def test_a_checkout_charges_the_card_once_for_the_total(placed: Placed, provider: Provider) -> None:
    charges = provider.charges(placed.token)

    assert len(charges) == 1
    charge = charges[0]
    assert charge["id"] == placed.order["charge_id"]
    assert charge["amount_cents"] == placed.order["total_cents"]
    assert charge["currency"] == "usd"
    assert charge["card_token"] == placed.token
    assert charge["description"] == f"Order for {placed.user['email']}"
    assert charge["status"] == "succeeded"
    assert charge["refunded_cents"] == 0


def test_a_checkout_sends_one_confirmation_email(placed: Placed, mailbox: Mailbox) -> None:
    messages = mailbox.wait_for(placed.user["email"])

    assert len(messages) == 1
    message = messages[0]
    order_id = placed.order["id"]
    assert message["mail_from"] == "shop@example.com"
    assert message["rcpt_tos"] == [placed.user["email"]]
    assert message["subject"] == f"Your order #{order_id}"
    assert f"#{order_id}" in message["text"]
    assert "46.03" in message["text"]


def test_a_checkout_takes_the_bought_units_out_of_stock(
    placed: Placed, read: Callable[[str], Any]
) -> None:
    assert read(f"/products/{placed.teapot['id']}")["stock"] == 10 - 2
    assert read(f"/products/{placed.cups['id']}")["stock"] == 3 - 1


def test_a_checkout_empties_the_cart(placed: Placed, read: Callable[[str], Any]) -> None:
    assert read(f"/users/{placed.user['id']}/cart") == {
        "user_id": placed.user["id"],
        "items": [],
        "subtotal_cents": 0,
    }


def test_a_placed_order_can_be_read_back_and_is_in_the_history(
    placed: Placed, read: Callable[[str], Any]
) -> None:
    assert read(f"/orders/{placed.order['id']}") == placed.order
    assert read(f"/users/{placed.user['id']}/orders") == {"orders": [placed.order]}


def test_a_checkout_may_take_the_last_unit(
    shop: httpx.Client, make_product: Make, place_order: Callable[..., Any]
) -> None:
    product = make_product(stock=2)

    place_order([(product, 2)])

    assert shop.get(f"/products/{product['id']}").json()["stock"] == 0


def test_a_checkout_charges_the_price_of_the_moment(
    shop: httpx.Client, make_product: Make, provider: Provider, place_order: Callable[..., Any]
) -> None:
    product = make_product(price_cents=6_000, name="Old name")
    patched = shop.patch(f"/products/{product['id']}", json={"price_cents": 7_000, "name": "New"})
    assert patched.status_code == 200

    _, order, token = place_order([(product, 1)])

    assert order["items"][0]["unit_price_cents"] == 7_000
    assert order["items"][0]["name"] == "New"
    assert order["total_cents"] == 7_000 + 560
    assert [c["amount_cents"] for c in provider.charges(token)] == [7_560]


def test_an_order_keeps_its_copy_of_a_product_that_changed_or_was_deleted(
    shop: httpx.Client, make_product: Make, place_order: Callable[..., Any]
) -> None:
    changed = make_product(price_cents=2_000, name="Changed later")
    deleted = make_product(price_cents=3_000, name="Deleted later")
    user, order, _ = place_order([(changed, 1), (deleted, 2)])

    shop.patch(f"/products/{changed['id']}", json={"price_cents": 1, "name": "Other"})
    assert shop.delete(f"/products/{deleted['id']}").status_code == 204

    assert shop.get(f"/orders/{order['id']}").json() == order
    assert shop.get(f"/users/{user['id']}/orders").json() == {"orders": [order]}


# ------------------------------------------------------------------ refusals


@dataclass(frozen=True)
class Snapshot:
    """Everything a client can see that a checkout could change."""

    cart: Json
    stock: dict[int, int]
    orders: Json
    mail: list[Json]


def snapshot(shop: httpx.Client, mailbox: Mailbox, user: Json, products: list[Json]) -> Snapshot:
    return Snapshot(
        cart=shop.get(f"/users/{user['id']}/cart").json(),
        stock={p["id"]: shop.get(f"/products/{p['id']}").json()["stock"] for p in products},
        orders=shop.get(f"/users/{user['id']}/orders").json(),
        mail=mailbox.messages(user["email"]),
    )


@dataclass(frozen=True)
class Refusal:
    """A checkout the shop must refuse: what to send, in which state, and the answer."""

    status: int
    code: str
    card: str = "visa"  # a kind of test card: visa, declined, error
    body: Json | None = None  # sent as is instead of a card of the kind above
    discount_code: Any = None
    stocks: tuple[int, int] = (10, 10)
    quantities: tuple[int, int] = (2, 1)
    fault: Json | None = None


REFUSALS = {
    "card-declined": Refusal(402, "card_declined", card="declined"),
    "provider-error": Refusal(502, "payment_failed", card="error"),
    "provider-unavailable": Refusal(502, "payment_failed", fault={"failure_rate": 1.0}),
    "unknown-discount-code": Refusal(422, "invalid_discount_code", discount_code="FREESTUFF"),
    "sold-out": Refusal(409, "out_of_stock", stocks=(10, 0)),
    "first-line-short": Refusal(409, "out_of_stock", stocks=(1, 10)),
    "second-line-short": Refusal(409, "out_of_stock", stocks=(10, 2), quantities=(2, 3)),
    "card-token-missing": Refusal(400, "validation_error", body={}),
    "card-token-null": Refusal(400, "validation_error", body={"card_token": None}),
    "card-token-empty": Refusal(400, "validation_error", body={"card_token": ""}),
    "card-token-number": Refusal(400, "validation_error", body={"card_token": 4242}),
    "discount-code-number": Refusal(400, "validation_error", discount_code=10),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_checkout_changes_nothing(
    shop: httpx.Client,
    make_user: Make,
    make_product: Make,
    fill_cart: FillCart,
    provider: Provider,
    mailbox: Mailbox,
    case: Refusal,
) -> None:
    user = make_user()
    products = [make_product(price_cents=2_500, stock=stock) for stock in case.stocks]
    fill_cart(user, list(zip(products, case.quantities, strict=True)))
    token = card_token(case.card)
    body: Json = {"card_token": token} if case.body is None else dict(case.body)
    if case.discount_code is not None:
        body["discount_code"] = case.discount_code
    if case.fault:
        provider.configure(**case.fault)
    before = snapshot(shop, mailbox, user, products)

    response = shop.post(f"/users/{user['id']}/checkout", json=body)

    assert_error(response, case.status, case.code)
    provider.restore()
    assert snapshot(shop, mailbox, user, products) == before
    assert before.cart["items"]  # the cart that must survive was really there
    assert money_taken(provider.charges(token)) == []


def test_a_checkout_with_an_empty_cart_is_refused_without_a_charge(
    shop: httpx.Client, make_user: Make, provider: Provider
) -> None:
    user = make_user()
    token = card_token()

    response = shop.post(f"/users/{user['id']}/checkout", json={"card_token": token})

    assert_error(response, 422, "cart_empty")
    assert provider.charges(token) == []
    assert shop.get(f"/users/{user['id']}/orders").json() == {"orders": []}


def test_a_checkout_for_an_unknown_user_is_not_found(shop: httpx.Client) -> None:
    response = shop.post(f"/users/{MISSING_ID}/checkout", json={"card_token": card_token()})

    assert_error(response, 404, "user_not_found")


def test_a_cart_can_be_checked_out_after_a_declined_card(
    shop: httpx.Client, make_user: Make, make_product: Make, fill_cart: FillCart
) -> None:
    user = make_user()
    product = make_product(stock=1)
    fill_cart(user, [(product, 1)])
    declined = shop.post(
        f"/users/{user['id']}/checkout", json={"card_token": card_token("declined")}
    )
    assert_error(declined, 402, "card_declined")

    retry = shop.post(f"/users/{user['id']}/checkout", json={"card_token": card_token()})

    assert retry.status_code == 201, retry.text
    assert shop.get(f"/products/{product['id']}").json()["stock"] == 0
