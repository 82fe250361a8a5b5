"""Pages of payments in either time order, from the SQL repository (SQLite, or PostgreSQL via
DATABASE_URL) and from the in-memory one the unit tests use: every payment once, ties in
time broken by id, the same order from both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from migrations import history
from new_services.payments.model import Payment, PaymentStatus
from new_services.payments.repository import (
    InMemoryPaymentRepository,
    PaymentRepository,
    SqlPaymentRepository,
)
from tests.integration.migrating import engine_at


@pytest.fixture(params=["sql", "in-memory"])
def repository(request: pytest.FixtureRequest, fresh_database_url: str) -> Iterator[object]:
    if request.param == "in-memory":
        yield InMemoryPaymentRepository()
        return
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        yield SqlPaymentRepository(engine)


def pending(at: datetime, n: int) -> Payment:
    made = uuid.uuid4()
    return Payment(made, f"order-{n}", 100, "usd", PaymentStatus.PENDING, None, 0, at, at)


@pytest.mark.parametrize("oldest_first", [False, True], ids=["newest-first", "oldest-first"])
def test_pages_meet_every_payment_once_in_time_order_ties_broken_by_id(
    repository: PaymentRepository, oldest_first: bool
) -> None:
    start = datetime(2026, 11, 29, 12, tzinfo=UTC)
    made = [pending(start + timedelta(seconds=n // 3), n) for n in range(8)]  # ties by three
    for payment in made:
        repository.reserve(payment)
    seen: list[uuid.UUID] = []
    after = None
    while True:
        page = repository.in_time_order(after, 2, oldest_first)
        seen += [payment.id for payment in page]
        if len(page) < 2:
            break
        after = (page[-1].created_at, page[-1].id)
    in_order = sorted(made, key=lambda p: (p.created_at, p.id), reverse=not oldest_first)
    assert seen == [payment.id for payment in in_order]
