"""Checkout done right: each step a named unit, each failure undone by name.

    validate -> price -> reserve stock -> charge -> place (order + events, one transaction)
                              ^ release         ^ refund and release

Against the legacy god function (`process_order`): stock is held before the card is
charged, so two checkouts cannot sell the same unit; the charge carries a key derived
from the order, so a retry cannot charge twice; the e-mail and analytics leave through
the outbox in the order's own transaction instead of on the customer's clock; and a
failure after the charge gives the money back instead of leaving it taken.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from new_services.orders import pricing
from new_services.orders.errors import (
    CartEmpty,
    InvalidDiscountCode,
    OutOfStock,
    PaymentDeclined,
    PaymentFailed,
    ProductUnavailable,
    UserNotFound,
)
from new_services.orders.model import CartLine, Customer, Order, OrderLine, OrderPlaced, PlaceOrder
from new_services.orders.ports import (
    Carts,
    Catalog,
    Customers,
    Declined,
    NotEnoughStock,
    OrderBook,
    Payments,
    Unavailable,
)

log = logging.getLogger(__name__)
_ORDERS = uuid.UUID("0c6b1d1e-7b4f-4a57-9a58-4f0c2c1e9d33")


def order_uuid_for(idempotency_key: str) -> uuid.UUID:
    """The order a checkout with this key creates: the same on every retry."""
    return uuid.uuid5(_ORDERS, idempotency_key)


@dataclass(frozen=True)
class Draft:
    """A priced order that is not placed yet."""

    uuid: uuid.UUID
    customer: Customer
    cart: tuple[CartLine, ...]
    lines: tuple[OrderLine, ...]
    price: pricing.Price


class Checkout:
    def __init__(
        self,
        customers: Customers,
        carts: Carts,
        catalog: Catalog,
        payments: Payments,
        book: OrderBook,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._customers = customers
        self._carts = carts
        self._catalog = catalog
        self._payments = payments
        self._book = book
        self._clock = clock

    async def __call__(self, command: PlaceOrder, key: str, dry_run: bool = False) -> Order:
        draft = await self.draft(command, order_uuid_for(key))
        await self.reserve(draft)
        if dry_run:  # everything checked, stock included; nothing kept, nothing charged
            await self._catalog.release(draft.uuid)
            return self._order(draft, charge_id=None)
        charge_id = await self.charge(draft, command.card_token)
        return await self.place(draft, charge_id, key)

    async def draft(self, command: PlaceOrder, order: uuid.UUID) -> Draft:
        """Validate the customer and the cart and price it; changes nothing."""
        customer = await self._customers.get(command.user_id)
        if customer is None:
            raise UserNotFound(f"no user {command.user_id}")
        cart = tuple(await self._carts.lines(command.user_id))
        if not cart:
            raise CartEmpty("the cart is empty")
        products = await self._catalog.products([line.product_id for line in cart])
        lines = []
        for line in cart:
            product = products.get(line.product_id)
            if product is None:
                raise ProductUnavailable(f"product {line.product_id} no longer exists")
            lines.append(OrderLine(product.id, product.name, product.price_cents, line.quantity))
        try:
            price = pricing.price([line.total_cents for line in lines], command.discount_code)
        except pricing.UnknownDiscountCode as exc:
            raise InvalidDiscountCode(f"unknown discount code {command.discount_code!r}") from exc
        return Draft(order, customer, cart, tuple(lines), price)

    async def reserve(self, draft: Draft) -> None:
        """Hold the stock of every line, all or nothing (legacy: `SMELL(stock-race)`)."""
        try:
            await self._catalog.reserve(draft.uuid, draft.cart)
        except NotEnoughStock as exc:
            raise OutOfStock(f"not enough stock for product {exc.product_id}") from exc

    async def charge(self, draft: Draft, card_token: str) -> str:
        """Charge the total once; on any failure the stock goes back."""
        try:
            return await self._payments.charge(
                draft.uuid, draft.price.total_cents, card_token, key=f"order-{draft.uuid}"
            )
        except Declined as exc:
            await self._catalog.release(draft.uuid)
            raise PaymentDeclined("the card was declined") from exc
        except Unavailable as exc:
            # Unknown whether it charged: the payment stays pending at payments, and a retry
            # with the same key resumes it there. The stock is released; the retry holds it
            # again (or says out of stock, and payments then refunds nothing it never took).
            await self._catalog.release(draft.uuid)
            raise PaymentFailed("the payment provider did not answer; retry") from exc

    async def place(self, draft: Draft, charge_id: str, key: str) -> Order:
        """Commit the order with its events; if that fails, refund and release."""
        order = self._order(draft, charge_id)
        try:
            return await self._book.place(order, draft.uuid, [OrderPlaced(order)])
        except Exception:
            log.exception("order %s could not be committed after its charge; refunding", draft.uuid)
            await self.compensate(draft, key)
            raise

    async def compensate(self, draft: Draft, key: str) -> None:
        """Give back what a failed checkout took: the money, then the stock."""
        try:
            await self._payments.refund(draft.uuid, key=f"undo-{draft.uuid}")
        finally:
            await self._catalog.release(draft.uuid)

    def _order(self, draft: Draft, charge_id: str | None) -> Order:
        return Order(draft.uuid, draft.customer, draft.lines, draft.price, charge_id, self._clock())
