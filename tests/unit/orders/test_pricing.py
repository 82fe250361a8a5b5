"""The orders service prices a cart exactly as legacy_app/API.md says the legacy shop does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from new_services.orders.pricing import Price, Rounding, Rules, UnknownDiscountCode, price


def test_a_small_order_pays_shipping_and_tax_rounded_half_up() -> None:
    assert price([1999, 2 * 450], None) == Price(2899, None, 0, 499, 232, 3630)


def test_save10_takes_ten_percent_rounded_down_before_shipping_and_tax() -> None:
    assert price([5005], "save10") == Price(5005, "SAVE10", 500, 499, 360, 5364)


def test_welcome5_takes_500_at_most_the_subtotal() -> None:
    assert price([300], "WELCOME5") == Price(300, "WELCOME5", 300, 499, 0, 499)


def test_free_shipping_from_5000_after_the_discount() -> None:
    assert price([5000], None).shipping_cents == 0
    assert price([5000], "SAVE10").shipping_cents == 499


def test_an_unknown_code_is_refused() -> None:
    with pytest.raises(UnknownDiscountCode):
        price([100], "FREE")


@given(
    lines=st.lists(st.integers(min_value=0, max_value=10_000_000), max_size=20),
    code=st.sampled_from([None, "SAVE10", "save10", "WELCOME5"]),
)
def test_the_total_is_always_the_sum_of_its_parts_and_never_negative(
    lines: list[int], code: str | None
) -> None:
    priced = price(lines, code)
    assert priced.total_cents == (
        priced.subtotal_cents - priced.discount_cents + priced.shipping_cents + priced.tax_cents
    )
    assert 0 <= priced.discount_cents <= priced.subtotal_cents
    assert priced.total_cents >= 0


def test_rules_kept_as_data_change_only_what_they_name() -> None:
    rules = Rules.from_json(
        {"tax_rounding": "down", "discounts": {"half": {"kind": "percent", "amount": 50}}}
    )
    assert (rules.tax_percent, rules.shipping_cents, rules.tax_rounding) == (8, 499, Rounding.DOWN)
    # 8% of 1,019 is 81.52 cents: 82 rounded half up, 81 cut off
    assert price([1_019], None).tax_cents == 82
    assert price([1_019], "HALF", rules).tax_cents == (509 * 8) // 100
    assert price([1_019], None, rules).tax_cents == 81
    with pytest.raises(UnknownDiscountCode):
        price([1_019], "SAVE10", rules)  # the file's codes replace the shop's


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"tax_rounding": "sideways"}, "tax_rounding"),
        ({"tax_percent": -1}, "tax_percent"),
        ({"tax_percent": True}, "tax_percent"),
        ({"vat": 20}, "vat"),
        ({"discounts": {"X": {"kind": "gift"}}}, "discount"),
    ],
)
def test_rules_that_cannot_be_used_are_refused_by_name(
    document: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        Rules.from_json(document)
