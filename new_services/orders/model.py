"""Orders and the command and event around placing one: pure data, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from new_services.orders.pricing import Price


@dataclass(frozen=True)
class PlaceOrder:
    """Turn a user's cart into an order, paid with `card_token`."""

    user_id: int
    card_token: str
    discount_code: str | None = None


@dataclass(frozen=True)
class CartLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class Product:
    """What orders needs to know of a catalog product, at the moment of checkout."""

    id: int
    name: str
    price_cents: int


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    name: str
    unit_price_cents: int
    quantity: int

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class Customer:
    id: int
    email: str
    name: str


@dataclass(frozen=True)
class Order:
    uuid: uuid.UUID
    customer: Customer
    lines: tuple[OrderLine, ...]
    price: Price
    charge_id: str | None
    created_at: datetime
    id: int | None = None  # the legacy integer id, given by the database on commit


@dataclass(frozen=True)
class OrderPlaced:
    """Past tense: it happened. Published through the outbox as `order.placed`."""

    order: Order

    topic = "order.placed"

    def payload(self) -> dict[str, Any]:
        return {
            "order_id": self.order.id,
            "order_uuid": str(self.order.uuid),
            "user_id": self.order.customer.id,
            "email": self.order.customer.email,
            "name": self.order.customer.name,
            "total_cents": self.order.price.total_cents,
            "items": [
                {
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "total_cents": line.total_cents,
                }
                for line in self.order.lines
            ],
        }
