"""The analytics use cases: fold an order event into the projection; build a sales report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from new_services.analytics.events import OrderEvent, OrderPlaced, events_of_order
from new_services.analytics.model import Figures, Period, SalesReport
from new_services.analytics.projection import SalesProjection


def record(projection: SalesProjection, event: OrderEvent) -> bool:
    """Apply the event once per order and topic; False when it was applied before.

    Keyed by the order, not by the event's id: a rebuild (below) replays the same orders
    while the worker applies their events, and each order must still count once."""
    return projection.apply(f"{event.topic}:{event.order_id}", event.sale())


@dataclass(frozen=True)
class Rebuilt:
    orders: int  # read from the book
    placed: int  # applied now (the others the worker had applied meanwhile)
    cancelled: int
    dropped_keys: int


def rebuild(projection: SalesProjection, book: Iterable[Mapping[str, Any]]) -> Rebuilt:
    """Forget the projection, then fold in every order of the book (the orders service's
    feed: each order, cancelled ones marked by their status). Safe while the worker runs:
    an order it applies meanwhile is keyed like the replay's, so it counts once; and one
    placed after the read began is further down the feed, ordered by id. Until the last
    page is in, reports come up short."""
    dropped = projection.clear()
    orders = placed = cancelled = 0
    for order in book:
        orders += 1
        for event in events_of_order(order):
            if record(projection, event):
                if isinstance(event, OrderPlaced):
                    placed += 1
                else:
                    cancelled += 1
    return Rebuilt(orders, placed, cancelled, dropped)


def sales_report(projection: SalesProjection, period: Period) -> SalesReport:
    """The period's totals and top products, from the days that had sales in it."""
    figures = Figures.total(projection.days(period.first, period.last).values())
    return SalesReport.of(period, figures, projection.names(figures.best_sellers()))


class Reports:
    """What the HTTP edges ask for; its projection is set in the app's lifespan."""

    projection: SalesProjection

    async def sales(self, period: Period) -> SalesReport:
        # the projection's client blocks: keep it off the event loop
        return await anyio.to_thread.run_sync(sales_report, self.projection, period)
