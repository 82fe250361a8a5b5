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
    stock: int = 0


@dataclass(frozen=True)
class CartItem:
    """A cart line priced with the catalog's product as it is now."""

    product: Product
    quantity: int

    @property
    def total_cents(self) -> int:
        return self.product.price_cents * self.quantity


@dataclass(frozen=True)
class Charge:
    """A payment taken at the payments service: its id there and the provider's charge."""

    payment_id: str | None  # None for an order the legacy app charged itself
    charge_id: str


@dataclass(frozen=True)
class Refund:
    refund_id: str | None  # None in a dry run: nothing was refunded
    amount_cents: int


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
    user_id: int
    lines: tuple[OrderLine, ...]
    price: Price
    charge: Charge | None
    created_at: datetime
    id: int | None = None  # the legacy integer id, given by the database on commit
    status: str = "placed"

    @property
    def charge_id(self) -> str | None:
        return self.charge.charge_id if self.charge else None


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def line_items(order: Order) -> list[dict[str, Any]]:
    """The order's lines as events and v2 write them."""
    return [
        {
            "product_id": line.product_id,
            "name": line.name,
            "unit_price_cents": line.unit_price_cents,
            "quantity": line.quantity,
            "total_cents": line.total_cents,
        }
        for line in order.lines
    ]


@dataclass(frozen=True)
class OrderPlaced:
    """Past tense: it happened. Published through the outbox as `order.placed`."""

    order: Order
    customer: Customer
    hold: uuid.UUID | None = None  # the catalog's stock hold: its worker makes it final

    topic = "order.placed"

    def payload(self) -> dict[str, Any]:
        return {
            **({"hold_id": str(self.hold)} if self.hold is not None else {}),
            "order_id": self.order.id,
            "order_uuid": str(self.order.uuid),
            "user_id": self.order.user_id,
            "email": self.customer.email,
            "name": self.customer.name,
            "total_cents": self.order.price.total_cents,
            "created_at": _stamp(self.order.created_at),
            "items": line_items(self.order),
        }


@dataclass(frozen=True)
class OrderCancelled:
    """The order was refunded, its stock restored, and it left the shop's books."""

    order: Order
    cancelled_at: datetime

    topic = "order.cancelled"

    def payload(self) -> dict[str, Any]:
        return {
            "order_id": self.order.id,
            "order_uuid": str(self.order.uuid),
            "user_id": self.order.user_id,
            "total_cents": self.order.price.total_cents,
            "created_at": _stamp(self.order.created_at),
            "cancelled_at": _stamp(self.cancelled_at),
            "items": line_items(self.order),
        }
