"""Pricing at checkout: subtotal, discount, shipping, tax and total, worked out by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
import pytest

from tests.contract.support import Provider, card_token

Json = dict[str, Any]


class Priced(NamedTuple):
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int


def case(name: str, lines: list[tuple[int, int]], code: str | None, *money: int) -> Any:
    """One row: the cart as (unit price, quantity) lines, the code sent, the expected money."""
    return pytest.param(lines, code, Priced(*money), id=name)


# Worked out by hand from API.md: subtotal, discount, shipping, tax, total.
PRICING = [
    case("just-under-free-shipping", [(4_999, 1)], None, 4_999, 0, 499, 400, 5_898),
    case("exactly-free-shipping", [(2_500, 2)], None, 5_000, 0, 0, 400, 5_400),
    case("lines-add-up", [(1_250, 3), (300, 4)], None, 4_950, 0, 499, 396, 5_845),
    case("tax-rounds-down-below-half", [(1_001, 1)], None, 1_001, 0, 499, 80, 1_580),
    case("tax-rounds-up-from-half", [(7, 1)], None, 7, 0, 499, 1, 507),
    case("free-product", [(0, 3)], None, 0, 0, 499, 0, 499),
    case("big-order", [(99_999_999, 1)], None, 99_999_999, 0, 0, 8_000_000, 107_999_999),
    case("save10-rounds-down", [(1_999, 1)], "SAVE10", 1_999, 199, 499, 144, 2_443),
    case("save10-then-shipping", [(5_500, 1)], "SAVE10", 5_500, 550, 499, 396, 5_845),
    case("save10-still-free-shipping", [(5_556, 1)], "SAVE10", 5_556, 555, 0, 400, 5_401),
    case("welcome5-takes-500", [(10_000, 1)], "WELCOME5", 10_000, 500, 0, 760, 10_260),
    case("welcome5-then-shipping", [(5_400, 1)], "WELCOME5", 5_400, 500, 499, 392, 5_791),
    case("welcome5-capped-at-subtotal", [(300, 1)], "WELCOME5", 300, 300, 499, 0, 499),
    case("welcome5-on-a-free-product", [(0, 1)], "WELCOME5", 0, 0, 499, 0, 499),
    case("lower-case-code", [(2_000, 1)], "save10", 2_000, 200, 499, 144, 2_443),
    case("mixed-case-code", [(1_000, 1)], "WeLcOmE5", 1_000, 500, 499, 40, 1_039),
]


@pytest.mark.parametrize(("lines", "code", "priced"), PRICING)
def test_an_order_is_priced_by_the_published_rules(
    make_product: Callable[..., Json],
    place_order: Callable[..., tuple[Json, Json, str]],
    provider: Provider,
    lines: list[tuple[int, int]],
    code: str | None,
    priced: Priced,
) -> None:
    cart = [(make_product(price_cents=price, stock=10), quantity) for price, quantity in lines]

    _, order, token = place_order(cart, discount_code=code)

    assert [line["line_total_cents"] for line in order["items"]] == [p * q for p, q in lines]
    assert order["discount_code"] == (code.upper() if code else None)
    money = ("subtotal", "discount", "shipping", "tax", "total")
    assert Priced(*(order[f"{name}_cents"] for name in money)) == priced
    assert [c["amount_cents"] for c in provider.charges(token)] == [priced.total]


def test_a_null_discount_code_means_no_discount(
    shop: httpx.Client,
    make_user: Callable[..., Json],
    make_product: Callable[..., Json],
    fill_cart: Callable[..., Json],
) -> None:
    user = make_user()
    fill_cart(user, [(make_product(price_cents=1_000), 1)])

    response = shop.post(
        f"/users/{user['id']}/checkout", json={"card_token": card_token(), "discount_code": None}
    )

    assert response.status_code == 201, response.text
    order = response.json()
    assert (order["discount_code"], order["discount_cents"], order["total_cents"]) == (
        None,
        0,
        1_000 + 499 + 80,
    )
