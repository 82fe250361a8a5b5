"""Pure analytics data and rules: report periods, what one order adds, a report's figures."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from new_services.analytics.errors import InvalidPeriod

LEGACY_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # legacy_app's own pattern, quirks and all
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NOT_DATES = "from and to must be dates as YYYY-MM-DD"
FROM_AFTER_TO = "from must not be after to"
TO_IN_9999 = "to must be before 9999-12-31"
# v2 bounds what one request may read: a leap year covers any calendar year, and a client
# that wants more asks for several years and adds them up.
MAX_V2_DAYS = 366
TOP_PRODUCTS = 10


@dataclass(frozen=True)
class Period:
    """From `first` to `last`, both whole UTC days included."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @classmethod
    def legacy(cls, start: str, end: str) -> Period:
        """Read as `legacy_app` reads `from` and `to`, with its messages and its quirks: its
        `\\d` lets any Unicode digit through, which strptime then accepts in the year, and
        its `$` lets a final newline through, which strptime then refuses."""
        try:
            if not LEGACY_DATE.match(start) or not LEGACY_DATE.match(end):
                raise ValueError(start, end)
            first = datetime.strptime(start, "%Y-%m-%d").date()
            last = datetime.strptime(end, "%Y-%m-%d").date()
        except ValueError as exc:
            raise InvalidPeriod(NOT_DATES) from exc
        if first > last:
            raise InvalidPeriod(FROM_AFTER_TO)
        if last.year == 9999:  # legacy adds a day to `to`, which 9999-12-31 cannot take
            raise InvalidPeriod(TO_IN_9999)
        return cls(first, last)

    @classmethod
    def strict(cls, start: str, end: str, max_days: int = MAX_V2_DAYS) -> Period:
        """ASCII `YYYY-MM-DD` dates, `from` not after `to`, at most `max_days` days."""
        try:
            if not ISO_DATE.fullmatch(start) or not ISO_DATE.fullmatch(end):
                raise ValueError(start, end)
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError as exc:
            raise InvalidPeriod(NOT_DATES) from exc
        if first > last:
            raise InvalidPeriod(FROM_AFTER_TO)
        period = cls(first, last)
        if period.days > max_days:
            raise InvalidPeriod(f"a report covers at most {max_days} days: ask for several")
        return period


@dataclass(frozen=True)
class OrderItem:
    """A line of an order, as the order events carry it."""

    product_id: int
    name: str
    unit_price_cents: int
    quantity: int


@dataclass(frozen=True)
class SoldProduct:
    product_id: int
    name: str
    units: int
    revenue_cents: int


@dataclass(frozen=True)
class Sale:
    """What one order adds to the figures of the UTC day it was placed on. Its
    cancellation takes back exactly this (`reversed`), on that same day."""

    ordered_at: datetime  # timezone-aware
    order_count: int
    revenue_cents: int
    units_sold: int
    products: tuple[SoldProduct, ...]

    @classmethod
    def of_order(cls, ordered_at: datetime, total_cents: int, items: Iterable[OrderItem]) -> Sale:
        """As legacy counts an order: its total (discount, shipping and tax included) as
        revenue; per product, unit price times quantity."""
        sold: dict[int, SoldProduct] = {}
        for item in items:
            before = sold.get(item.product_id, SoldProduct(item.product_id, item.name, 0, 0))
            sold[item.product_id] = SoldProduct(
                item.product_id,
                item.name,
                before.units + item.quantity,
                before.revenue_cents + item.unit_price_cents * item.quantity,
            )
        units = sum(product.units for product in sold.values())
        return cls(ordered_at, 1, total_cents, units, tuple(sold.values()))

    @property
    def day(self) -> date:
        return self.ordered_at.astimezone(UTC).date()

    def figures(self) -> Figures:
        return Figures(
            self.order_count,
            self.revenue_cents,
            self.units_sold,
            {p.product_id: ProductFigures(p.units, p.revenue_cents) for p in self.products},
        )

    def reversed(self) -> Sale:
        return Sale(
            self.ordered_at,
            -self.order_count,
            -self.revenue_cents,
            -self.units_sold,
            tuple(
                SoldProduct(p.product_id, p.name, -p.units, -p.revenue_cents) for p in self.products
            ),
        )


@dataclass(frozen=True)
class ProductFigures:
    units: int = 0
    revenue_cents: int = 0

    def __add__(self, other: ProductFigures) -> ProductFigures:
        return ProductFigures(self.units + other.units, self.revenue_cents + other.revenue_cents)


@dataclass(frozen=True)
class Figures:
    """The sales of one day, or summed over several."""

    order_count: int = 0
    revenue_cents: int = 0
    units_sold: int = 0
    products: Mapping[int, ProductFigures] = field(default_factory=dict)

    @classmethod
    def total(cls, many: Iterable[Figures]) -> Figures:
        orders = revenue = units = 0
        products: dict[int, ProductFigures] = {}
        for figures in many:
            orders += figures.order_count
            revenue += figures.revenue_cents
            units += figures.units_sold
            for product_id, sold in figures.products.items():
                products[product_id] = products.get(product_id, ProductFigures()) + sold
        return cls(orders, revenue, units, products)

    def best_sellers(self, limit: int = TOP_PRODUCTS) -> list[int]:
        """Product ids by revenue, then id; a product whose every sale was cancelled (its
        net is zero) is left out, as legacy forgets a cancelled order altogether."""
        sold = [pid for pid, f in self.products.items() if f != ProductFigures()]
        sold.sort(key=lambda pid: (-self.products[pid].revenue_cents, pid))
        return sold[:limit]


@dataclass(frozen=True)
class TopProduct:
    product_id: int
    name: str
    units: int
    revenue_cents: int


@dataclass(frozen=True)
class SalesReport:
    period: Period
    order_count: int
    revenue_cents: int
    units_sold: int
    top_products: tuple[TopProduct, ...]

    @classmethod
    def of(cls, period: Period, figures: Figures, names: Mapping[int, str]) -> SalesReport:
        top = tuple(
            TopProduct(
                pid,
                names.get(pid, ""),
                figures.products[pid].units,
                figures.products[pid].revenue_cents,
            )
            for pid in figures.best_sellers()
        )
        return cls(period, figures.order_count, figures.revenue_cents, figures.units_sold, top)

    def figures(self) -> dict[str, Any]:
        """Everything but the range, with legacy's keys in legacy's order."""
        return {
            "order_count": self.order_count,
            "revenue_cents": self.revenue_cents,
            "units_sold": self.units_sold,
            "top_products": [
                {
                    "product_id": p.product_id,
                    "name": p.name,
                    "units": p.units,
                    "revenue_cents": p.revenue_cents,
                }
                for p in self.top_products
            ],
        }
