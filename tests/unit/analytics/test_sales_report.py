"""The sales report built from an in-memory projection: totals, the top ten, cancellations
and whole UTC days, as legacy_app/API.md describes the report."""

from __future__ import annotations

from datetime import date
from typing import Any

from new_services.analytics.events import OrderCancelled, OrderPlaced
from new_services.analytics.model import Period
from new_services.analytics.projection import InMemorySalesProjection
from new_services.analytics.service import rebuild, record, sales_report
from tests.unit.analytics.messages import cancelled, placed


def apply(projection: InMemorySalesProjection, *messages: dict[str, Any]) -> None:
    for message in messages:
        if message["topic"] == "order.placed":
            record(projection, OrderPlaced.from_message(message))
        else:
            record(projection, OrderCancelled.from_message(message))


def report(projection: InMemorySalesProjection, first: str, last: str) -> dict[str, Any]:
    figures = sales_report(projection, Period.legacy(first, last)).figures()
    return {"from": first, "to": last, **figures}


def test_a_report_adds_up_order_totals_units_and_per_product_revenue() -> None:
    projection = InMemorySalesProjection()
    apply(
        projection,
        placed("2024-03-01T10:00:00Z", [(1, 250, 2), (2, 100, 1)], total=1_099),
        placed("2024-03-01T11:00:00Z", [(1, 250, 1)], total=769),
    )

    assert report(projection, "2024-03-01", "2024-03-01") == {
        "from": "2024-03-01",
        "to": "2024-03-01",
        "order_count": 2,
        "revenue_cents": 1_099 + 769,  # what was charged: shipping, tax and discounts in
        "units_sold": 4,
        "top_products": [
            {"product_id": 1, "name": "Product 1", "units": 3, "revenue_cents": 750},
            {"product_id": 2, "name": "Product 2", "units": 1, "revenue_cents": 100},
        ],
    }


def test_the_top_products_are_the_ten_best_earners_by_revenue() -> None:
    projection = InMemorySalesProjection()
    apply(projection, placed("2024-03-01T10:00:00Z", [(pid, 100 * pid, 1) for pid in range(1, 13)]))

    top = report(projection, "2024-03-01", "2024-03-01")["top_products"]

    assert [p["product_id"] for p in top] == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3]


def test_products_that_earned_the_same_are_ordered_by_product_id() -> None:
    projection = InMemorySalesProjection()
    apply(
        projection,
        placed("2024-03-01T10:00:00Z", [(30, 500, 1), (20, 250, 2), (10, 100, 5)]),
        placed("2024-03-01T11:00:00Z", [(5, 100, 1)]),
    )

    top = report(projection, "2024-03-01", "2024-03-01")["top_products"]

    assert [(p["product_id"], p["revenue_cents"]) for p in top] == [
        (10, 500),
        (20, 500),
        (30, 500),
        (5, 100),
    ]


def test_a_product_sold_in_several_orders_and_days_is_one_entry() -> None:
    projection = InMemorySalesProjection()
    apply(
        projection,
        placed("2024-03-01T10:00:00Z", [(1, 100, 1), (1, 100, 2)]),
        placed("2024-03-02T10:00:00Z", [(1, 100, 4)]),
    )

    top = report(projection, "2024-03-01", "2024-03-02")["top_products"]

    assert top == [{"product_id": 1, "name": "Product 1", "units": 7, "revenue_cents": 700}]


def test_a_cancelled_order_leaves_the_report_as_it_was_before_it() -> None:
    projection = InMemorySalesProjection()
    apply(projection, placed("2024-03-01T09:00:00Z", [(1, 100, 1)]))
    before = report(projection, "2024-03-01", "2024-03-01")
    order = placed("2024-03-01T10:00:00Z", [(1, 100, 2), (2, 300, 1)], total=999)

    apply(projection, order, cancelled(order))

    assert report(projection, "2024-03-01", "2024-03-01") == before
    assert [p["product_id"] for p in before["top_products"]] == [1]


def test_a_cancel_delivered_before_its_placement_nets_to_zero_once_both_are_in() -> None:
    projection = InMemorySalesProjection()
    order = placed("2024-03-01T10:00:00Z", [(1, 100, 2)], total=999)

    apply(projection, cancelled(order))
    assert report(projection, "2024-03-01", "2024-03-01")["order_count"] == -1
    apply(projection, order)

    assert report(projection, "2024-03-01", "2024-03-01") == {
        "from": "2024-03-01",
        "to": "2024-03-01",
        "order_count": 0,
        "revenue_cents": 0,
        "units_sold": 0,
        "top_products": [],
    }


def test_a_cancellation_counts_on_the_day_its_order_was_placed() -> None:
    projection = InMemorySalesProjection()
    order = placed("2024-03-01T23:59:59Z", [(1, 100, 1)])
    apply(projection, placed("2024-03-02T10:00:00Z", [(2, 100, 1)]), order, cancelled(order))

    assert report(projection, "2024-03-01", "2024-03-01")["order_count"] == 0
    assert report(projection, "2024-03-02", "2024-03-02")["order_count"] == 1


