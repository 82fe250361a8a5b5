"""The shop's pricing rules, as data and one pure function (legacy: `SMELL(hardcoded-rules)`,
where they live inside the web module). legacy_app/API.md, "Pricing", is the contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any


class DiscountKind(Enum):
    PERCENT = "percent"  # of the subtotal, rounded down
    FIXED = "fixed"  # cents, at most the subtotal


@dataclass(frozen=True)
class Discount:
    kind: DiscountKind
    amount: int

    def cents(self, subtotal: int) -> int:
        if self.kind is DiscountKind.PERCENT:
            return subtotal * self.amount // 100
        return min(self.amount, subtotal)


@dataclass(frozen=True)
class Rules:
    discounts: Mapping[str, Discount]
    tax_percent: int = 8
    free_shipping_from_cents: int = 5000
    shipping_cents: int = 499


SHOP_RULES = Rules(
    discounts={
        "SAVE10": Discount(DiscountKind.PERCENT, 10),
        "WELCOME5": Discount(DiscountKind.FIXED, 500),
    }
)


class UnknownDiscountCode(ValueError):
    pass


@dataclass(frozen=True)
class Price:
    subtotal_cents: int
    discount_code: str | None  # upper-cased
    discount_cents: int
    shipping_cents: int
    tax_cents: int
    total_cents: int

    def as_fields(self) -> dict[str, Any]:
        """Name to value, in the order of the legacy columns and of the order's JSON."""
        # spelt out: `dataclasses.asdict` deep-copies every value, the dearest step of
        # rendering a page of orders
        return {
            "subtotal_cents": self.subtotal_cents,
            "discount_code": self.discount_code,
            "discount_cents": self.discount_cents,
            "shipping_cents": self.shipping_cents,
            "tax_cents": self.tax_cents,
            "total_cents": self.total_cents,
        }

    @classmethod
    def from_fields(cls, row: Mapping[Any, Any]) -> Price:
        """From anything that maps the field names to values (a database row)."""
        return cls(**{field.name: row[field.name] for field in fields(cls)})


def price(
    line_totals: Sequence[int], discount_code: str | None, rules: Rules = SHOP_RULES
) -> Price:
    """Subtotal, then discount, then shipping and tax on what is left, all in cents."""
    subtotal = sum(line_totals)
    code = discount_code.strip().upper() if discount_code else None
    discount = 0
    if code is not None:
        if code not in rules.discounts:
            raise UnknownDiscountCode(discount_code)
        discount = rules.discounts[code].cents(subtotal)
    taxable = subtotal - discount
    shipping = rules.shipping_cents if taxable < rules.free_shipping_from_cents else 0
    tax = (taxable * rules.tax_percent + 50) // 100  # half up
    return Price(subtotal, code, discount, shipping, tax, taxable + shipping + tax)
