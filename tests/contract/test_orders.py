"""Orders after checkout: reading them, a user's history, and cancelling with a refund."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.contract.support import MISSING_ID, Provider, assert_error

Json = dict[str, Any]
Make = Callable[..., Json]
PlaceOrder = Callable[..., tuple[Json, Json, str]]


def test_a_new_user_has_no_orders(shop: httpx.Client, make_user: Make) -> None:
    user = make_user()

    response = shop.get(f"/users/{user['id']}/orders")

    assert response.status_code == 200
    assert response.json() == {"orders": []}


def test_the_history_holds_every_order_of_the_user_newest_first(
    shop: httpx.Client, make_user: Make, make_product: Make, place_order: PlaceOrder
) -> None:
    user, someone_else = make_user(), make_user()
    product = make_product(stock=10)
    _, first, _ = place_order([(product, 1)], user=user)
    place_order([(product, 1)], user=someone_else)
    _, second, _ = place_order([(product, 2)], user=user)
    _, third, _ = place_order([(product, 3)], user=user)

    response = shop.get(f"/users/{user['id']}/orders")

    assert response.status_code == 200
    assert response.json() == {"orders": [third, second, first]}


def test_the_history_of_an_unknown_user_is_not_found(shop: httpx.Client) -> None:
    assert_error(shop.get(f"/users/{MISSING_ID}/orders"), 404, "user_not_found")


def test_an_unknown_order_is_not_found(shop: httpx.Client) -> None:
    assert_error(shop.get(f"/orders/{MISSING_ID}"), 404, "order_not_found")
    assert_error(shop.post(f"/orders/{MISSING_ID}/cancel"), 404, "order_not_found")


def test_a_cancelled_order_is_refunded_in_full_restocked_and_gone(
    shop: httpx.Client, make_product: Make, place_order: PlaceOrder, provider: Provider
) -> None:
    teapot, cups = make_product(price_cents=1_500, stock=10), make_product(stock=5)
    user, order, token = place_order([(teapot, 2), (cups, 5)])
    kept_user, kept_order, _ = place_order([(teapot, 1)])

    response = shop.post(f"/orders/{order['id']}/cancel")

    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"id", "status", "refund_id", "refunded_cents"}
    assert (answer["id"], answer["status"]) == (order["id"], "cancelled")
    assert answer["refunded_cents"] == order["total_cents"]
    refunds = provider.refunds(order["charge_id"])
    assert [(r["id"], r["amount_cents"]) for r in refunds] == [
        (answer["refund_id"], order["total_cents"])
    ]
    (charge,) = provider.charges(token)
    assert (charge["status"], charge["refunded_cents"]) == ("refunded", order["total_cents"])
    assert shop.get(f"/products/{teapot['id']}").json()["stock"] == 10 - 1
    assert shop.get(f"/products/{cups['id']}").json()["stock"] == 5
    assert_error(shop.get(f"/orders/{order['id']}"), 404, "order_not_found")
    assert shop.get(f"/users/{user['id']}/orders").json() == {"orders": []}
    assert shop.get(f"/orders/{kept_order['id']}").json() == kept_order
    assert shop.get(f"/users/{kept_user['id']}/orders").json() == {"orders": [kept_order]}


def test_an_order_can_be_cancelled_only_once(
    shop: httpx.Client, make_product: Make, place_order: PlaceOrder, provider: Provider
) -> None:
    product = make_product(stock=4)
    _, order, _ = place_order([(product, 1)])
    assert shop.post(f"/orders/{order['id']}/cancel").status_code == 200

    again = shop.post(f"/orders/{order['id']}/cancel")

    assert_error(again, 404, "order_not_found")
    assert len(provider.refunds(order["charge_id"])) == 1
    assert shop.get(f"/products/{product['id']}").json()["stock"] == 4


def test_an_order_whose_product_was_deleted_can_still_be_cancelled(
    shop: httpx.Client, make_product: Make, place_order: PlaceOrder, provider: Provider
) -> None:
    kept, deleted = make_product(stock=3), make_product(stock=3)
    _, order, _ = place_order([(kept, 1), (deleted, 1)])
    assert shop.delete(f"/products/{deleted['id']}").status_code == 204

    response = shop.post(f"/orders/{order['id']}/cancel")

    assert response.status_code == 200, response.text
    assert response.json()["refunded_cents"] == order["total_cents"]
    assert [r["amount_cents"] for r in provider.refunds(order["charge_id"])] == [
        order["total_cents"]
    ]
    assert shop.get(f"/products/{kept['id']}").json()["stock"] == 3
    assert_error(shop.get(f"/products/{deleted['id']}"), 404, "product_not_found")


def test_a_refund_the_provider_fails_changes_nothing(
    shop: httpx.Client, make_product: Make, place_order: PlaceOrder, provider: Provider
) -> None:
    product = make_product(stock=5)
    user, order, token = place_order([(product, 2)])
    provider.configure(failure_rate=1.0)

    response = shop.post(f"/orders/{order['id']}/cancel")

    provider.restore()
    assert_error(response, 502, "refund_failed")
    assert provider.refunds(order["charge_id"]) == []
    assert [c["refunded_cents"] for c in provider.charges(token)] == [0]
    assert shop.get(f"/orders/{order['id']}").json() == order
    assert shop.get(f"/users/{user['id']}/orders").json() == {"orders": [order]}
    assert shop.get(f"/products/{product['id']}").json()["stock"] == 3
    assert shop.post(f"/orders/{order['id']}/cancel").status_code == 200
