"""Checkout done right: each step a named unit, each failure undone by name.

    validate -> price -> reserve stock -> charge -> place (order + event, one transaction)
                              ^ release         ^ refund and release

The hold is made final by the catalog, from the `order.placed` event that commits with
the order (its id rides in the event): once the order stands, nothing can lose the commit,
so the catalog's sweeper can put back what checkouts that died left held.

Against the legacy god function (`process_order`): stock is held before the card is
charged, so two checkouts cannot sell the same unit; the charge carries a key derived
from the order, so a retry cannot charge twice; the e-mail and analytics leave through
the outbox in the order's own transaction instead of on the customer's clock; and a
failure after the charge gives the money back instead of leaving it taken.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from new_services.orders import pricing
from new_services.orders.errors import (
    CardInvalid,
    CartEmpty,
    CheckoutAbandoned,
    CheckoutKeyReused,
    DependencyDown,
    InvalidDiscountCode,
    OutOfStock,
    PaymentDeclined,
    PaymentFailed,
    ProductUnavailable,
    UserNotFound,
)
from new_services.orders.metrics import CheckoutMetrics
from new_services.orders.model import (
    CartLine,
    Charge,
    Customer,
    Order,
    OrderLine,
    OrderPlaced,
    PlaceOrder,
    Product,
)
from new_services.orders.ports import (
    CardUnknown,
    Carts,
    Catalog,
    Customers,
    Declined,
    KeyReused,
    NotEnoughStock,
    OrderAbandoned,
    OrderBook,
    OrderExists,
    Payments,
    ProductGone,
    RefundRefused,
    RefundUnderWay,
    Unavailable,
    Voided,
)
from new_services.platform.together import both

log = logging.getLogger(__name__)
_ORDERS = uuid.UUID("0c6b1d1e-7b4f-4a57-9a58-4f0c2c1e9d33")


def order_uuid_for(idempotency_key: str) -> uuid.UUID:
    """The order a checkout with this key creates: the same on every retry."""
    return uuid.uuid5(_ORDERS, idempotency_key)


@dataclass(frozen=True)
class Draft:
    """A priced order that is not placed yet."""

    uuid: uuid.UUID
    hold: UUID  # this attempt's stock hold (a retry after a failure holds anew)
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
        metrics: CheckoutMetrics | None = None,
        rules: pricing.Rules = pricing.SHOP_RULES,
    ) -> None:
        self._rules = rules
        self._customers = customers
        self._carts = carts
        self._catalog = catalog
        self._payments = payments
        self._book = book
        self._clock = clock
        self._metrics = metrics or CheckoutMetrics()

    async def __call__(self, command: PlaceOrder, key: str, dry_run: bool = False) -> Order:
        step = self._metrics.step
        try:
            try:
                with step("draft"):
                    draft = await self.draft(command, order_uuid_for(key))
                with step("hold"):
                    await self.reserve(draft, dry_run)
                if dry_run:  # everything checked, stock included; nothing held, nothing charged
                    self._metrics.ended("dry_run")
                    return self._order(draft, charge=None)
                with step("charge"):
                    charge = await self.charge(draft, command.card_token)
                with step("place"):
                    placed = await self.place(draft, charge)
            except Unavailable as exc:  # users or catalog; payments' own are 502s above
                raise DependencyDown("a service checkout needs did not answer; retry") from exc
        except Exception as exc:
            self._metrics.ended(type(exc).__name__)
            raise
        self._metrics.ended("placed")
        return placed

    async def draft(self, command: PlaceOrder, order: uuid.UUID) -> Draft:
        """Validate the customer and the cart and price it; changes nothing.

        The checks come in the legacy order (API.md): the user, an empty cart, then each
        line's stock, then the discount code. A line whose product was deleted is not in
        the cart any more (legacy deletes such lines with the product). The customer (a
        call to the users service) and the cart with its products are asked for at
        once, as neither needs the other: that is one round trip fewer of a checkout's
        latency, and an answer is still checked in the legacy order."""
        customer, (wanted, products) = await both(
            self._customer(command.user_id), self._cart_and_products(command.user_id)
        )
        cart = tuple(line for line in wanted if line.product_id in products)
        if not cart:
            raise CartEmpty("the cart is empty")
        lines = []
        for line in cart:
            product = products[line.product_id]
            if product.stock < line.quantity:
                raise OutOfStock(f"only {product.stock} of {product.name} left")
            lines.append(OrderLine(product.id, product.name, product.price_cents, line.quantity))
        try:
            totals = [line.total_cents for line in lines]
            price = pricing.price(totals, command.discount_code, self._rules)
        except pricing.UnknownDiscountCode as exc:
            raise InvalidDiscountCode(f"unknown discount code {command.discount_code!r}") from exc
        return Draft(order, uuid.uuid4(), customer, cart, tuple(lines), price)

    async def _customer(self, user_id: int) -> Customer:
        customer = await self._customers.get(user_id)
        if customer is None:
            raise UserNotFound(f"no user {user_id}")
        return customer

    async def _cart_and_products(
        self, user_id: int
    ) -> tuple[Sequence[CartLine], Mapping[int, Product]]:
        wanted = await self._carts.lines(user_id)
        return wanted, await self._catalog.products([line.product_id for line in wanted])

    async def reserve(self, draft: Draft, dry_run: bool = False) -> None:
        """Hold the stock of every line, all or nothing (legacy: `SMELL(stock-race)`)."""
        try:
            await self._catalog.reserve(draft.hold, draft.cart, dry_run)
        except ProductGone as exc:
            raise ProductUnavailable(f"product {exc.product_id} is no longer sold") from exc
        except NotEnoughStock as exc:
            raise OutOfStock(f"not enough stock for product {exc.product_id}") from exc

    async def charge(self, draft: Draft, card_token: str) -> Charge:
        """Charge the total once; on any failure the stock goes back."""
        try:
            return await self._payments.charge(
                draft.uuid,
                draft.price.total_cents,
                card_token,
                description=f"Order for {draft.customer.email}",  # as legacy words it
                key=f"order-{draft.uuid}",
            )
        except CardUnknown as exc:
            await self._catalog.release(draft.hold)
            raise CardInvalid("the card is not one the payment provider knows") from exc
        except Declined as exc:
            await self._catalog.release(draft.hold)
            raise PaymentDeclined("the card was declined") from exc
        except KeyReused as exc:  # final, not "did not answer": a retry would get it again
            await self._catalog.release(draft.hold)
            raise CheckoutKeyReused(
                "this Idempotency-Key's checkout was paid for with another card: a decline "
                "is final for its key; check out with the new card under a new key"
            ) from exc
        except Voided as exc:  # a retry that came after payments gave the payment up
            await self._catalog.release(draft.hold)
            raise CheckoutAbandoned(
                "this checkout's payment was given up on after its answer was lost: nothing "
                "is charged for it; check out again with a new Idempotency-Key"
            ) from exc
        except Unavailable as exc:
            # Unknown whether it charged: the payment stays pending at payments, and a retry
            # with the same key resumes it there. The stock is released; the retry holds it
            # again (or says out of stock, and payments then refunds nothing it never took).
            await self._catalog.release(draft.hold)
            raise PaymentFailed("the payment provider did not answer; retry") from exc

    async def place(self, draft: Draft, charge: Charge) -> Order:
        """Commit the order with its event, which names the hold the catalog then makes
        final; if that fails, refund and release. An earlier try of this checkout that
        placed it wins (this try's hold goes back); one whose payment was given back since
        (abandoned: the orders service died after the charge) cannot be placed any more."""
        order = self._order(draft, charge)
        try:
            return await self._book.place(order, OrderPlaced(order, draft.customer, draft.hold))
        except OrderExists as placed:
            await self._catalog.release(draft.hold)
            return placed.order
        except OrderAbandoned as exc:
            await self._catalog.release(draft.hold)  # the money went back with the abandonment
            raise CheckoutAbandoned(
                "this checkout's payment was given back after it stopped half-way: nothing is "
                "charged for it; check out again with a new Idempotency-Key"
            ) from exc
        except Exception:
            log.exception("order %s could not be committed after its charge; refunding", draft.uuid)
            await self.compensate(draft, charge)
            raise

    async def compensate(self, draft: Draft, charge: Charge) -> None:
        """Give back what a failed checkout took: the money, then the stock."""
        try:
            if charge.payment_id is not None:  # always, for a charge checkout made itself
                await self._payments.refund(charge.payment_id, key=f"undo-{draft.uuid}")
        except RefundUnderWay:
            log.warning("order %s: its refund is under way at payments", draft.uuid)
        except RefundRefused:
            log.error("order %s: its refund was refused; the charge stays unrefunded", draft.uuid)
        finally:
            await self._catalog.release(draft.hold)

    def _order(self, draft: Draft, charge: Charge | None) -> Order:
        # seconds precision, as the legacy shop stores and shows every time
        at = self._clock().replace(microsecond=0)
        return Order(draft.uuid, draft.customer.id, draft.lines, draft.price, charge, at)
