"""Report ranges as v1 (legacy's rules and words) and v2 read them, and order events as the
worker reads them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from new_services.analytics.errors import InvalidEvent, InvalidPeriod
from new_services.analytics.events import OrderCancelled, OrderPlaced
from new_services.analytics.model import Period, ProductFigures

NOT_DATES = "from and to must be dates as YYYY-MM-DD"
FULL_WIDTH_2024 = "\uff12\uff10\uff12\uff14"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("", "2026-01-31", NOT_DATES),
        ("2026-1-01", "2026-01-31", NOT_DATES),
        ("2026-02-30", "2026-03-01", NOT_DATES),
        ("2026-01-01\n", "2026-01-31", NOT_DATES),
        ("2026-01-01T00:00:00", "2026-01-31", NOT_DATES),
        ("0000-01-01", "2026-01-31", NOT_DATES),
        ("2026-02-01", "2026-01-31", "from must not be after to"),
        ("9999-01-01", "9999-12-31", "to must be before 9999-12-31"),
        ("9999-01-02", "9999-01-01", "from must not be after to"),
    ],
)
def test_v1_refuses_a_range_with_legacy_words(start: str, end: str, message: str) -> None:
    with pytest.raises(InvalidPeriod, match=f"^{message}$"):
        Period.legacy(start, end)


def test_v1_takes_a_year_in_any_unicode_digits_as_legacy_does() -> None:
    assert Period.legacy(FULL_WIDTH_2024 + "-01-01", "2024-01-02") == Period(
        date(2024, 1, 1), date(2024, 1, 2)
    )


def test_v2_takes_ascii_dates_only() -> None:
    with pytest.raises(InvalidPeriod, match=NOT_DATES):
        Period.strict(FULL_WIDTH_2024 + "-01-01", "2024-01-02")


def test_v2_takes_at_most_366_days_counting_both_ends() -> None:
    assert Period.strict("2024-01-01", "2024-12-31").days == 366
    with pytest.raises(InvalidPeriod, match="at most 366 days"):
        Period.strict("2023-01-01", "2024-01-02")


def test_v2_has_no_use_for_legacy_refusing_the_year_9999() -> None:
    assert Period.strict("9999-12-31", "9999-12-31").days == 1


def message(topic: str, **changes: Any) -> dict[str, Any]:
    payload = {
        "order_id": 42,
        "order_uuid": "5b0e1c1e-0000-4000-8000-000000000042",
        "user_id": 7,
        "total_cents": 1_234,
        "created_at": "2024-03-01T10:00:00Z",
        "cancelled_at": "2024-03-05T08:00:00Z",
        "items": [
            {
                "product_id": 3,
                "name": "Mug",
                "unit_price_cents": 500,
                "quantity": 2,
                "total_cents": 1_000,
            }
        ],
        **changes,
    }
    return {"id": "e-1", "topic": topic, "aggregate_id": "42", "payload": payload}


def test_a_cancellation_takes_back_exactly_what_its_placement_added() -> None:
    added = OrderPlaced.from_message(message("order.placed")).sale()
    taken = OrderCancelled.from_message(message("order.cancelled")).sale()

    assert taken.day == added.day == date(2024, 3, 1)  # not the day it was cancelled
    assert taken.figures().products == {3: ProductFigures(-2, -1_000)}
    assert (taken.order_count, taken.revenue_cents, taken.units_sold) == (-1, -1_234, -2)
    assert added.ordered_at == datetime(2024, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "changes",
    [
        {"created_at": "2024-03-01T10:00:00"},  # no zone: which day would it be?
        {"created_at": "yesterday"},
        {"total_cents": "12"},
        {"total_cents": True},
        {"items": [{"product_id": 3, "name": "Mug", "quantity": 1}]},
        {"items": "none"},
    ],
)
def test_an_event_the_worker_cannot_read_fails_its_job(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent):
        OrderPlaced.from_message(message("order.placed", **changes))


def test_an_event_of_another_topic_is_refused() -> None:
    with pytest.raises(InvalidEvent, match=r"^expected order\.placed, got 'order\.cancelled'$"):
        OrderPlaced.from_message(message("order.cancelled"))
