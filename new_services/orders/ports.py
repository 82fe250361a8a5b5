"""What checkout needs from the world, as ports; adapters and in-memory fakes implement them.

Catalog and payments are other domains: orders reaches them through these ports (an HTTP
client in production), never through their tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from new_services.orders.model import CartLine, Customer, Order, OrderPlaced, Product


class NotEnoughStock(Exception):
    def __init__(self, product_id: int) -> None:
        super().__init__(product_id)
        self.product_id = product_id


class Declined(Exception):
    """The payment was refused for good (the card); nothing was charged."""


class Unavailable(Exception):
    """The other side did not answer; whether it acted is unknown."""


class Customers(Protocol):
    async def get(self, user_id: int) -> Customer | None: ...


class Carts(Protocol):
    async def lines(self, user_id: int) -> Sequence[CartLine]: ...


class Catalog(Protocol):
    async def products(self, ids: Sequence[int]) -> dict[int, Product]:
        """The products that exist among `ids` (missing ones are gone)."""
        ...

    async def reserve(self, reservation: uuid.UUID, lines: Sequence[CartLine]) -> None:
        """Hold the stock for every line, all or nothing; raises NotEnoughStock."""
        ...

    async def release(self, reservation: uuid.UUID) -> None: ...


class Payments(Protocol):
    async def charge(self, order: uuid.UUID, amount_cents: int, card_token: str, key: str) -> str:
        """The provider's charge id; raises Declined or Unavailable."""
        ...

    async def refund(self, order: uuid.UUID, key: str) -> None: ...


class OrderBook(Protocol):
    async def place(
        self, order: Order, reservation: uuid.UUID, events: Sequence[OrderPlaced]
    ) -> Order:
        """In one transaction: the order and its lines, its events in the outbox, the stock
        reservation made final and the cart emptied. Returns the order with its id."""
        ...
