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


class Rounding(Enum):
    """How a tax of a fractional number of cents becomes whole cents."""

    HALF_UP = "half_up"  # the shop's rule (API.md): 0.5 cent and more rounds up
    DOWN = "down"  # cut off: what some tax authorities ask for

    def cents(self, hundredths: int) -> int:
        """`hundredths` / 100, rounded."""
        return (hundredths + 50) // 100 if self is Rounding.HALF_UP else hundredths // 100


@dataclass(frozen=True)
class Rules:
    discounts: Mapping[str, Discount]
    tax_percent: int = 8
    free_shipping_from_cents: int = 5000
    shipping_cents: int = 499
    tax_rounding: Rounding = Rounding.HALF_UP

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Rules:
        """Rules kept as data (ORDERS_PRICING_RULES names such a file); ValueError says what
        is wrong. Unnamed settings keep the shop's."""
        known = {"discounts", "tax_percent", "free_shipping_from_cents", "shipping_cents"}
        unknown = set(document) - known - {"tax_rounding"}
        if unknown:
            raise ValueError(f"unknown pricing setting(s): {', '.join(sorted(unknown))}")
        numbers = {}
        for name in known - {"discounts"}:
            value = document.get(name, getattr(SHOP_RULES, name))
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of at least 0")
            numbers[name] = value
        discounts = dict(SHOP_RULES.discounts)
        if "discounts" in document:
            raw = document["discounts"]
            if not isinstance(raw, Mapping):
                raise ValueError('discounts must map codes to {"kind", "amount"}')
            try:
                discounts = {
                    str(code).upper(): Discount(DiscountKind(rule["kind"]), int(rule["amount"]))
                    for code, rule in raw.items()
                }
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f'a discount must be {{"kind": "percent"|"fixed", "amount"}}: {exc}'
                ) from exc
        try:
            rounding = Rounding(document.get("tax_rounding", Rounding.HALF_UP.value))
        except ValueError as exc:
            choices = ", ".join(r.value for r in Rounding)
            raise ValueError(f"tax_rounding must be one of {choices}") from exc
        return cls(discounts=discounts, tax_rounding=rounding, **numbers)


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
    tax = rules.tax_rounding.cents(taxable * rules.tax_percent)
    return Price(subtotal, code, discount, shipping, tax, taxable + shipping + tax)
