"""The orders use cases besides checkout: the cart, the order history, and cancelling.

Each reads or writes orders' own tables through its ports and asks the other domains
through theirs; a dependency that does not answer becomes `DependencyDown` (503), never a
half-done change. A read asks the users service whether the user exists while it reads
(`platform/together.py both`): neither waits for the other, and an unknown user is still
the answer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from new_services.orders.errors import (
    DependencyDown,
    ItemNotFound,
    LineFull,
    OrderNotFound,
    ProductNotFound,
    RefundFailed,
    UserNotFound,
)
from new_services.orders.model import CartItem, CartLine, Order, Product, Refund
from new_services.orders.ports import (
    Carts,
    Catalog,
    Customers,
    OrderBook,
    Payments,
    RefundRefused,
    RefundUnderWay,
    Unavailable,
)
from new_services.platform.together import both

log = logging.getLogger(__name__)
MAX_LINE_QUANTITY = 100
CANCELLING = "cancelling"  # an order whose refund is asked for, and not known done yet
UNDER_WAY = {  # what a cancellation answers (202) while it is under way
    "status": CANCELLING,
    "detail": "the refund is under way; the order is cancelled once it is done",
}


@dataclass(frozen=True)
class Cart:
    user_id: int
    items: tuple[CartItem, ...]

    @property
    def subtotal_cents(self) -> int:
        return sum(item.total_cents for item in self.items)


@dataclass(frozen=True)
class Cancellation:
    order: Order
    refund: Refund | None  # None: under way (the order is `cancelling`)

    @property
    def done(self) -> bool:
        return self.refund is not None


class Orders:
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

    async def require_user(self, user_id: int) -> None:
        try:
            found = await self._customers.get(user_id)
        except Unavailable as exc:
            raise DependencyDown("the users API did not answer; retry") from exc
        if found is None:
            raise UserNotFound(f"no user {user_id}")

    async def cart(self, user_id: int) -> Cart:
        """The cart priced as the catalog is now; lines of deleted products are not in it."""
        _, cart = await both(self.require_user(user_id), self._priced(user_id))
        return cart

    async def add(
        self, user_id: int, product_id: int, quantity: int, dry_run: bool = False
    ) -> Cart:
        """Add to the product's line; a dry run answers the cart it would make, unwritten."""
        if dry_run:
            return await self._would_add(user_id, product_id, quantity)
        await self.require_user(user_id)
        if product_id not in await self._products([product_id]):
            raise ProductNotFound(f"no product {product_id}")
        if not await self._carts.add(user_id, product_id, quantity, MAX_LINE_QUANTITY):
            raise LineFull(f"a cart line holds at most {MAX_LINE_QUANTITY}")
        return await self._priced(user_id)

    async def _would_add(self, user_id: int, product_id: int, quantity: int) -> Cart:
        """`add`'s answer, written nowhere. The gateway holds the client's write until this
        has answered (a dry run leads it), so it reads what it needs at once: the user and
        the cart together, then every product the cart would hold in one call."""
        _, lines = await both(self.require_user(user_id), self._carts.lines(user_id))
        products = await self._products(sorted({line.product_id for line in lines} | {product_id}))
        if product_id not in products:
            raise ProductNotFound(f"no product {product_id}")
        held = next((line.quantity for line in lines if line.product_id == product_id), 0)
        if held + quantity > MAX_LINE_QUANTITY:
            raise LineFull(f"a cart line holds at most {MAX_LINE_QUANTITY}")
        grown = CartLine(product_id, held + quantity)
        if held:
            lines = [grown if line.product_id == product_id else line for line in lines]
        else:
            lines = [*lines, grown]
        items = tuple(
            CartItem(products[line.product_id], line.quantity)
            for line in lines
            if line.product_id in products
        )
        return Cart(user_id, items)

    async def remove(self, user_id: int, product_id: int, dry_run: bool = False) -> Cart:
        await self.require_user(user_id)
        gone = product_id not in await self._products([product_id])
        lines = await self._carts.lines(user_id)
        present = any(line.product_id == product_id for line in lines)
        # a deleted product's line left the cart with it (legacy deletes such lines)
        if gone or not present:
            raise ItemNotFound(f"product {product_id} is not in the cart")
        if dry_run:
            return await self._price(
                user_id, [line for line in lines if line.product_id != product_id]
            )
        if not await self._carts.remove(user_id, product_id):
            raise ItemNotFound(f"product {product_id} is not in the cart")
        return await self._priced(user_id)

    async def history(self, user_id: int) -> Sequence[Order]:
        _, found = await both(self.require_user(user_id), self._book.history(user_id))
        return found

    async def page(
        self,
        user_id: int,
        after: tuple[datetime, int] | None,
        limit: int,
        oldest_first: bool = False,
    ) -> Sequence[Order]:
        read = self._book.page(user_id, after, limit, oldest_first)
        _, page = await both(self.require_user(user_id), read)
        return page

    async def feed(self, after: int, limit: int) -> Sequence[Order]:
        return await self._book.feed(after, limit)

    async def get(self, order_id: int) -> Order:
        order = await self._book.get(order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id}")
        return order

    async def by_uuid(self, order_id: uuid.UUID) -> Order:
        order = await self._book.by_uuid(order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id}")
        return order

    async def cancel(self, order_id: int | uuid.UUID, dry_run: bool = False) -> Cancellation:
        """Refund in full, restock, then take the order off the books. Every step is keyed
        by the order, so a retry after any failure finishes the same cancellation. A dry
        run checks the order can be cancelled and answers the refund it would make.

        What it answers is what happens. Before the refund is asked for, the order is marked
        `cancelling`. A refund refused for sure (nothing changed) puts it back to `placed`
        and raises RefundFailed. A refund that may happen (an answer was lost), or a restock
        that failed after the refund, leaves it `cancelling` and answers the cancellation
        as under way: `finish_cancels` completes it, as would a retry."""
        if isinstance(order_id, uuid.UUID):
            order = await self.by_uuid(order_id)
        else:
            order = await self.get(order_id)
        if order.charge is None:
            raise RefundFailed(f"order {order_id} has no charge to refund")
        if dry_run:
            return Cancellation(order, Refund(None, order.price.total_cents))
        key = f"cancel-{order.uuid}"
        await self._book.set_status(order, CANCELLING, was="placed")
        try:
            payment_id = order.charge.payment_id
            if payment_id is None:  # the legacy shop charged it: payments takes it over first
                payment_id = await self._payments.adopt(order.uuid, order.charge.charge_id)
            refund = await self._payments.refund(payment_id, key)
        except (RefundRefused, Unavailable) as exc:  # adopt's Unavailable: nothing asked yet
            log.warning("refund for order %s refused: %s", order_id, exc)
            await self._book.set_status(order, "placed", was=CANCELLING)
            raise RefundFailed("the payment provider refused the refund") from exc
        except RefundUnderWay as exc:
            log.warning("refund for order %s under way: %s", order_id, exc)
            return Cancellation(order, None)
        try:
            lines = [CartLine(line.product_id, line.quantity) for line in order.lines]
            await self._catalog.restock(key, lines)
        except Unavailable as exc:
            log.warning("order %s refunded, restock under way: %s", order_id, exc)
            return Cancellation(order, None)
        await self._book.cancel(order, self._clock())
        return Cancellation(order, refund)

    async def finish_cancels(self, limit: int = 50) -> int:
        """Carry on the cancellations left under way (`cancelling`): each is run again with
        its keys, so the refund and the restock happen once. How many finished."""
        finished = 0
        for order in await self._book.cancelling(limit):
            try:
                done = (await self.cancel(order.uuid)).done
            except Exception:  # one order's surprise must not stop the round
                log.exception("cancellation of order %s not finished; trying again later", order.id)
                continue
            finished += done
        return finished

    async def _products(self, ids: Sequence[int]) -> dict[int, Product]:
        try:
            return dict(await self._catalog.products(ids))
        except Unavailable as exc:
            raise DependencyDown("the catalog did not answer; retry") from exc

    async def _priced(self, user_id: int) -> Cart:
        return await self._price(user_id, await self._carts.lines(user_id))

    async def _price(self, user_id: int, lines: Sequence[CartLine]) -> Cart:
        try:
            products = await self._catalog.products([line.product_id for line in lines])
        except Unavailable as exc:
            raise DependencyDown("the catalog did not answer; retry") from exc
        items = tuple(
            CartItem(products[line.product_id], line.quantity)
            for line in lines
            if line.product_id in products
        )
        return Cart(user_id, items)