def test_both_ends_of_a_range_count_as_whole_utc_days() -> None:
    projection = InMemorySalesProjection()
    apply(
        projection,
        placed("2024-02-29T23:59:59Z", [(1, 1, 1)]),
        placed("2024-03-01T00:00:00Z", [(2, 10, 1)]),
        placed("2024-03-02T01:30:00+02:00", [(3, 100, 1)]),  # 23:30 on the 1st in UTC
        placed("2024-03-03T23:59:59Z", [(4, 1_000, 1)]),
        placed("2024-03-04T00:00:00Z", [(5, 10_000, 1)]),
    )

    assert report(projection, "2024-03-01", "2024-03-03")["revenue_cents"] == 1_110
    assert report(projection, "2024-03-01", "2024-03-01")["revenue_cents"] == 110
    assert report(projection, "2024-03-02", "2024-03-02")["revenue_cents"] == 0
    assert report(projection, "2024-02-29", "2024-03-04")["revenue_cents"] == 11_111


def test_an_event_applied_twice_counts_once() -> None:
    projection = InMemorySalesProjection()
    order = placed("2024-03-01T10:00:00Z", [(1, 100, 1)])
    undo = cancelled(order)

    apply(projection, order, order, undo, undo, order)

    assert report(projection, "2024-03-01", "2024-03-01")["order_count"] == 0


def test_a_product_is_named_as_on_its_latest_order_whatever_order_events_come_in() -> None:
    newer = placed("2024-03-02T10:00:00Z", [(1, 100, 1)], names={1: "Blue mug"})
    older = placed("2024-03-01T10:00:00Z", [(1, 100, 1)], names={1: "Mug"})
    in_order, reversed_order = InMemorySalesProjection(), InMemorySalesProjection()

    apply(in_order, older, newer)
    apply(reversed_order, newer, older)

    for projection in (in_order, reversed_order):
        assert report(projection, "2024-03-01", "2024-03-01")["top_products"][0]["name"] == (
            "Blue mug"
        )


def test_a_range_without_sales_has_zero_figures() -> None:
    projection = InMemorySalesProjection()
    apply(projection, placed("2024-03-01T10:00:00Z", [(1, 100, 1)]))

    assert report(projection, "2024-04-01", "2024-04-30") == {
        "from": "2024-04-01",
        "to": "2024-04-30",
        "order_count": 0,
        "revenue_cents": 0,
        "units_sold": 0,
        "top_products": [],
    }


def test_the_report_reads_the_days_asked_for_only() -> None:
    projection = InMemorySalesProjection()
    apply(projection, placed("2024-03-01T10:00:00Z", [(1, 100, 1)]))

    assert projection.days(date(2024, 3, 2), date(2024, 3, 9)) == {}
    assert list(projection.days(date(2024, 3, 1), date(2024, 3, 1))) == [date(2024, 3, 1)]


def as_in_the_book(message: dict[str, Any], status: str = "placed") -> dict[str, Any]:
    """The order of a placement message, as the orders service's feed shows it."""
    payload = message["payload"]
    return {
        "id": payload["order_uuid"],
        "legacy_id": payload["order_id"],
        "status": status,
        "total_cents": payload["total_cents"],
        "created_at": payload["created_at"],
        "items": payload["items"],
    }


def test_a_rebuild_counts_each_order_of_the_book_once_beside_the_worker() -> None:
    projection = InMemorySalesProjection()
    by_legacy = placed("2024-03-01T10:00:00Z", [(1, 250, 2)])  # never an event: legacy's
    seen = placed("2024-03-01T11:00:00Z", [(2, 100, 1)])  # applied by the worker already
    gone = placed("2024-03-01T12:00:00Z", [(3, 900, 1)])  # cancelled through the service
    late = placed("2024-03-01T13:00:00Z", [(4, 50, 3)])  # its event arrives during the rebuild
    apply(projection, seen, gone, cancelled(gone))
    book = [as_in_the_book(by_legacy), as_in_the_book(seen), as_in_the_book(gone, "cancelled")]

    def feed() -> Any:
        yield from book
        apply(projection, late)  # the worker, while the last page is read
        yield as_in_the_book(late)

    done = rebuild(projection, feed())

    assert (done.orders, done.placed, done.cancelled) == (4, 3, 1)  # late: the worker's
    assert done.dropped_keys > 0  # what was there first is gone, then made again
    figures = report(projection, "2024-03-01", "2024-03-01")
    assert (figures["order_count"], figures["revenue_cents"]) == (3, 500 + 100 + 150)
    apply(projection, cancelled(gone), seen)  # redelivered after the rebuild: no change
    assert report(projection, "2024-03-01", "2024-03-01") == figures
