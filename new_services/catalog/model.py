"""Products, stock holds and the rules for what may be written: pure data, no I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from new_services.catalog.errors import HoldReleased
from new_services.platform.problems import InvalidRequest
from new_services.platform.v1 import MAX_ID, iso

SKU = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FIELDS = ("sku", "name", "price_cents", "stock")
CHANGEABLE = ("name", "price_cents", "stock")
MAX_PRICE_CENTS = 100_000_000
MAX_STOCK = 1_000_000
MAX_LINES = 1_000  # per hold or restock; a cart has far fewer


def int_between(value: Any, low: int, high: int) -> bool:
    """An int from `low` to `high`; not a bool (Python counts those as ints), not 2.0."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the columns keep no zone


@dataclass(frozen=True)
class Product:
    id: int  # the legacy id: v1 and the other domains name products by it
    uuid: uuid.UUID  # v2's id
    sku: str
    name: str
    price_cents: int
    stock: int
    created_at: datetime
    updated_at: datetime

    def v1_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sku": self.sku,
            "name": self.name,
            "price_cents": self.price_cents,
            "stock": self.stock,
        }

    def v2_json(self) -> dict[str, Any]:
        return {
            "id": str(self.uuid),
            "legacy_id": self.id,
            "sku": self.sku,
            "name": self.name,
            "price_cents": self.price_cents,
            "stock": self.stock,
            "created_at": iso(_utc(self.created_at)),
            "updated_at": iso(_utc(self.updated_at)),
        }

    def to_cache(self) -> dict[str, Any]:
        return {
            **self.v2_json(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def from_cache(cls, raw: dict[str, Any]) -> Product:
        return cls(
            id=raw["legacy_id"],
            uuid=uuid.UUID(raw["id"]),
            sku=raw["sku"],
            name=raw["name"],
            price_cents=raw["price_cents"],
            stock=raw["stock"],
            created_at=datetime.fromisoformat(raw["created_at"]),
            updated_at=datetime.fromisoformat(raw["updated_at"]),
        )


def product_problem(body: dict[str, Any], partial: bool) -> str | None:
    """What is wrong with a product body, in the legacy app's words (None: nothing).

    The legacy `validate_product_fields`, check for check and in the same order, so v1
    refuses exactly what the legacy app refuses, with the same first message."""
    allowed = set(CHANGEABLE if partial else FIELDS)
    unknown = set(body) - allowed
    if unknown:
        return "unknown field(s): " + ", ".join(sorted(unknown))
    if partial and not body:
        return "give at least one of name, price_cents, stock"
    if not partial:
        missing = [field for field in FIELDS if field not in body]
        if missing:
            return "missing field(s): " + ", ".join(missing)
        if not isinstance(body["sku"], str) or not SKU.fullmatch(body["sku"]):
            return "sku must be 1-64 characters of A-Z a-z 0-9 - _"
    name = body.get("name")
    if "name" in body and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        return "name must be a non-empty string of at most 200 characters"
    price = body.get("price_cents")
    if "price_cents" in body and not int_between(price, 0, MAX_PRICE_CENTS):
        return f"price_cents must be an integer from 0 to {MAX_PRICE_CENTS}"
    stock = body.get("stock")
    if "stock" in body and not int_between(stock, 0, MAX_STOCK):
        return f"stock must be an integer from 0 to {MAX_STOCK}"
    return None


@dataclass(frozen=True)
class NewProduct:
    sku: str
    name: str
    price_cents: int
    stock: int

    @classmethod
    def of(cls, body: dict[str, Any]) -> NewProduct:
        """From a body `product_problem(body, partial=False)` found nothing wrong with."""
        return cls(body["sku"], body["name"], body["price_cents"], body["stock"])


@dataclass(frozen=True)
class ProductChange:
    """Some of name, price_cents and stock, set to new values."""

    values: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, body: dict[str, Any]) -> ProductChange:
        """From a body `product_problem(body, partial=True)` found nothing wrong with."""
        return cls(tuple((field, body[field]) for field in CHANGEABLE if field in body))

    def applied_to(self, product: Product, at: datetime) -> Product:
        return replace(product, **dict(self.values), updated_at=at)


@dataclass(frozen=True)
class Line:
    product_id: int
    quantity: int

    def as_json(self) -> dict[str, int]:
        return {"product_id": self.product_id, "quantity": self.quantity}


def parse_lines(body: dict[str, Any]) -> tuple[Line, ...]:
    """`{"lines": [{"product_id", "quantity"}, ...]}`: 1 to MAX_LINES lines, one per product."""
    if set(body) != {"lines"}:
        raise InvalidRequest('the body must be {"lines": [{"product_id", "quantity"}, ...]}')
    raw = body["lines"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LINES:
        raise InvalidRequest(f"lines must be a list of 1 to {MAX_LINES} lines")
    lines: list[Line] = []
    for index, line in enumerate(raw):
        if not isinstance(line, dict) or set(line) != {"product_id", "quantity"}:
            raise InvalidRequest(f"lines[{index}] must be {{product_id, quantity}}")
        product_id, quantity = line["product_id"], line["quantity"]
        if not int_between(product_id, 1, MAX_ID):
            raise InvalidRequest(f"lines[{index}].product_id must be a positive 64-bit integer")
        if not int_between(quantity, 1, MAX_STOCK):
            raise InvalidRequest(
                f"lines[{index}].quantity must be an integer from 1 to {MAX_STOCK}"
            )
        lines.append(Line(product_id, quantity))
    ids = [line.product_id for line in lines]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("each product may appear in one line only")
    return tuple(sorted(lines, key=lambda line: line.product_id))


class HoldState(StrEnum):
    HELD = "held"  # the units are out of stock, for this checkout
    COMMITTED = "committed"  # the order is placed: the units are sold
    RELEASED = "released"  # the units went back (payment failed, or the hold expired)


@dataclass(frozen=True)
class Hold:
    id: uuid.UUID
    state: HoldState
    lines: tuple[Line, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "state": self.state.value,
            "lines": [line.as_json() for line in self.lines],
        }

    def released(self) -> Hold:
        """After a release: a held hold goes back to stock; any other stays as it is."""
        return replace(self, state=HoldState.RELEASED) if self.state is HoldState.HELD else self

    def committed(self) -> Hold:
        """After a commit; a released hold has nothing left to commit (HoldReleased)."""
        if self.state is HoldState.RELEASED:
            raise HoldReleased(f"hold {self.id} was released: its units are back in stock")
        return replace(self, state=HoldState.COMMITTED)
