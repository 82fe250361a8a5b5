"""The cart: one per user, lines that accumulate up to 100, and what deletion does to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.contract.support import CART_KEYS, LINE_KEYS, MISSING_ID, assert_error

Json = dict[str, Any]
Make = Callable[..., Json]
FillCart = Callable[[Json, list[tuple[Json, int]]], Json]


def add(shop: httpx.Client, user: Json, product_id: Any, quantity: Any) -> httpx.Response:
    return shop.post(
        f"/users/{user['id']}/cart/items", json={"product_id": product_id, "quantity": quantity}
    )


def test_a_new_user_has_an_empty_cart(shop: httpx.Client, make_user: Make) -> None:
    user = make_user()

    response = shop.get(f"/users/{user['id']}/cart")

    assert response.status_code == 200
    assert response.json() == {"user_id": user["id"], "items": [], "subtotal_cents": 0}


def test_added_products_show_as_priced_lines_in_the_order_first_added(
    shop: httpx.Client, make_user: Make, make_product: Make
) -> None:
    user = make_user()
    teapot = make_product(price_cents=1_250, name="Teapot")
    cups = make_product(price_cents=300, name="Cups")

    add(shop, user, teapot["id"], 2)
    add(shop, user, cups["id"], 4)
    response = add(shop, user, teapot["id"], 1)

    assert response.status_code == 200
    cart = response.json()
    assert set(cart) == CART_KEYS
    assert all(set(line) == LINE_KEYS for line in cart["items"])
    assert cart == {
        "user_id": user["id"],
        "items": [
            {
                "product_id": teapot["id"],
                "name": "Teapot",
                "unit_price_cents": 1_250,
                "quantity": 3,
                "line_total_cents": 3_750,
            },
            {
                "product_id": cups["id"],
                "name": "Cups",
                "unit_price_cents": 300,
                "quantity": 4,
                "line_total_cents": 1_200,
            },
        ],
        "subtotal_cents": 4_950,
    }
    assert shop.get(f"/users/{user['id']}/cart").json() == cart


def test_each_user_has_a_cart_of_their_own(
    shop: httpx.Client, make_user: Make, make_product: Make, fill_cart: FillCart
) -> None:
    alice, bob = make_user(), make_user()
    product = make_product()

    fill_cart(alice, [(product, 2)])

    assert shop.get(f"/users/{bob['id']}/cart").json()["items"] == []


def test_a_product_may_be_added_beyond_its_stock(
    shop: httpx.Client, make_user: Make, make_product: Make
) -> None:
    """Stock is checked at checkout, not when a product goes into the cart."""
    product = make_product(stock=1)

    response = add(shop, make_user(), product["id"], 5)

    assert response.status_code == 200
    assert response.json()["items"][0]["quantity"] == 5


def test_a_cart_line_fills_up_to_100_and_no_further(
    shop: httpx.Client, make_user: Make, make_product: Make
) -> None:
    user = make_user()
    product = make_product(price_cents=10)

    assert add(shop, user, product["id"], 60).status_code == 200
    full = add(shop, user, product["id"], 40)
    assert full.status_code == 200
    assert full.json()["items"][0]["quantity"] == 100

    assert_error(add(shop, user, product["id"], 1), 400, "validation_error")
    assert shop.get(f"/users/{user['id']}/cart").json() == full.json()


@pytest.mark.parametrize(
    ("product_id", "quantity"),
    [
        pytest.param(None, 0, id="quantity-zero"),
        pytest.param(None, 101, id="quantity-over-100"),
        pytest.param(None, -1, id="quantity-negative"),
        pytest.param(None, True, id="quantity-bool"),
        pytest.param(None, 1.0, id="quantity-float"),
        pytest.param(None, "1", id="quantity-string"),
        pytest.param(None, ..., id="quantity-missing"),
        pytest.param("1", 1, id="product-id-string"),
        pytest.param(True, 1, id="product-id-bool"),
        pytest.param(..., 1, id="product-id-missing"),
    ],
)
def test_an_invalid_cart_line_is_refused_and_changes_nothing(
    shop: httpx.Client, make_user: Make, make_product: Make, product_id: Any, quantity: Any
) -> None:
    user = make_user()
    product = make_product()
    body = {"product_id": product["id"] if product_id is None else product_id, "quantity": quantity}
    body = {key: value for key, value in body.items() if value is not ...}

    response = shop.post(f"/users/{user['id']}/cart/items", json=body)

    assert_error(response, 400, "validation_error")
    assert shop.get(f"/users/{user['id']}/cart").json()["items"] == []


def test_an_unknown_product_cannot_be_added(shop: httpx.Client, make_user: Make) -> None:
    user = make_user()

    assert_error(add(shop, user, MISSING_ID, 1), 404, "product_not_found")


def test_a_line_can_be_removed(
    shop: httpx.Client, make_user: Make, make_product: Make, fill_cart: FillCart
) -> None:
    user = make_user()
    kept, removed = make_product(price_cents=100), make_product(price_cents=700)
    fill_cart(user, [(kept, 1), (removed, 2)])

    response = shop.delete(f"/users/{user['id']}/cart/items/{removed['id']}")

    assert response.status_code == 200
    assert [line["product_id"] for line in response.json()["items"]] == [kept["id"]]
    assert response.json()["subtotal_cents"] == 100
    assert shop.get(f"/users/{user['id']}/cart").json() == response.json()
    again = shop.delete(f"/users/{user['id']}/cart/items/{removed['id']}")
    assert_error(again, 404, "item_not_found")


def test_removing_a_product_that_is_not_in_the_cart_is_not_found(
    shop: httpx.Client, make_user: Make, make_product: Make
) -> None:
    user = make_user()
    product = make_product()

    response = shop.delete(f"/users/{user['id']}/cart/items/{product['id']}")

    assert_error(response, 404, "item_not_found")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users/{user}/cart", None),
        ("POST", "/users/{user}/cart/items", {"product_id": "{product}", "quantity": 1}),
        ("DELETE", "/users/{user}/cart/items/{product}", None),
    ],
    ids=["get", "add", "remove"],
)
def test_the_cart_of_an_unknown_user_is_not_found(
    shop: httpx.Client, make_product: Make, method: str, path: str, body: Json | None
) -> None:
    product = make_product()
    if body is not None:
        body = {**body, "product_id": product["id"]}

    response = shop.request(method, path.format(user=MISSING_ID, product=product["id"]), json=body)

    assert_error(response, 404, "user_not_found")


def test_a_price_change_shows_in_carts_at_once(
    shop: httpx.Client,
    make_user: Make,
    make_product: Make,
    fill_cart: FillCart,
) -> None:
    # In the canary modes two processes cache products (legacy and a clone, or legacy and
    # the catalog); each hears of the other's price change at once through the database's
    # product generation (migrations 0005g, legacy's SEAM(product-generation)).
    user = make_user()
    product = make_product(price_cents=1_000)
    fill_cart(user, [(product, 3)])

    shop.patch(f"/products/{product['id']}", json={"price_cents": 1_100, "name": "Dearer"})

    cart = shop.get(f"/users/{user['id']}/cart").json()
    assert cart["items"][0]["unit_price_cents"] == 1_100
    assert cart["items"][0]["name"] == "Dearer"
    assert cart["items"][0]["line_total_cents"] == 3_300
    assert cart["subtotal_cents"] == 3_300


def test_deleting_a_product_removes_it_from_every_cart(
    shop: httpx.Client, make_user: Make, make_product: Make, fill_cart: FillCart
) -> None:
    alice, bob = make_user(), make_user()
    kept, deleted = make_product(price_cents=200), make_product(price_cents=900)
    fill_cart(alice, [(deleted, 1), (kept, 2)])
    fill_cart(bob, [(deleted, 3)])

    assert shop.delete(f"/products/{deleted['id']}").status_code == 204

    alice_cart = shop.get(f"/users/{alice['id']}/cart").json()
    assert [line["product_id"] for line in alice_cart["items"]] == [kept["id"]]
    assert alice_cart["subtotal_cents"] == 400
    assert shop.get(f"/users/{bob['id']}/cart").json() == {
        "user_id": bob["id"],
        "items": [],
        "subtotal_cents": 0,
    }
    removal = shop.delete(f"/users/{bob['id']}/cart/items/{deleted['id']}")
    assert_error(removal, 404, "item_not_found")
