"""The sales report: validation, and what one checkout or cancellation adds to it.

The database may hold any number of earlier orders, so every assertion is about the change
this test's own checkout makes, read right before and right after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.contract.support import assert_error, eventually, utc_today

Json = dict[str, Any]
Make = Callable[..., Json]
PlaceOrder = Callable[..., tuple[Json, Json, str]]
REPORT_KEYS = {"from", "to", "order_count", "revenue_cents", "units_sold", "top_products"}
TOTALS = ("order_count", "revenue_cents", "units_sold")
SETTLE_S = 0.6  # longer than an event takes from the outbox to the report


def report(shop: httpx.Client, start: date, end: date) -> Json:
    response = shop.get("/reports/sales", params={"from": start.isoformat(), "to": end.isoformat()})
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def settled(shop: httpx.Client, start: date, end: date) -> Json:
    """The report once it has stopped moving: a report kept from events (the extracted
    analytics) may still be counting an earlier test's order when this one starts."""
    last = report(shop, start, end)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(SETTLE_S)
        again = report(shop, start, end)
        if again == last:
            break
        last = again
    return last


def totals(body: Json) -> tuple[int, int, int]:
    return body["order_count"], body["revenue_cents"], body["units_sold"]


def plus(body: Json, orders: int, revenue: int, units: int) -> tuple[int, int, int]:
    return body["order_count"] + orders, body["revenue_cents"] + revenue, body["units_sold"] + units


def test_a_report_echoes_its_range_and_has_the_published_shape(shop: httpx.Client) -> None:
    body = report(shop, date(2001, 2, 3), date(2001, 2, 3))

    assert set(body) == REPORT_KEYS
    assert (body["from"], body["to"]) == ("2001-02-03", "2001-02-03")
    assert all(isinstance(body[key], int) for key in TOTALS)
    assert isinstance(body["top_products"], list)


def test_a_checkout_counts_in_the_report_of_its_day(
    shop: httpx.Client, make_product: Make, place_order: PlaceOrder
) -> None:
    today = utc_today()
    days = (today - timedelta(days=1), today + timedelta(days=1))
    star = make_product(price_cents=_price_above_every_top_product(shop, days), stock=20)
    extra = make_product(price_cents=100, stock=20, name="Extra")
    before = settled(shop, *days)
    before_by_day = {day: report(shop, day, day) for day in (today, today + timedelta(days=1))}

    _, order, _ = place_order([(star, 2), (extra, 3)])

    delta = (1, order["total_cents"], 5)
    after = eventually(lambda: report(shop, *days), lambda r: totals(r) == plus(before, *delta))
    assert totals(after) == plus(before, *delta)
    assert [p for p in after["top_products"] if p["product_id"] == star["id"]] == [
        {
            "product_id": star["id"],
            "name": star["name"],
            "units": 2,
            "revenue_cents": 2 * star["price_cents"],
        }
    ]
    day = date.fromisoformat(order["created_at"][:10])
    assert totals(report(shop, day, day)) == plus(before_by_day[day], *delta)


def _price_above_every_top_product(shop: httpx.Client, days: tuple[date, date]) -> int:
    """A unit price at which two units out-earn every product already in the report."""
    top = report(shop, *days)["top_products"]
    best = max((p["revenue_cents"] for p in top), default=0)
    price = best // 2 + 1
    if price > 100_000_000:
        pytest.skip("earlier runs already sold more today than one product can out-earn")
    return price


def test_a_checkout_counts_neither_the_day_before_nor_the_day_after(
    shop: httpx.Client, make_product: Make, place_order: PlaceOrder
) -> None:
    today = utc_today()
    neighbours = [
        (today - timedelta(days=2), today - timedelta(days=1)),
        (today + timedelta(days=1),) * 2,
    ]
    before = [settled(shop, *days) for days in neighbours]
    on_the_day = settled(shop, today, today)

    _, order, _ = place_order([(make_product(), 1)])

    assert order["created_at"].startswith(today.isoformat()), "crossed midnight: run again"
    counted = (1, order["total_cents"], 1)
    # once its own day counts it (at once on legacy, soon on a report kept from events)...
    eventually(
        lambda: report(shop, today, today), lambda r: totals(r) >= plus(on_the_day, *counted)
    )
    # ...the days around it still do not
    assert [report(shop, *days) for days in neighbours] == before


def test_a_cancelled_order_leaves_the_report(
    shop: httpx.Client, make_product: Make, place_order: PlaceOrder
) -> None:
    today = utc_today()
    days = (today - timedelta(days=1), today + timedelta(days=1))
    product = make_product(price_cents=1_234, stock=5)
    before = settled(shop, *days)
    _, order, _ = place_order([(product, 3)])
    placed = (1, order["total_cents"], 3)
    counted = eventually(lambda: report(shop, *days), lambda r: totals(r) == plus(before, *placed))
    assert totals(counted) == plus(before, *placed)

    assert shop.post(f"/orders/{order['id']}/cancel").status_code == 200

    after = eventually(lambda: report(shop, *days), lambda r: totals(r) == totals(before))
    assert totals(after) == totals(before)
    assert product["id"] not in [p["product_id"] for p in after["top_products"]]


def test_the_top_products_are_at_most_ten_by_revenue_then_id(
    shop: httpx.Client, make_product: Make, place_order: PlaceOrder
) -> None:
    # Eleven products in one order make sure its day has more than ten to choose from.
    _, order, _ = place_order([(make_product(price_cents=100 * (n % 3 + 1)), 1) for n in range(11)])
    day = date.fromisoformat(order["created_at"][:10])

    top = eventually(lambda: report(shop, day, day)["top_products"], lambda t: len(t) >= 10)

    assert len(top) == 10
    assert all(set(p) == {"product_id", "name", "units", "revenue_cents"} for p in top)
    assert top == sorted(top, key=lambda p: (-p["revenue_cents"], p["product_id"]))


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="both-missing"),
        pytest.param({"to": "2026-01-31"}, id="from-missing"),
        pytest.param({"from": "2026-01-01"}, id="to-missing"),
        pytest.param({"from": "", "to": "2026-01-31"}, id="from-empty"),
        pytest.param({"from": "2026-1-01", "to": "2026-01-31"}, id="month-one-digit"),
        pytest.param({"from": "20260101", "to": "2026-01-31"}, id="no-dashes"),
        pytest.param({"from": "2026-01-01", "to": "2026-13-01"}, id="month-13"),
        pytest.param({"from": "2026-02-30", "to": "2026-03-01"}, id="february-30"),
        pytest.param({"from": "yesterday", "to": "2026-01-31"}, id="words"),
        pytest.param({"from": "2026-01-01T00:00:00", "to": "2026-01-31"}, id="with-time"),
        pytest.param({"from": "2026-02-01", "to": "2026-01-31"}, id="from-after-to"),
    ],
)
def test_an_invalid_report_range_is_refused(shop: httpx.Client, params: dict[str, str]) -> None:
    assert_error(shop.get("/reports/sales", params=params), 400, "validation_error")
