"""The analytics use cases: fold an order event into the projection; build a sales report."""

from __future__ import annotations

import anyio.to_thread

from new_services.analytics.events import OrderEvent
from new_services.analytics.model import Figures, Period, SalesReport
from new_services.analytics.projection import SalesProjection


def record(projection: SalesProjection, event: OrderEvent) -> bool:
    """Apply the event once; False when this event id was applied before."""
    return projection.apply(event.event_id, event.sale())


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
