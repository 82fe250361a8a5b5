"""What orders needs from the world, as ports; adapters and in-memory fakes implement them.

Users, catalog and payments are other domains: orders reaches them through these ports
(HTTP clients in production, `adapters.py`), never through their tables. The order book
and the carts are orders' own tables (`repository.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from new_services.orders.model import (
    CartLine,
    Charge,
    Customer,
    Order,
    OrderCancelled,
    OrderPlaced,
    Product,
    Refund,
)


class NotEnoughStock(Exception):
    def __init__(self, product_id: int) -> None:
        super().__init__(product_id)
        self.product_id = product_id


class ProductGone(NotEnoughStock):
    """The product was deleted between the cart being read and the stock being held."""


class Declined(Exception):
    """The payment was refused for good (the card); nothing was charged."""


class CardUnknown(Declined):
    """The provider knows no such card: refused for good, like a decline."""


class KeyReused(Exception):
    """The payment's key was used with other details (another card): the first payment
    keeps the key, and a new card needs a new key. Nothing was charged by this request."""


class Voided(Exception):
    """Payments gave the payment up (no answer came back for it in time): it charged
    nothing, or gave the charge back. This checkout's key cannot finish any more."""


class Unavailable(Exception):
    """The other side did not answer; whether it acted is unknown."""


class OrderExists(Exception):
    """The order was placed already (by an earlier try of the same checkout)."""

    def __init__(self, order: Order) -> None:
        super().__init__(str(order.uuid))
        self.order = order


class OrderAbandoned(Exception):
    """The order's payment was given back (its checkout died after the charge): it must
    never be placed."""


class RefundRefused(Exception):
    """Payments made no refund, and keeps none pending: nothing changed."""


class RefundUnderWay(Exception):
    """A refund was asked for and may happen (the provider's answer, or payments', was
    lost): payments finishes it; a retry with the same key learns how it ended."""


@dataclass(frozen=True)
class CapturedPayment:
    payment_id: str
    order: uuid.UUID | None  # None: a reference that is no order of ours
    created_at: datetime


class Customers(Protocol):
    async def get(self, user_id: int) -> Customer | None: ...


class Carts(Protocol):
    async def lines(self, user_id: int) -> Sequence[CartLine]:
        """The user's lines, in the order they were first added."""
        ...

    async def add(self, user_id: int, product_id: int, quantity: int, cap: int) -> bool:
        """Add to the line (or make it); False, changing nothing, past `cap` units."""
        ...

    async def remove(self, user_id: int, product_id: int) -> bool:
        """Drop the line; False when there was none."""
        ...


class Catalog(Protocol):
    async def products(self, ids: Sequence[int]) -> dict[int, Product]:
        """The products that exist among `ids` (missing ones are gone)."""
        ...

    async def reserve(
        self, reservation: uuid.UUID, lines: Sequence[CartLine], dry_run: bool = False
    ) -> None:
        """Hold the stock for every line, all or nothing; raises NotEnoughStock."""
        ...

    async def release(self, reservation: uuid.UUID) -> None: ...

    async def restock(self, key: str, lines: Sequence[CartLine]) -> None:
        """Put units back (a cancelled order), once per key."""
        ...


class Payments(Protocol):
    async def charge(
        self, order: uuid.UUID, amount_cents: int, card_token: str, description: str, key: str
    ) -> Charge:
        """Raises Declined (CardUnknown), KeyReused, Voided or Unavailable."""
        ...

    async def refund(self, payment_id: str, key: str) -> Refund:
        """Refund what is left of the payment, once per key; raises RefundRefused (nothing
        changed) or RefundUnderWay (it may happen)."""
        ...

    async def adopt(self, order: uuid.UUID, charge_id: str) -> str:
        """Make a charge the legacy shop took for `order` a payment here (the same one
        each time); returns the payment's id. Raises Unavailable."""
        ...

    async def captured(self, since: datetime, until: datetime) -> Sequence[CapturedPayment]:
        """Payments captured (nothing refunded) made from `since` to `until`; raises
        Unavailable."""
        ...

    async def abandon(self, payment_id: str) -> None:
        """Void the payment of an order that is never placed, and refund it (once, however
        often asked); raises Unavailable."""
        ...


class OrderBook(Protocol):
    async def place(self, order: Order, event: OrderPlaced) -> Order:
        """In one transaction: the order's fate (`placed`), the order and its lines, its
        event in the outbox, and the cart emptied. Returns the order with its legacy integer
        id. Raises OrderExists when it was placed before, OrderAbandoned when its payment
        was given back."""
        ...

    async def abandon(self, order: uuid.UUID, at: datetime) -> bool:
        """Decide that `order` is never placed, unless it was: True when it is abandoned
        (now or before), False when it was placed."""
        ...

    async def get(self, order_id: int) -> Order | None:
        """A live (not cancelled) order by its legacy id."""
        ...

    async def history(self, user_id: int) -> Sequence[Order]:
        """Every live order of the user, newest first."""
        ...

    async def by_uuid(self, order: uuid.UUID) -> Order | None: ...

    async def page(
        self,
        user_id: int,
        after: tuple[datetime, int] | None,
        limit: int,
        oldest_first: bool = False,
    ) -> Sequence[Order]:
        """Live orders of the user, newest (or oldest) first, after the (created_at, id)
        position."""
        ...

    async def feed(self, after: int, limit: int) -> Sequence[Order]:
        """Every order with an id above `after`, cancelled ones included, by id."""
        ...

    async def cancel(self, order: Order, at: datetime) -> OrderCancelled | None:
        """In one transaction: the order leaves the books (soft delete) with its event in the
        outbox. None when another cancel got there first."""
        ...

    async def set_status(self, order: Order, status: str, was: str) -> bool:
        """Move a live order from status `was` to `status`; False if it was not in `was`."""
        ...

    async def cancelling(self, limit: int) -> Sequence[Order]:
        """Live orders whose cancel is under way (status `cancelling`), oldest first."""
        ...
