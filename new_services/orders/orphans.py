"""Payments captured for an order that was never placed: given back.

A checkout charges the card, then commits its order. An orders service that dies between
the two (killed, or its machine lost) leaves the payment captured with no order, and the
customer with a 502 and no goods. Every `ORDERS_SETTLE_ORPHANS_EVERY_S` the settler reads
the payments captured since its last look (back `ORDERS_ORPHANS_LOOK_BACK_S` when it
starts), and for each older than `ORDERS_ORPHAN_AFTER_S` whose order is not on the books:

1. it decides the order abandoned (`order_fates`): from then on the order can never be
   placed, so a late retry of that checkout answers 409 checkout-abandoned instead of
   placing an order on money given back; if the order was placed meanwhile, that wins
   and the payment is left alone;
2. it asks payments to void the payment and refund it, once however often asked;
3. it counts it (`orders_orphan_payments_given_back_total`) and logs an error.

A round that cannot finish (payments does not answer) looks at the same payments again
next time. Several orders instances may run it at once: each step is safe to repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from new_services.orders.metrics import CheckoutMetrics
from new_services.orders.ports import OrderBook, Payments

log = logging.getLogger(__name__)


class OrphanPayments:
    def __init__(
        self,
        payments: Payments,
        book: OrderBook,
        metrics: CheckoutMetrics,
        after: timedelta,
        look_back: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._payments = payments
        self._book = book
        self._metrics = metrics
        self._after = after
        self._look_back = look_back
        self._clock = clock
        self._seen_until: datetime | None = None  # every payment made before is settled

    async def settle(self) -> int:
        """One round; how many payments were given back."""
        now = self._clock()
        since = self._seen_until or now - self._look_back
        until = now - self._after
        if until <= since:
            return 0
        given_back = 0
        for payment in await self._payments.captured(since, until):
            if payment.order is None or not await self._book.abandon(payment.order, now):
                continue  # not an order of ours, or it was placed
            await self._payments.abandon(payment.payment_id)
            log.error(
                "payment %s was captured for order %s, which was never placed (the checkout "
                "stopped after the charge): voided and refunded",
                payment.payment_id,
                payment.order,
            )
            self._metrics.given_back()
            given_back += 1
        self._seen_until = until
        return given_back
