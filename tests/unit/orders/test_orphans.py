"""The settler of payments captured for an order that never came (orphans.py), with fakes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from new_services.orders.metrics import CheckoutMetrics
from new_services.orders.orphans import OrphanPayments
from new_services.orders.ports import CapturedPayment, Unavailable

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Payments:
    def __init__(self, captured: list[CapturedPayment]) -> None:
        self.made = captured
        self.asked: list[tuple[datetime, datetime]] = []
        self.abandoned: list[str] = []
        self.down = False

    async def captured(self, since: datetime, until: datetime) -> Sequence[CapturedPayment]:
        self.asked.append((since, until))
        return [p for p in self.made if since <= p.created_at <= until]

    async def abandon(self, payment_id: str) -> None:
        if self.down:
            raise Unavailable("payments did not answer")
        self.abandoned.append(payment_id)


class Book:
    def __init__(self, placed: set[uuid.UUID]) -> None:
        self.placed = placed
        self.abandoned: set[uuid.UUID] = set()

    async def abandon(self, order: uuid.UUID, at: datetime) -> bool:
        if order in self.placed:
            return False
        self.abandoned.add(order)
        return True


def payment(seconds_ago: float, order: uuid.UUID | None = None) -> CapturedPayment:
    made = NOW - timedelta(seconds=seconds_ago)
    return CapturedPayment(str(uuid.uuid4()), order or uuid.uuid4(), made)


def settler(payments: Payments, book: Book, clock: list[datetime]) -> OrphanPayments:
    return OrphanPayments(
        payments,  # type: ignore[arg-type]
        book,  # type: ignore[arg-type]
        CheckoutMetrics(),
        after=timedelta(seconds=30),
        look_back=timedelta(hours=1),
        clock=lambda: clock[0],
    )


async def test_only_payments_old_enough_whose_order_was_never_placed_are_given_back() -> None:
    placed = payment(120)
    orphan, young, foreign = payment(120), payment(10), payment(90)
    foreign = CapturedPayment(foreign.payment_id, None, foreign.created_at)
    payments = Payments([placed, orphan, young, foreign])
    book = Book({placed.order} if placed.order else set())
    clock = [NOW]

    assert await settler(payments, book, clock).settle() == 1
    assert payments.abandoned == [orphan.payment_id]
    assert book.abandoned == {orphan.order}


async def test_each_round_looks_on_from_where_the_last_one_ended_and_a_failed_one_again() -> None:
    payments, book, clock = Payments([]), Book(set()), [NOW]
    orphans = settler(payments, book, clock)
    assert await orphans.settle() == 0
    clock[0] = NOW + timedelta(seconds=10)
    late = payment(-5)  # made after the first round's look: seen by the next one
    payments.made.append(late)
    clock[0] = NOW + timedelta(seconds=40)
    payments.down = True
    with pytest.raises(Unavailable):
        await orphans.settle()
    payments.down = False
    assert await orphans.settle() == 1
    assert payments.abandoned == [late.payment_id]
    first, failed, again = payments.asked
    assert first == (NOW - timedelta(hours=1), NOW - timedelta(seconds=30))
    assert failed[0] == first[1] and again[0] == first[1]
